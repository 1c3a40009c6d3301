//! Validation of responses against GitHub's own OpenAPI description
//! (`tests/fixtures/github-webhooks-openapi.json`, copied verbatim from GitHub's published
//! description as packaged by Octokit).

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

fn components() -> &'static Value {
    static COMPONENTS: OnceLock<Value> = OnceLock::new();
    COMPONENTS.get_or_init(|| {
        let text = include_str!("../fixtures/github-webhooks-openapi.json");
        let mut document: Value = serde_json::from_str(text).expect("the fixture is JSON");
        let mut components = document["components"].take();
        rewrite_nullable(&mut components);
        components
    })
}

/// OpenAPI 3.0's `nullable: true` is not JSON Schema; say the same with a `null` type.
fn rewrite_nullable(value: &mut Value) {
    match value {
        Value::Object(object) => {
            for child in object.values_mut() {
                rewrite_nullable(child);
            }
            if object.remove("nullable") == Some(Value::Bool(true)) {
                let inner = Value::Object(std::mem::take(object));
                *object = Map::from_iter([("anyOf".to_owned(), json!([inner, {"type": "null"}]))]);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_nullable),
        _ => {}
    }
}

/// Asserts that `instance` is valid against GitHub's `components.schemas.<name>`.
pub fn assert_matches(name: &str, instance: &Value) {
    assert_valid(components(), &format!("GitHub's {name}"), name, instance);
}

/// Asserts that `instance` is valid against `components.schemas.<name>` of a document
/// (`whose` names it in the message).
pub fn assert_valid(components: &Value, whose: &str, name: &str, instance: &Value) {
    let schema = json!({
        "$ref": format!("#/components/schemas/{name}"),
        "components": components,
    });
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|error| panic!("schema {whose} compiles: {error}"));
    let problems: Vec<String> = validator
        .iter_errors(instance)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect();
    assert!(
        problems.is_empty(),
        "{instance:#} does not match {whose}: {problems:#?}"
    );
}

async fn the_validator_rejects_what_github_would_not_send() {
    let hook_missing_fields = json!({"id": 1, "type": "Repository"});
    let result = std::panic::catch_unwind(|| assert_matches("hook", &hook_missing_fields));
    assert!(
        result.is_err(),
        "a hook without its required fields must fail"
    );
    let bad_last_response = json!({"code": "200", "status": null, "message": null});
    let result = std::panic::catch_unwind(|| assert_matches("hook-response", &bad_last_response));
    assert!(result.is_err(), "a string code must fail");
    assert_matches(
        "hook-response",
        &json!({"code": null, "status": "unused", "message": null}),
    );
}

crate::harness::tests!(the_validator_rejects_what_github_would_not_send,);
