//! GitHub Apps: registration, JWT authentication (tokens made here with the `rsa` crate
//! directly, not the server's JWT library), installations, and the app hook's deliveries.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, TestApp, run_cli, spawn_stepped_app};
use crate::receiver::TestReceiver;
use crate::schema::assert_matches;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An RS256 JWT signed with `pem`, built by hand.
fn jwt(pem: &str, claims: &Value) -> String {
    let key = rsa::RsaPrivateKey::from_pkcs1_pem(pem).expect("a PKCS#1 key");
    let signer = rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha256>::new(key);
    let signing_input = format!(
        "{}.{}",
        b64(br#"{"alg":"RS256","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    );
    let signature = signer.sign(signing_input.as_bytes()).to_vec();
    format!("{signing_input}.{}", b64(&signature))
}

/// A JWT as Octokit makes one: issued 30 s ago, valid for 600 s from then.
pub fn octokit_jwt(pem: &str, iss: Value) -> String {
    let iat = now() - 30;
    jwt(pem, &json!({"iat": iat, "exp": iat + 600, "iss": iss}))
}

pub struct RegisteredApp {
    pub id: i64,
    client_id: String,
    pub pem: String,
}

pub async fn register(app: &TestApp, name: &str, events: Value, url: &str) -> RegisteredApp {
    let reply = app
        .post(
            "/admin/apps",
            ADMIN_TOKEN,
            &json!({"name": name, "events": events, "hook": {"url": url, "content_type": "json", "secret": "app-secret"}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    RegisteredApp {
        id: reply.body["id"].as_i64().unwrap(),
        client_id: reply.body["client_id"].as_str().unwrap().to_owned(),
        pem: reply.body["pem"].as_str().unwrap().to_owned(),
    }
}

/// Installs `registered` on `account` as the admin; returns the installation's id.
pub async fn install(app: &TestApp, registered: &RegisteredApp, account: &str) -> i64 {
    let reply = app
        .post(
            &format!("/admin/apps/{}/installations", registered.id),
            ADMIN_TOKEN,
            &json!({"account": account}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    assert_eq!(reply.body["account"]["login"], account);
    reply.body["id"].as_i64().unwrap()
}

pub async fn as_app(app: &TestApp, path: &str, token: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .get(format!("{}{path}", app.api))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn jwts_are_checked_as_github_checks_them() {
    let app = spawn_stepped_app(|_| {}).await;
    let registered = register(&app, "CI Bot", json!(["push"]), "http://127.0.0.1:9/hook").await;
    let pem = &registered.pem;
    let t = now();
    let (other_key, _) = hookpost::apps::generate_key().unwrap();
    let header_none = b64(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = b64(json!({"iat": t - 30, "exp": t + 500, "iss": registered.id})
        .to_string()
        .as_bytes());
    let hs256_header = b64(br#"{"alg":"HS256","typ":"JWT"}"#);
    let cases: Vec<(&str, String, Option<&str>)> = vec![
        ("valid", octokit_jwt(pem, json!(registered.id)), None),
        (
            "iss as a string",
            octokit_jwt(pem, json!(registered.id.to_string())),
            None,
        ),
        (
            "iss as the client id",
            octokit_jwt(pem, json!(registered.client_id)),
            None,
        ),
        (
            "exactly 600 s",
            jwt(
                pem,
                &json!({"iat": t - 10, "exp": t + 590, "iss": registered.id}),
            ),
            None,
        ),
        (
            "expired",
            jwt(
                pem,
                &json!({"iat": t - 700, "exp": t - 100, "iss": registered.id}),
            ),
            Some(hookpost::apps::EXPIRED),
        ),
        (
            "601 s",
            jwt(
                pem,
                &json!({"iat": t - 10, "exp": t + 591, "iss": registered.id}),
            ),
            Some(hookpost::apps::TOO_LONG),
        ),
        (
            "exp - iat past i64",
            jwt(
                pem,
                &json!({"iat": i64::MIN, "exp": i64::MAX, "iss": registered.id}),
            ),
            Some(hookpost::apps::TOO_LONG),
        ),
        (
            "an aud claim, which GitHub ignores",
            jwt(
                pem,
                &json!({"iat": t - 10, "exp": t + 500, "iss": registered.id, "aud": "someone-else"}),
            ),
            None,
        ),
        (
            "iat in the future",
            jwt(
                pem,
                &json!({"iat": t + 120, "exp": t + 300, "iss": registered.id}),
            ),
            Some(hookpost::apps::ISSUED_IN_FUTURE),
        ),
        (
            "wrong key",
            octokit_jwt(&other_key, json!(registered.id)),
            Some(hookpost::apps::UNDECODABLE),
        ),
        (
            "unknown iss",
            octokit_jwt(pem, json!(987_654)),
            Some(hookpost::apps::UNKNOWN_APP),
        ),
        (
            "alg none",
            format!("{header_none}.{claims}."),
            Some(hookpost::apps::UNDECODABLE),
        ),
        (
            "HS256",
            format!("{hs256_header}.{claims}.{}", b64(b"forged")),
            Some(hookpost::apps::UNDECODABLE),
        ),
        (
            "garbage",
            "not.a.jwt".to_owned(),
            Some(hookpost::apps::UNDECODABLE),
        ),
    ];
    for (name, token, refusal) in cases {
        let (status, body) = as_app(&app, "/app", &token).await;
        match refusal {
            None => {
                assert_eq!(status, StatusCode::OK, "{name}: {body}");
                assert_matches("integration", &body);
                assert_eq!(body["id"], registered.id);
                assert_eq!(body["slug"], "ci-bot");
                assert_eq!(body["events"], json!(["push"]));
            }
            Some(message) => {
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}");
                assert_eq!(body["message"], message, "{name}");
            }
        }
    }
    let (status, body) = as_app(&app, "/app", ADMIN_TOKEN).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a token is not a JWT: {body}"
    );
}

async fn an_installed_app_receives_its_accounts_events_and_nothing_else() {
    let app = spawn_stepped_app(|_| {}).await;
    let receiver = TestReceiver::start().await;
    let registered = register(&app, "Deployer", json!(["issues", "push"]), &receiver.url).await;
    app.deliver_due().await;
    let ping = receiver.next_of("ping").await;
    let ping_body: Value = serde_json::from_slice(&ping.body).unwrap();
    assert_eq!(ping_body["hook"]["app_id"], registered.id);
    assert_eq!(
        ping.header("x-github-hook-installation-target-type"),
        Some("integration")
    );

    let installation_id = install(&app, &registered, "acme").await;

    app.publish("issues", "acme/widgets", json!({"action": "opened"}))
        .await;
    app.publish("issues", "globex/tools", json!({"action": "opened"}))
        .await;
    app.publish("label", "acme/widgets", json!({"action": "created"}))
        .await;
    assert_eq!(app.deliver_due().await, 1, "only acme's subscribed event");
    let got = receiver.next_of("issues").await;
    let body: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(body["installation"], json!({"id": installation_id}));
    assert_eq!(
        got.header("x-github-hook-installation-target-type"),
        Some("integration")
    );
    assert_eq!(
        got.header("x-github-hook-installation-target-id"),
        Some(registered.id.to_string().as_str())
    );
    assert!(got.header("x-hub-signature-256").is_some());

    let token = octokit_jwt(&registered.pem, json!(registered.id));
    let (status, log) = as_app(&app, "/app/hook/deliveries", &token).await;
    assert_eq!(status, StatusCode::OK);
    let log = log.as_array().unwrap().clone();
    assert_eq!(log.len(), 2);
    for item in &log {
        assert_matches("hook-delivery-item", item);
    }
    assert_eq!(log[0]["installation_id"], installation_id);
    let (status, detail) = as_app(
        &app,
        &format!("/app/hook/deliveries/{}", log[0]["id"]),
        &token,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_matches("hook-delivery", &detail);
    assert_eq!(
        detail["request"]["payload"]["installation"]["id"],
        installation_id
    );

    let response = app
        .client
        .post(format!(
            "{}/app/hook/deliveries/{}/attempts",
            app.api, log[0]["id"]
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(app.deliver_due().await, 1);
    let again = receiver.next_of("issues").await;
    assert_eq!(
        again.header("x-github-delivery"),
        got.header("x-github-delivery")
    );

    let (status, config) = as_app(&app, "/app/hook/config", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_matches("webhook-config", &config);
    assert_eq!(config["secret"], "********");
    let response = app
        .client
        .patch(format!("{}/app/hook/config", app.api))
        .bearer_auth(&token)
        .json(&json!({"content_type": "form"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let changed: Value = response.json().await.unwrap();
    assert_eq!(changed["content_type"], "form");
    assert_eq!(changed["url"], receiver.url);
}

async fn apps_are_for_the_admin_and_their_private_key_is_never_kept() {
    let app = spawn_stepped_app(|_| {}).await;
    let owner = app.owner_token(&["acme"]).await;
    let reply = app
        .post(
            "/admin/apps",
            &owner,
            &json!({"name": "x", "hook": {"url": "http://a.example/"}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    for (body, field) in [
        (json!({"hook": {"url": "http://a.example/"}}), "name"),
        (json!({"name": "x"}), "hook.url"),
        (json!({"name": "x", "hook": {"url": "ftp://a"}}), "hook.url"),
        (
            json!({"name": "x", "events": ["Bad"], "hook": {"url": "http://a.example/"}}),
            "events[0]",
        ),
    ] {
        let reply = app.post("/admin/apps", ADMIN_TOKEN, &body).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(reply.body["errors"][0]["field"], field, "{body}");
    }
    let registered = register(&app, "Keeper", json!(["push"]), "http://a.example/").await;
    let duplicate = app
        .post(
            "/admin/apps",
            ADMIN_TOKEN,
            &json!({"name": "keeper", "hook": {"url": "http://a.example/"}}),
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT, "a name taken");
    assert_eq!(duplicate.body["errors"][0]["code"], "already_exists");
    let missing = app
        .post(
            "/admin/apps/999/installations",
            ADMIN_TOKEN,
            &json!({"account": "acme"}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // No line of the private key's body is anywhere in the database.
    let key_lines: Vec<&str> = registered
        .pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    assert!(key_lines.len() > 10);
    let stored = app.storage.database_bytes().await;
    assert!(stored.len() > 1000, "the database holds the app");
    for line in &key_lines {
        assert!(
            !stored
                .windows(line.len())
                .any(|window| window == line.as_bytes()),
            "a line of the private key was found in the database"
        );
    }
}

async fn the_cli_registers_and_installs_apps() {
    let app = spawn_stepped_app(|_| {}).await;
    let created = run_cli(
        &app.storage,
        &[
            "app",
            "create",
            "--name",
            "Cli App",
            "--event",
            "push",
            "--url",
            "http://a.example/",
        ],
    )
    .await;
    assert_eq!(created["slug"], "cli-app");
    let id = created["id"].as_i64().unwrap();
    let id_text = id.to_string();
    let installed = run_cli(
        &app.storage,
        &["app", "install", "--app", &id_text, "--account", "acme"],
    )
    .await;
    assert_eq!(installed["account"]["login"], "acme");
    let token = octokit_jwt(created["pem"].as_str().unwrap(), json!(id));
    let (status, body) = as_app(&app, "/app", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["installations_count"], 1);

    // An app hook signed the Standard Webhooks way, from the command line too.
    let standard = run_cli(
        &app.storage,
        &[
            "app",
            "create",
            "--name",
            "Standard App",
            "--url",
            "http://b.example/",
            "--signature",
            "standard",
            "--secret",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo=",
        ],
    )
    .await;
    let token = octokit_jwt(standard["pem"].as_str().unwrap(), standard["id"].clone());
    let (_, config) = as_app(&app, "/app/hook/config", &token).await;
    assert_eq!(config["signature"], "standard");
}

crate::harness::tests!(
    jwts_are_checked_as_github_checks_them,
    an_installed_app_receives_its_accounts_events_and_nothing_else,
    apps_are_for_the_admin_and_their_private_key_is_never_kept,
    the_cli_registers_and_installs_apps,
);
