//! `GET /api/v3/openapi.json`: a valid OpenAPI 3.1 document that names every operation of
//! GitHub's description Hookpost implements, only routes the router really serves, and
//! describes what they read and answer (what the live server answers matches it).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, spawn_app};
use crate::schema::assert_valid;

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
        serde_json::from_str(include_str!("../fixtures/openapi-3.1-schema.json")).unwrap();
    let validator = jsonschema::validator_for(&meta).expect("the OpenAPI 3.1 schema compiles");
    let problems: Vec<String> = validator
        .iter_errors(&document)
        .map(|error| format!("{error} at {}", error.instance_path()))
        .collect();
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(
        !validator
            .is_valid(&json!({"openapi": "3.1.0", "paths": {"/x": {"get": {"responses": 1}}}})),
        "the validator refuses a document without info and with bad responses"
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

/// A schema of `document` (by component name), checked against a live answer.
fn assert_documented(document: &Value, name: &str, instance: &Value) {
    assert_valid(
        &document["components"],
        &format!("our {name}"),
        name,
        instance,
    );
}

/// The names of a component's `required` list and `properties`.
fn fields(schema: &Value) -> (Vec<String>, Vec<String>) {
    let names = |value: &Value| -> Vec<String> {
        match value {
            Value::Array(items) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Value::Object(map) => map.keys().cloned().collect(),
            _ => Vec::new(),
        }
    };
    (names(&schema["required"]), names(&schema["properties"]))
}

/// Every operation says what it reads and answers: bodies, success and error answers,
/// parameters and security; GitHub's objects have at least GitHub's fields; and the live
/// server's answers match the document.
async fn operations_document_their_bodies_answers_and_parameters() {
    let app = spawn_app().await;
    let document = app.get("/openapi.json", ADMIN_TOKEN).await.body;
    let github: Value =
        serde_json::from_str(include_str!("../fixtures/github-webhooks-openapi.json")).unwrap();

    for (path, method, id) in github_operations() {
        let ours = &document["paths"][&path][&method];
        let theirs = &github["paths"][&path][&method];
        let success = theirs["responses"]
            .as_object()
            .unwrap()
            .keys()
            .find(|status| status.starts_with('2'))
            .unwrap()
            .clone();
        assert!(
            ours["responses"][&success].is_object(),
            "{id}: {success} documented"
        );
        assert_eq!(
            ours["requestBody"].is_object(),
            theirs["requestBody"].is_object(),
            "{id}: a body where GitHub has one"
        );
        assert!(ours["responses"]["401"].is_object(), "{id}: 401 documented");
        assert!(
            ours["security"].as_array().is_some_and(|s| !s.is_empty()),
            "{id}"
        );
    }
    for (ours, theirs) in [
        ("Webhook", "hook"),
        ("Webhook", "org-hook"),
        ("WebhookConfig", "webhook-config"),
        ("HookDeliveryItem", "hook-delivery-item"),
        ("HookDelivery", "hook-delivery"),
        ("Integration", "integration"),
    ] {
        let schemas = &document["components"]["schemas"];
        // HookDelivery is the item's fields (allOf) plus its own.
        let mut ours_schema = schemas[ours].clone();
        if let Some(parts) = ours_schema["allOf"].as_array().cloned() {
            ours_schema = json!({"required": [], "properties": {}});
            for part in parts {
                let part = match part["$ref"].as_str() {
                    Some(reference) => schemas[reference.rsplit('/').next().unwrap()].clone(),
                    None => part,
                };
                let (required, properties) = fields(&part);
                for name in required {
                    ours_schema["required"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!(name));
                }
                for name in properties {
                    ours_schema["properties"][name] = json!({});
                }
            }
        }
        let (our_required, our_properties) = fields(&ours_schema);
        let (their_required, their_properties) = fields(&github["components"]["schemas"][theirs]);
        for name in their_properties {
            assert!(
                our_properties.contains(&name),
                "{ours} has GitHub's {theirs}.{name}"
            );
        }
        for name in their_required {
            // test_url: repository hooks only (one type serves both kinds of hook).
            if name != "test_url" {
                assert!(
                    our_required.contains(&name),
                    "{ours} requires GitHub's {theirs}.{name}"
                );
            }
        }
    }
    let log = &document["paths"]["/repos/{owner}/{repo}/hooks/{hook_id}/deliveries"]["get"];
    let names: Vec<&str> = log["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "owner",
        "repo",
        "hook_id",
        "per_page",
        "cursor",
        "status",
        "redelivery",
    ] {
        assert!(names.contains(&name), "deliveries take {name}: {names:?}");
    }
    let publish = &document["paths"]["/events"]["post"];
    assert!(
        publish["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header"),
        "{publish}"
    );
    assert_eq!(
        publish["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/EventPublication"
    );
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["token"]["in"], "header");
    assert_eq!(schemes["app_jwt"]["bearerFormat"], "JWT");
    assert_eq!(
        document["paths"]["/app"]["get"]["security"],
        json!([{"app_jwt": []}])
    );

    // What the server answers is what the document says.
    let created = app
        .post(
            "/repos/acme/widgets/hooks",
            ADMIN_TOKEN,
            &json!({"config": {"url": "http://203.0.113.9/hook", "secret": "s", "headers": {"X-Team": "a"}}}),
        )
        .await;
    assert_documented(&document, "Webhook", &created.body);
    let hook = format!("/repos/acme/widgets/hooks/{}", created.body["id"]);
    assert_documented(
        &document,
        "WebhookConfig",
        &app.get(&format!("{hook}/config"), ADMIN_TOKEN).await.body,
    );
    assert_documented(
        &document,
        "Published",
        &app.post(
            "/events",
            ADMIN_TOKEN,
            &json!({"event": "push", "repository": "acme/widgets", "payload": {}}),
        )
        .await
        .body,
    );
    let refused = app
        .post(
            "/repos/acme/widgets/hooks",
            ADMIN_TOKEN,
            &json!({"config": {}}),
        )
        .await;
    assert_eq!(refused.status, reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    assert_documented(&document, "Error", &refused.body);
    app.worker
        .run_once(hookpost::domain::timestamp::Timestamp::now())
        .await
        .unwrap();
    let items = app
        .get(&format!("{hook}/deliveries"), ADMIN_TOKEN)
        .await
        .body;
    assert_documented(&document, "HookDeliveryItem", &items[0]);
    let detail = app
        .get(
            &format!("{hook}/deliveries/{}", items[0]["id"]),
            ADMIN_TOKEN,
        )
        .await
        .body;
    assert_documented(&document, "HookDelivery", &detail);
}

crate::harness::tests!(
    the_document_is_valid_openapi_and_covers_githubs_operations,
    every_documented_operation_is_routed,
    operations_document_their_bodies_answers_and_parameters,
);
