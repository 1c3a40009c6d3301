//! The real `hookpost` binary: `serve` from the environment, signals, and the admin CLI
//! working on the database of a running server.

use std::time::Duration;

use reqwest::StatusCode;
use tokio::process::Command;

use std::sync::Arc;

use crate::helpers::{BINARY, Storage, hook_body, run_cli, spawn_binary, start};

async fn token_create_works_while_serve_runs_on_the_same_database() {
    let storage = Arc::new(Storage::new().await);
    let app = start(&storage, |_| {}).await;
    let printed = run_cli(
        &storage,
        &["token", "create", "--owner", "acme", "--owner", "globex"],
    )
    .await;
    assert_eq!(printed["owners"], serde_json::json!(["acme", "globex"]));
    let token = printed["token"].as_str().unwrap();
    app.create_hook("/orgs/globex/hooks", token, &hook_body("http://a.example/"))
        .await;
    assert_eq!(
        app.get("/orgs/other/hooks", token).await.status,
        StatusCode::NOT_FOUND
    );

    // Revoked by another process: the server refuses it within a second.
    let id = printed["id"].to_string();
    let revoked = run_cli(&storage, &["token", "revoke", &id]).await;
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    tokio::time::sleep(hookpost::auth::RECHECK_AFTER).await;
    assert_eq!(
        app.get("/orgs/globex/hooks", token).await.status,
        StatusCode::UNAUTHORIZED
    );

    let publisher = run_cli(
        &storage,
        &[
            "token",
            "create",
            "--owner",
            "acme",
            "--scope",
            "publish",
            "--expires-in",
            "90days",
        ],
    )
    .await;
    assert_eq!(publisher["scope"], "publish");
    assert!(publisher["expires_at"].is_string());
    let listed = run_cli(&storage, &["token", "list"]).await;
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed[0]["revoked_at"].is_string());
    assert_eq!(listed[1]["id"], publisher["id"]);
    assert!(listed.iter().all(|token| token.get("token").is_none()));
    app.stop().await;
}

async fn serve_reads_its_flags_from_the_environment_and_stops_on_sigterm() {
    let storage = Storage::new().await;
    let migrate = Command::new(BINARY)
        .arg("migrate")
        .envs(storage.env())
        .output()
        .await
        .unwrap();
    assert!(migrate.status.success());

    let (mut child, address) = spawn_binary(
        &storage,
        &[("HOOKPOST_ADMIN_TOKEN", "hp_from_env_admin_token")],
    )
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
        .header("Authorization", "Bearer hp_from_env_admin_token")
        .send()
        .await
        .unwrap();
    assert_eq!(hooks.status(), StatusCode::OK);
    assert!(
        !storage.dir().join("admin-token").exists(),
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

async fn sigterm_finishes_attempts_under_way_and_hands_back_the_rest() {
    use crate::receiver::{Behaviour, TestReceiver};
    let storage = Storage::new().await;
    let env = [
        ("HOOKPOST_ADMIN_TOKEN", "hp_shutdown_admin_token"),
        ("HOOKPOST_ALLOW_TARGET", "127.0.0.0/8"),
        ("HOOKPOST_PER_HOST_CONCURRENCY", "1"),
        ("HOOKPOST_DELIVERY_TIMEOUT", "1s"),
    ];
    let (mut child, address) = spawn_binary(&storage, &env).await;
    let client = crate::helpers::http_client();
    let api = format!("http://{address}/api/v3");
    let receiver = TestReceiver::start().await;
    let created = client
        .post(format!("{api}/repos/acme/widgets/hooks"))
        .bearer_auth("hp_shutdown_admin_token")
        .json(&serde_json::json!({"config": {"url": receiver.url}}))
        .send()
        .await
        .unwrap();
    let hook: serde_json::Value = created.json().await.unwrap();
    receiver.next_of("ping").await;
    receiver.set(Behaviour::Hang);
    for n in 0..3 {
        let published = client
            .post(format!("{api}/events"))
            .bearer_auth("hp_shutdown_admin_token")
            .json(&serde_json::json!({"event": "push", "repository": "acme/widgets", "payload": {"n": n}}))
            .send()
            .await
            .unwrap();
        assert_eq!(published.status(), StatusCode::ACCEPTED);
    }
    receiver.next_of("push").await;

    let pid = child.id().unwrap().to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("stops within the grace period")
        .unwrap();
    assert!(status.success());

    receiver.set(Behaviour::Status(200));
    let (_child, address) = spawn_binary(&storage, &env).await;
    receiver.next_of("push").await;
    receiver.next_of("push").await;
    // An attempt is recorded just after its answer arrives: read the log until both are.
    let url = format!(
        "http://{address}/api/v3/repos/acme/widgets/hooks/{}/deliveries",
        hook["id"]
    );
    let mut statuses = Vec::new();
    for _ in 0..100 {
        let log: Vec<serde_json::Value> = client
            .get(&url)
            .bearer_auth("hp_shutdown_admin_token")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        statuses = log
            .iter()
            .map(|item| item["status"].as_str().unwrap().to_owned())
            .collect();
        if statuses.iter().filter(|status| *status == "OK").count() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        statuses.iter().any(|status| status == "timed out"),
        "the attempt under way was recorded: {statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|status| *status == "OK").count(),
        3,
        "the ping and the two pushes handed back: {statuses:?}"
    );
}

async fn json_logs_carry_request_ids_and_never_a_secret() {
    let storage = Storage::new().await;
    let (mut child, address, log) = crate::helpers::spawn_binary_logged(
        &storage,
        &[
            ("HOOKPOST_ADMIN_TOKEN", "hp_admin_never_logged"),
            ("HOOKPOST_LOG_FORMAT", "json"),
            ("RUST_LOG", "debug"),
        ],
    )
    .await;
    let client = crate::helpers::http_client();
    let api = format!("http://{address}/api/v3");
    let created = client
        .post(format!("{api}/repos/acme/widgets/hooks"))
        .bearer_auth("hp_admin_never_logged")
        .header("X-Request-Id", "req-from-client-1")
        .body(r#"{"config": {"url": "http://a.example/", "secret": "hook-secret-never-logged"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(created.headers()["x-request-id"], "req-from-client-1");
    let listed = client
        .get(format!("{api}/repos/acme/widgets/hooks"))
        .bearer_auth("hp_admin_never_logged")
        .send()
        .await
        .unwrap();
    let generated = listed.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(generated.len(), 36, "a UUID when the client sends none");

    let pid = child.id().unwrap().to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    child.wait().await.unwrap();
    let lines = log.await.unwrap();
    assert!(lines.len() > 3);
    for line in &lines {
        let parsed: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("every log line is JSON: {line}"));
        assert!(parsed["level"].is_string());
        assert!(
            !line.contains("never-logged") && !line.contains("never_logged"),
            "{line}"
        );
    }
    assert!(lines.iter().any(|line| line.contains("req-from-client-1")));
    assert!(lines.iter().any(|line| line.contains(&generated)));
}

/// An empty, blank or short admin token would let anyone (or any guesser) in: `serve`
/// refuses to start, says why, and never prints the token.
async fn serve_refuses_a_blank_or_short_admin_token() {
    let storage = Storage::new().await;
    for (token, why) in [
        ("", "must not be empty or blank"),
        ("   ", "must not be empty or blank"),
        ("hp_short_tok", "at least 16 characters, not 12"),
    ] {
        let output = tokio::time::timeout(
            Duration::from_secs(30),
            Command::new(BINARY)
                .arg("serve")
                .env("HOOKPOST_LISTEN", "127.0.0.1:0")
                .env("HOOKPOST_ADMIN_TOKEN", token)
                .envs(storage.env())
                .output(),
        )
        .await
        .expect("serve gives up at once")
        .unwrap();
        assert!(!output.status.success(), "{token:?} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(why), "{stderr}");
        if !token.trim().is_empty() {
            assert!(!stderr.contains(token), "the token is printed: {stderr}");
        }
    }
}

crate::harness::tests!(
    token_create_works_while_serve_runs_on_the_same_database,
    serve_reads_its_flags_from_the_environment_and_stops_on_sigterm,
    sigterm_finishes_attempts_under_way_and_hands_back_the_rest,
    json_logs_carry_request_ids_and_never_a_secret,
    serve_refuses_a_blank_or_short_admin_token,
);
