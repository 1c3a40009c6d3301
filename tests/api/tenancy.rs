//! Who may see what: 401 without credentials, 404 (never 403) for what is someone else's.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, hook_body, spawn_app};

async fn credentials_are_required_and_checked() {
    let app = spawn_app().await;
    let path = "/repos/acme/widgets/hooks";
    let reply = app.request(Method::GET, path, None, None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.body["message"], "Requires authentication");

    let reply = app
        .request(Method::GET, path, Some("hp_not_a_token"), None)
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.body["message"], "Bad credentials");

    for header in ["Basic dXNlcjpwYXNz", "Bearer", "hp_bare_token"] {
        let response = app
            .client
            .get(format!("{}{path}", app.api))
            .header("Authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header}");
    }
    // Both schemes GitHub accepts work.
    for scheme in ["Bearer", "token", "bearer"] {
        let response = app
            .client
            .get(format!("{}{path}", app.api))
            .header("Authorization", format!("{scheme} {ADMIN_TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{scheme}");
    }
}

async fn owners_cannot_touch_each_others_hooks_but_the_admin_can() {
    let app = spawn_app().await;
    let alice = app.owner_token(&["acme"]).await;
    let bob = app.owner_token(&["globex"]).await;

    for collection in ["/repos/globex/tools/hooks", "/orgs/globex/hooks"] {
        let hook = app
            .create_hook(collection, &bob, &hook_body("http://b.example/"))
            .await;
        let path = format!("{collection}/{}", hook["id"]);
        let config = format!("{path}/config");
        let attempts = [
            (Method::GET, collection.to_owned(), None),
            (
                Method::POST,
                collection.to_owned(),
                Some(hook_body("http://a.example/")),
            ),
            (Method::GET, path.clone(), None),
            (Method::PATCH, path.clone(), Some(json!({"active": false}))),
            (Method::DELETE, path.clone(), None),
            (Method::GET, config.clone(), None),
            (
                Method::PATCH,
                config.clone(),
                Some(json!({"url": "http://evil.example/"})),
            ),
        ];
        for (method, target, body) in &attempts {
            let reply = app
                .request(method.clone(), target, Some(&alice), body.as_ref())
                .await;
            assert_eq!(
                reply.status,
                StatusCode::NOT_FOUND,
                "alice: {method} {target}"
            );
            assert_eq!(reply.body["message"], "Not Found");
        }
        // Nothing changed.
        assert_eq!(app.get(&path, &bob).await.body, hook);
        assert_eq!(app.get(collection, &bob).await.body, json!([hook]));

        // The admin may do everything, for every owner.
        assert_eq!(app.get(collection, ADMIN_TOKEN).await.body, json!([hook]));
        let changed = app
            .patch(&path, ADMIN_TOKEN, &json!({"active": false}))
            .await;
        assert_eq!(changed.body["active"], false);
        assert_eq!(app.get(&config, ADMIN_TOKEN).await.status, StatusCode::OK);
        assert_eq!(
            app.delete(&path, ADMIN_TOKEN).await.status,
            StatusCode::NO_CONTENT
        );
    }
}

async fn a_token_manages_all_of_its_owners() {
    let app = spawn_app().await;
    let token = app.owner_token(&["acme", "Alice"]).await;
    for collection in [
        "/repos/acme/a/hooks",
        "/repos/alice/b/hooks",
        "/orgs/ACME/hooks",
    ] {
        app.create_hook(collection, &token, &hook_body("http://a.example/"))
            .await;
    }
    let reply = app
        .post(
            "/repos/other/a/hooks",
            &token,
            &hook_body("http://a.example/"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

async fn admin_endpoints_are_hidden_from_owner_tokens() {
    let app = spawn_app().await;
    let token = app.owner_token(&["acme"]).await;
    let reply = app
        .post("/admin/tokens", &token, &json!({"owners": ["acme"]}))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = app.request(Method::POST, "/admin/tokens", None, None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

async fn token_requests_are_validated() {
    let app = spawn_app().await;
    for (body, field) in [
        (json!({}), "owners"),
        (json!({"owners": []}), "owners"),
        (json!({"owners": "acme"}), "owners"),
        (json!({"owners": ["acme", "no/slash"]}), "owners[1]"),
        (json!({"owners": ["acme"], "scope": "admin"}), "scope"),
        (json!({"owners": ["acme"], "scope": 1}), "scope"),
        (json!({"owners": ["acme"], "expires_in": 0}), "expires_in"),
        (json!({"owners": ["acme"], "expires_in": -5}), "expires_in"),
        (json!({"owners": ["acme"], "expires_in": 1.5}), "expires_in"),
        (
            json!({"owners": ["acme"], "expires_in": "1d"}),
            "expires_in",
        ),
    ] {
        let reply = app.post("/admin/tokens", ADMIN_TOKEN, &body).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(reply.body["errors"][0]["field"], field, "{body}");
        assert_eq!(reply.body["errors"][0]["resource"], "Token");
    }
    let reply = app
        .post(
            "/admin/tokens",
            ADMIN_TOKEN,
            &json!({"owners": ["Acme"], "expires_in": 60.0}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.body["owners"], json!(["Acme"]));
    assert!(reply.body["id"].is_i64());
    assert!(reply.body["token"].as_str().unwrap().starts_with("hp_"));
}

/// Creates a token through the API with `body`; returns its id and the token.
async fn create_token(app: &crate::helpers::TestApp, body: Value) -> (i64, String) {
    let reply = app.post("/admin/tokens", ADMIN_TOKEN, &body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    (
        reply.body["id"].as_i64().unwrap(),
        reply.body["token"].as_str().unwrap().to_owned(),
    )
}

/// The admin's list of tokens, by id.
async fn listed_token(app: &crate::helpers::TestApp, id: i64) -> Value {
    let reply = app.get("/admin/tokens", ADMIN_TOKEN).await;
    assert_eq!(reply.status, StatusCode::OK);
    reply
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|token| token["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("token {id} is listed: {}", reply.body))
}

async fn tokens_are_listed_without_the_token_and_revoked_at_once() {
    let app = spawn_app().await;
    let (id, token) = create_token(&app, json!({"owners": ["acme", "Bob"]})).await;
    let listed = listed_token(&app, id).await;
    assert!(!listed.to_string().contains(&token), "{listed}");
    assert_eq!(listed["owners"], json!(["acme", "Bob"]));
    assert_eq!(listed["scope"], "manage");
    assert!(listed["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(listed["expires_at"], Value::Null);
    assert_eq!(listed["revoked_at"], Value::Null);
    assert_eq!(listed["last_used_at"], Value::Null);

    let hooks = "/repos/acme/widgets/hooks";
    assert_eq!(app.get(hooks, &token).await.status, StatusCode::OK);
    // The use is written down in the background.
    let mut used = Value::Null;
    for _ in 0..50 {
        used = listed_token(&app, id).await["last_used_at"].clone();
        if used.is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(used.is_string(), "last_used_at is recorded");

    let reply = app
        .delete(&format!("/admin/tokens/{id}"), ADMIN_TOKEN)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    // This node read the token a moment ago: it may trust that for RECHECK_AFTER at most.
    tokio::time::sleep(hookpost::auth::RECHECK_AFTER).await;
    let reply = app.get(hooks, &token).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.body["message"], "Bad credentials");
    assert!(listed_token(&app, id).await["revoked_at"].is_string());
    // Revoking again changes nothing; an unknown id, or an owner's token asking, is a 404.
    let again = app
        .delete(&format!("/admin/tokens/{id}"), ADMIN_TOKEN)
        .await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
    let unknown = app.delete("/admin/tokens/999999", ADMIN_TOKEN).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let other = app.owner_token(&["acme"]).await;
    for reply in [
        app.delete(&format!("/admin/tokens/{id}"), &other).await,
        app.get("/admin/tokens", &other).await,
    ] {
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
    }
}

async fn an_expired_token_is_refused() {
    let app = spawn_app().await;
    let (id, token) = create_token(&app, json!({"owners": ["acme"], "expires_in": 1})).await;
    let hooks = "/repos/acme/widgets/hooks";
    assert_eq!(app.get(hooks, &token).await.status, StatusCode::OK);
    assert!(listed_token(&app, id).await["expires_at"].is_string());
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let reply = app.get(hooks, &token).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

async fn a_publish_only_token_publishes_and_manages_nothing() {
    let app = spawn_app().await;
    let (_, token) = create_token(&app, json!({"owners": ["acme"], "scope": "publish"})).await;
    let hooks = "/repos/acme/widgets/hooks";
    app.create_hook(hooks, ADMIN_TOKEN, &hook_body("https://example.com/hook"))
        .await;
    let event = json!({"event": "push", "repository": "acme/widgets", "payload": {}});
    assert_eq!(
        app.post("/events", &token, &event).await.status,
        StatusCode::ACCEPTED
    );
    let elsewhere = json!({"event": "push", "repository": "other/widgets", "payload": {}});
    assert_eq!(
        app.post("/events", &token, &elsewhere).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get(hooks, &token).await.status, StatusCode::NOT_FOUND);
    let reply = app
        .post(hooks, &token, &hook_body("https://example.com/other"))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

crate::harness::tests!(
    credentials_are_required_and_checked,
    owners_cannot_touch_each_others_hooks_but_the_admin_can,
    a_token_manages_all_of_its_owners,
    admin_endpoints_are_hidden_from_owner_tokens,
    token_requests_are_validated,
    tokens_are_listed_without_the_token_and_revoked_at_once,
    an_expired_token_is_refused,
    a_publish_only_token_publishes_and_manages_nothing,
);
