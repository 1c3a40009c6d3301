//! Who may see what: 401 without credentials, 404 (never 403) for what is someone else's.

use reqwest::{Method, StatusCode};
use serde_json::json;

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
    ] {
        let reply = app.post("/admin/tokens", ADMIN_TOKEN, &body).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(reply.body["errors"][0]["field"], field, "{body}");
        assert_eq!(reply.body["errors"][0]["resource"], "Token");
    }
    let reply = app
        .post("/admin/tokens", ADMIN_TOKEN, &json!({"owners": ["Acme"]}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.body["owners"], json!(["Acme"]));
    assert!(reply.body["id"].is_i64());
    assert!(reply.body["token"].as_str().unwrap().starts_with("hp_"));
}

crate::harness::tests!(
    credentials_are_required_and_checked,
    owners_cannot_touch_each_others_hooks_but_the_admin_can,
    a_token_manages_all_of_its_owners,
    admin_endpoints_are_hidden_from_owner_tokens,
    token_requests_are_validated,
);
