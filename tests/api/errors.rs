//! Every class of bad request gets GitHub's error shape and changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, TestApp, hook_body, spawn_app, spawn_app_with};
use crate::schema::assert_matches;

const COLLECTION: &str = "/repos/acme/widgets/hooks";

async fn hook_count(app: &TestApp) -> usize {
    app.get(COLLECTION, ADMIN_TOKEN)
        .await
        .body
        .as_array()
        .unwrap()
        .len()
}

async fn unreadable_bodies_are_400() {
    let app = spawn_app().await;
    for (body, message) in [
        (&b"{\"config\": "[..], "Problems parsing JSON"),
        (b"not json", "Problems parsing JSON"),
        (b"[{\"config\": {}}]", "Body should be a JSON object"),
        (b"42", "Body should be a JSON object"),
    ] {
        let reply = app.post_raw(COLLECTION, ADMIN_TOKEN, body.to_vec()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body:?}");
        assert_eq!(reply.body["message"], message);
        assert_eq!(reply.body["status"], "400");
        assert_matches("basic-error", &reply.body);
    }
    assert_eq!(hook_count(&app).await, 0);
}

/// One invalid field per case, each reported with its field name and GitHub's code.
async fn each_invalid_field_is_a_422_naming_it() {
    let app = spawn_app_with(|config| config.header_alias = vec!["Gogs".to_owned()]).await;
    let url = "http://example.com/hook";
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({}), "config.url", "missing_field"),
        (json!({"config": {}}), "config.url", "missing_field"),
        (json!({"config": "http://x"}), "config", "invalid"),
        (json!({"config": {"url": 7}}), "config.url", "invalid"),
        (
            json!({"config": {"url": "example.com/hook"}}),
            "config.url",
            "invalid",
        ),
        (
            json!({"config": {"url": "ftp://example.com/"}}),
            "config.url",
            "invalid",
        ),
        (
            json!({"config": {"url": "http://"}}),
            "config.url",
            "invalid",
        ),
        (
            json!({"name": "email", "config": {"url": url}}),
            "name",
            "invalid",
        ),
        (
            json!({"name": 1, "config": {"url": url}}),
            "name",
            "invalid",
        ),
        (
            json!({"active": "true", "config": {"url": url}}),
            "active",
            "invalid",
        ),
        (
            json!({"events": "push", "config": {"url": url}}),
            "events",
            "invalid",
        ),
        (
            json!({"events": ["push", 1], "config": {"url": url}}),
            "events[1]",
            "invalid",
        ),
        (
            json!({"events": ["Push"], "config": {"url": url}}),
            "events[0]",
            "invalid",
        ),
        (
            json!({"events": ["push-x"], "config": {"url": url}}),
            "events[0]",
            "invalid",
        ),
        (
            json!({"events": ["a".repeat(65)], "config": {"url": url}}),
            "events[0]",
            "invalid",
        ),
        (
            json!({"config": {"url": url, "content_type": "xml"}}),
            "config.content_type",
            "invalid",
        ),
        (
            json!({"config": {"url": url, "content_type": 1}}),
            "config.content_type",
            "invalid",
        ),
        (
            json!({"config": {"url": url, "insecure_ssl": "yes"}}),
            "config.insecure_ssl",
            "invalid",
        ),
        (
            json!({"config": {"url": url, "insecure_ssl": 2}}),
            "config.insecure_ssl",
            "invalid",
        ),
        (
            json!({"config": {"url": url, "secret": 5}}),
            "config.secret",
            "invalid",
        ),
        (
            json!({"config": {"url": url, "headers": []}}),
            "config.headers",
            "invalid",
        ),
        (
            json!({"config": {"url": url, "headers": {"X-A": 1}}}),
            "config.headers.X-A",
            "invalid",
        ),
        (
            json!({"config": {"url": url, "headers": {"X A": "1"}}}),
            "config.headers.X A",
            "invalid",
        ),
        (
            json!({"config": {"url": url, "headers": {"X-A": "a\nb"}}}),
            "config.headers.X-A",
            "invalid",
        ),
        (
            json!({"config": {"url": url, "headers": {"Host": "x"}}}),
            "config.headers.Host",
            "invalid",
        ),
        (
            json!({"config": {"url": url, "headers": {"content-length": "1"}}}),
            "config.headers.content-length",
            "invalid",
        ),
        (
            json!({"config": {"url": url, "headers": {"Content-Type": "x"}}}),
            "config.headers.Content-Type",
            "invalid",
        ),
        (
            json!({"config": {"url": url, "headers": {"Transfer-Encoding": "x"}}}),
            "config.headers.Transfer-Encoding",
            "invalid",
        ),
        (
            json!({"config": {"url": url, "headers": {"Connection": "x"}}}),
            "config.headers.Connection",
            "invalid",
        ),
        (
            json!({"config": {"url": url, "headers": {"User-Agent": "x"}}}),
            "config.headers.User-Agent",
            "invalid",
        ),
        (
            json!({"config": {"url": url, "headers": {"X-GitHub-Event": "x"}}}),
            "config.headers.X-GitHub-Event",
            "invalid",
        ),
        (
            json!({"config": {"url": url, "headers": {"x-hub-signature-256": "x"}}}),
            "config.headers.x-hub-signature-256",
            "invalid",
        ),
        (
            json!({"config": {"url": url, "headers": {"X-Gogs-Event": "x"}}}),
            "config.headers.X-Gogs-Event",
            "invalid",
        ),
    ];
    for (body, field, code) in cases {
        let reply = app.post(COLLECTION, ADMIN_TOKEN, &body).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_matches("validation-error", &reply.body);
        assert_eq!(reply.body["message"], "Validation Failed");
        let errors = reply.body["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{body}: {errors:?}");
        assert_eq!(errors[0]["resource"], "Hook");
        assert_eq!(errors[0]["field"], field, "{body}");
        assert_eq!(errors[0]["code"], code, "{body}");
        assert!(errors[0]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(
        hook_count(&app).await,
        0,
        "a rejected request stores nothing"
    );
}

async fn several_bad_fields_are_all_reported() {
    let app = spawn_app().await;
    let body = json!({"active": 1, "events": [2], "config": {"url": "nope", "content_type": "x"}});
    let reply = app.post(COLLECTION, ADMIN_TOKEN, &body).await;
    let fields: Vec<&str> = reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["active", "events[0]", "config.url", "config.content_type"]
    );
}

async fn a_rejected_update_changes_nothing() {
    let app = spawn_app().await;
    let hook = app
        .create_hook(COLLECTION, ADMIN_TOKEN, &hook_body("http://a.example/"))
        .await;
    let path = format!("{COLLECTION}/{}", hook["id"]);
    for body in [
        json!({"active": false, "events": ["ok", "NOT OK"]}),
        json!({"add_events": "push"}),
        json!({"config": {"url": "mailto:x@example.com"}}),
    ] {
        let reply = app.patch(&path, ADMIN_TOKEN, &body).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    let reply = app
        .patch(
            &format!("{path}/config"),
            ADMIN_TOKEN,
            &json!({"url": "http://b.example/", "content_type": "yaml"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let reply = app.post_raw(&path, ADMIN_TOKEN, b"{".to_vec()).await;
    assert_eq!(
        reply.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "POST is not a method of a hook"
    );
    assert_eq!(app.get(&path, ADMIN_TOKEN).await.body, hook);
}

async fn bodies_over_the_limit_are_413_and_store_nothing() {
    let app = spawn_app_with(|config| config.max_payload_bytes = 4096).await;
    let mut body = hook_body("http://a.example/");
    body["config"]["headers"] = json!({"X-Padding": "p".repeat(8192)});
    let reply = app.post(COLLECTION, ADMIN_TOKEN, &body).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.body["status"], "413");
    assert_matches("basic-error", &reply.body);
    assert_eq!(hook_count(&app).await, 0);
}

async fn bad_paging_parameters_are_422() {
    let app = spawn_app().await;
    for query in [
        "per_page=0",
        "per_page=-3",
        "per_page=ten",
        "page=0",
        "page=x",
    ] {
        let reply = app.get(&format!("{COLLECTION}?{query}"), ADMIN_TOKEN).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_matches("validation-error", &reply.body);
    }
}

async fn unknown_paths_are_404_and_other_methods_405_in_githubs_shape() {
    let app = spawn_app().await;
    let reply = app
        .request(Method::PUT, COLLECTION, Some(ADMIN_TOKEN), None)
        .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.headers["allow"], "GET,HEAD,POST");
    assert_eq!(reply.body["message"], "Method Not Allowed");
    assert_matches("basic-error", &reply.body);
    for (method, path) in [
        (Method::GET, "/nothing/here"),
        (Method::GET, "/repos/acme/widgets/hooks/not-a-number"),
        (Method::GET, "/repos/acme/widgets/hooks/99"),
        (Method::GET, "/repos/ac%20me/widgets/hooks"),
    ] {
        let reply = app
            .request(method.clone(), path, Some(ADMIN_TOKEN), None)
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(reply.body["message"], "Not Found");
        assert_matches("basic-error", &reply.body);
    }
}

/// Bodies built to cost the server work: tens of thousands of event names or headers, a
/// huge URL. Each is refused with one 422 naming the limit, before the items are checked
/// one by one (the checks are linear besides), and nothing is stored.
async fn oversized_lists_and_urls_are_one_422_each() {
    let app = spawn_app().await;
    let events: Vec<String> = (0..80_000)
        .map(|i| format!("event_{}", "a".repeat(i % 50)))
        .collect();
    let headers: serde_json::Map<String, Value> = (0..40_000)
        .map(|i| (format!("X-H{i}"), json!("v")))
        .collect();
    let long_url = format!("http://a.example/{}", "p".repeat(2100));
    for (body, field, message) in [
        (
            json!({"events": events, "config": {"url": "http://a.example/"}}),
            "events",
            "at most 256 events, not 80000",
        ),
        (
            json!({"config": {"url": "http://a.example/", "headers": headers}}),
            "config.headers",
            "at most 50 headers, not 40000",
        ),
        (
            json!({"config": {"url": long_url}}),
            "config.url",
            "url must be at most 2048 characters, not 2117",
        ),
        (
            json!({"config": {"url": "http://a.example/a b"}}),
            "config.url",
            "url must not contain spaces or control characters",
        ),
        (
            json!({"config": {"url": "http://a.example/", "headers": {"X-Big": "v".repeat(4097)}}}),
            "config.headers.X-Big",
            "the value of X-Big must be at most 4096 characters",
        ),
    ] {
        let reply = app.post(COLLECTION, ADMIN_TOKEN, &body).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        let errors = reply.body["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "one problem, not one per item: {errors:?}");
        assert_eq!(errors[0]["field"], field);
        assert_eq!(errors[0]["message"], message);
    }
    // At the limits, accepted.
    let at_limit: serde_json::Map<String, Value> = (0..50)
        .map(|i| (format!("X-H{i}"), json!("v".repeat(4096))))
        .collect();
    let events: Vec<String> = (0..256)
        .map(|i| format!("e_{}", "x".repeat(i % 60)))
        .collect();
    let reply = app
        .post(
            COLLECTION,
            ADMIN_TOKEN,
            &json!({"events": events, "config": {"url": format!("http://a.example/{}", "p".repeat(2000)), "headers": at_limit}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(hook_count(&app).await, 1);
}

crate::harness::tests!(
    unreadable_bodies_are_400,
    each_invalid_field_is_a_422_naming_it,
    several_bad_fields_are_all_reported,
    a_rejected_update_changes_nothing,
    bodies_over_the_limit_are_413_and_store_nothing,
    bad_paging_parameters_are_422,
    unknown_paths_are_404_and_other_methods_405_in_githubs_shape,
    oversized_lists_and_urls_are_one_422_each,
);
