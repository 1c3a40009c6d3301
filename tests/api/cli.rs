//! The real `hookpost` binary: `serve` from the environment, signals, and the admin CLI
//! working on the database of a running server.

use std::time::Duration;

use reqwest::StatusCode;
use tokio::process::Command;

use crate::helpers::{BINARY, hook_body, spawn_binary, start};

#[tokio::test]
async fn token_create_works_while_serve_runs_on_the_same_database() {
    let dir = tempfile::tempdir().unwrap();
    let app = start(dir.path(), |_| {}).await;
    let output = Command::new(BINARY)
        .args(["token", "create", "--owner", "acme", "--owner", "globex"])
        .env("HOOKPOST_DATA_DIR", dir.path())
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["owners"], serde_json::json!(["acme", "globex"]));
    let token = printed["token"].as_str().unwrap();
    app.create_hook("/orgs/globex/hooks", token, &hook_body("http://a.example/"))
        .await;
    assert_eq!(
        app.get("/orgs/other/hooks", token).await.status,
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}

#[tokio::test]
async fn serve_reads_its_flags_from_the_environment_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let migrate = Command::new(BINARY)
        .args(["migrate", "--data-dir"])
        .arg(dir.path())
        .output()
        .await
        .unwrap();
    assert!(migrate.status.success());

    let data_dir = dir.path().to_str().unwrap();
    let (mut child, address) = spawn_binary(&[
        ("HOOKPOST_DATA_DIR", data_dir),
        ("HOOKPOST_ADMIN_TOKEN", "hp_from_env"),
    ])
    .await;

    let client = crate::helpers::http_client();
    let health = client
        .get(format!("http://{address}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let hooks = client
        .get(format!("http://{address}/api/v3/orgs/acme/hooks"))
        .header("Authorization", "Bearer hp_from_env")
        .send()
        .await
        .unwrap();
    assert_eq!(hooks.status(), StatusCode::OK);
    assert!(
        !dir.path().join("admin-token").exists(),
        "no token generated when one is set"
    );

    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("serve stops after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
}
