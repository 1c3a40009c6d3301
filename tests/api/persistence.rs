//! What is acknowledged survives a restart on the same data directory.

use std::os::unix::fs::PermissionsExt;

use reqwest::StatusCode;
use serde_json::json;

use std::sync::Arc;

use crate::helpers::{ADMIN_TOKEN, Storage, hook_body, start};

async fn hooks_and_tokens_survive_a_restart() {
    let storage = Arc::new(Storage::new().await);
    let app = start(&storage, |_| {}).await;
    let token = app.owner_token(&["acme"]).await;
    let repo_hook = app
        .create_hook(
            "/repos/acme/widgets/hooks",
            &token,
            &json!({"events": ["issues"], "config": {"url": "http://a.example/", "secret": "s",
                    "headers": {"X-Custom": "1"}}}),
        )
        .await;
    let org_hook = app
        .create_hook("/orgs/acme/hooks", &token, &hook_body("http://b.example/"))
        .await;
    app.stop().await;

    let app = start(&storage, |_| {}).await;
    let path = format!("/repos/acme/widgets/hooks/{}", repo_hook["id"]);
    let fetched = app.get(&path, &token).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body["config"], repo_hook["config"]);
    assert_eq!(fetched.body["events"], repo_hook["events"]);
    assert_eq!(fetched.body["created_at"], repo_hook["created_at"]);
    let orgs = app.get("/orgs/acme/hooks", &token).await;
    assert_eq!(orgs.body[0]["id"], org_hook["id"]);

    // Ids keep counting; nothing is reused.
    let next = app
        .create_hook("/orgs/acme/hooks", &token, &hook_body("http://c.example/"))
        .await;
    assert!(next["id"].as_i64() > org_hook["id"].as_i64());
    app.stop().await;
}

async fn a_generated_admin_token_is_private_and_lasts() {
    let storage = Arc::new(Storage::new().await);
    let app = start(&storage, |config| config.admin_token = None).await;
    let file = storage.dir().join("admin-token");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let admin = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert!(admin.starts_with("hp_"));
    let reply = app.get("/repos/acme/widgets/hooks", &admin).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        app.get("/repos/acme/widgets/hooks", ADMIN_TOKEN)
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "only the generated token is admin"
    );
    app.stop().await;

    // The token file is not the source of truth: only the digest is stored, and it stays.
    let app = start(&storage, |config| config.admin_token = None).await;
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), admin);
    assert_eq!(
        app.get("/orgs/acme/hooks", &admin).await.status,
        StatusCode::OK
    );
    let stored = storage.database_bytes().await;
    assert!(stored.len() > 1000, "the database holds something");
    assert!(
        !stored
            .windows(admin.len())
            .any(|window| window == admin.as_bytes()),
        "the admin token itself is never stored"
    );
    app.stop().await;
}

crate::harness::tests!(
    hooks_and_tokens_survive_a_restart,
    a_generated_admin_token_is_private_and_lasts,
);
