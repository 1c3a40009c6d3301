//! `GET /api/v3/openapi.json`: a valid OpenAPI 3 document that names every operation of
//! GitHub's description Hookpost implements, and only routes the router really serves.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, spawn_app};

fn github_operations() -> Vec<(String, String, String)> {
    let spec: Value =
        serde_json::from_str(include_str!("../fixtures/github-webhooks-openapi.json")).unwrap();
    let mut operations = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if let Some(id) = operation["operationId"].as_str() {
                operations.push((path.clone(), method.clone(), id.to_owned()));
            }
        }
    }
    operations
}

async fn the_document_is_valid_openapi_and_covers_githubs_operations() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/openapi.json", app.api))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let document: Value = response.json().await.unwrap();

    let meta: Value =
        serde_json::from_str(include_str!("../fixtures/openapi-3.0-schema.json")).unwrap();
    let validator = jsonschema::validator_for(&meta).expect("the OpenAPI 3.0 schema compiles");
    let problems: Vec<String> = validator
        .iter_errors(&document)
        .map(|error| format!("{error} at {}", error.instance_path()))
        .collect();
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(
        !validator.is_valid(&json!({"openapi": "3.0.3", "paths": {"/x": {"get": {}}}})),
        "the validator refuses a document without info and responses"
    );

    let github = github_operations();
    assert_eq!(github.len(), 30);
    for (path, method, id) in &github {
        let ours = &document["paths"][path][method];
        assert_eq!(ours["operationId"], id.as_str(), "{method} {path}");
    }
}

async fn every_documented_operation_is_routed() {
    let app = spawn_app().await;
    let document: Value = app
        .client
        .get(format!("{}/openapi.json", app.api))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut expected = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let concrete = path
                .replace("{owner}", "acme")
                .replace("{repo}", "widgets")
                .replace("{org}", "acme")
                .replace("{hook_id}", "1")
                .replace("{delivery_id}", "1")
                .replace("{app_id}", "1");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = matches!(method, Method::POST | Method::PATCH).then(|| json!({}));
            app.request(method.clone(), &concrete, Some(ADMIN_TOKEN), body.as_ref())
                .await;
            expected.push(format!("method=\"{method}\",route=\"/api/v3{path}\""));
        }
    }
    assert!(expected.len() >= 36, "{} operations", expected.len());
    let metrics = app.metrics_text().await;
    for labels in expected {
        assert!(
            metrics.contains(&labels),
            "{labels} was not served by a route of that template"
        );
    }
}

crate::harness::tests!(
    the_document_is_valid_openapi_and_covers_githubs_operations,
    every_documented_operation_is_routed,
);
