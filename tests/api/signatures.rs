//! Standard Webhooks signatures beside GitHub's, and secret rotation with an overlap:
//! the API's rules, and deliveries checked by the specification's reference library
//! (`standardwebhooks` from PyPI, in the Python `.ci/run` prepares), not by our code.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::API_TEST_PYTHON;
use crate::helpers::{ADMIN_TOKEN, spawn_app, spawn_delivering_app};
use crate::receiver::{Received, TestReceiver};

const HOOKS: &str = "/repos/acme/widgets/hooks";
/// `whsec_` and the base64 of 32 bytes.
const FIRST: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo=";
/// Two more, for rotations.
const SECOND: &str = "whsec_c2Vjb25kIHNlY3JldCBvZiB0aGUgdGVzdCBob29rIQ==";
const THIRD: &str = "whsec_dGhpcmQgc2VjcmV0IG9mIHRoZSB0ZXN0IGhvb2shIQ==";

fn standard_hook(url: &str, signature: &str, secret: &str) -> Value {
    json!({"config": {"url": url, "content_type": "json", "signature": signature, "secret": secret}})
}

async fn the_standard_scheme_needs_a_whsec_secret_and_shows_itself() {
    let app = spawn_app().await;
    for (signature, secret) in [
        ("standard", "plain"),
        ("both", "whsec_c2hvcnQ="),
        ("standard", ""),
    ] {
        let reply = app
            .post(
                HOOKS,
                ADMIN_TOKEN,
                &standard_hook("https://example.com/h", signature, secret),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{secret:?}");
        assert_eq!(reply.body["errors"][0]["field"], "config.secret");
    }
    let reply = app
        .post(
            HOOKS,
            ADMIN_TOKEN,
            &standard_hook("https://example.com/h", "sideways", FIRST),
        )
        .await;
    assert_eq!(reply.body["errors"][0]["field"], "config.signature");

    let created = app
        .create_hook(
            HOOKS,
            ADMIN_TOKEN,
            &standard_hook("https://example.com/h", "standard", FIRST),
        )
        .await;
    assert_eq!(created["config"]["signature"], "standard");
    assert_eq!(created["config"]["secret"], "********");
    let config = format!("{HOOKS}/{}/config", created["id"]);
    // A plain secret for a Standard hook, or an overlap out of range: 422, nothing changed.
    for body in [
        json!({"secret": "plain"}),
        json!({"secret": SECOND, "secret_overlap": "8d"}),
        json!({"secret": SECOND, "secret_overlap": "1 day"}),
    ] {
        let reply = app.patch(&config, ADMIN_TOKEN, &body).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    let rotated = app
        .patch(
            &config,
            ADMIN_TOKEN,
            &json!({"secret": SECOND, "secret_overlap": "24h"}),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK);
    assert!(
        rotated.body["previous_secret_expires_at"].is_string(),
        "{}",
        rotated.body
    );
    // Back to GitHub's scheme: no overlap is kept (one signature header cannot carry two).
    let github = app
        .patch(
            &config,
            ADMIN_TOKEN,
            &json!({"signature": "github", "secret": "plain again"}),
        )
        .await;
    assert_eq!(github.status, StatusCode::OK);
    assert!(github.body.get("signature").is_none());
    assert!(github.body.get("previous_secret_expires_at").is_none());
    // A hook PATCH with a config replaces it, as GitHub documents: GitHub's scheme again.
    let replaced = app
        .patch(
            &format!("{HOOKS}/{}", created["id"]),
            ADMIN_TOKEN,
            &json!({"config": {"url": "https://example.com/h2", "secret": "s"}}),
        )
        .await;
    assert_eq!(replaced.status, StatusCode::OK);
    assert!(replaced.body["config"].get("signature").is_none());
}

/// Whether the reference library accepts `received` with `secret`.
async fn verifies(secret: &str, received: &Received) -> bool {
    let python = std::env::var(API_TEST_PYTHON).expect("the harness checked it");
    let headers: serde_json::Map<String, Value> = received
        .headers
        .iter()
        .map(|(name, value)| (name.to_string(), json!(value.to_str().unwrap())))
        .collect();
    let body = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(body.path(), &received.body).unwrap();
    let script = "import json, sys\n\
        from standardwebhooks.webhooks import Webhook\n\
        secret, headers, path = sys.argv[1:]\n\
        try:\n    Webhook(secret).verify(open(path, 'rb').read(), json.loads(headers))\n    print('ok')\n\
        except Exception as error:\n    print('refused', error)\n";
    let output = tokio::process::Command::new(python)
        .args(["-c", script, secret, &Value::Object(headers).to_string()])
        .arg(body.path())
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim() == "ok"
}

async fn standard_deliveries_verify_with_the_reference_library_through_a_rotation() {
    let app = spawn_delivering_app(|_| {}).await;
    let receiver = TestReceiver::start().await;
    let created = app
        .create_hook(
            HOOKS,
            ADMIN_TOKEN,
            &standard_hook(&receiver.url, "both", FIRST),
        )
        .await;
    let ping = receiver.next_of("ping").await;
    assert!(verifies(FIRST, &ping).await, "the ping verifies");
    assert!(!verifies(SECOND, &ping).await, "not with another secret");
    assert_eq!(ping.header("webhook-id"), ping.header("x-github-delivery"));
    // With `both`, GitHub's signature is keyed by the whole whsec_ string.
    let github = crate::delivery::hmac_sha256(FIRST, &ping.body);
    assert_eq!(
        ping.header("x-hub-signature-256"),
        Some(format!("sha256={github}").as_str())
    );

    // Rotated with an overlap: deliveries verify with either secret.
    let config = format!("{HOOKS}/{}/config", created["id"]);
    let reply = app
        .patch(
            &config,
            ADMIN_TOKEN,
            &json!({"secret": SECOND, "secret_overlap": "2s"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    app.publish("push", "acme/widgets", json!({"n": 1})).await;
    let during = receiver.next_of("push").await;
    assert!(verifies(SECOND, &during).await, "the new secret");
    assert!(
        verifies(FIRST, &during).await,
        "and, during the overlap, the old one"
    );

    // After the overlap, only the new one.
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    app.publish("push", "acme/widgets", json!({"n": 2})).await;
    let after = receiver.next_of("push").await;
    assert!(verifies(SECOND, &after).await);
    assert!(
        !verifies(FIRST, &after).await,
        "the old secret no longer signs"
    );

    // Rotated without an overlap: the new secret at once.
    app.patch(&config, ADMIN_TOKEN, &json!({"secret": THIRD}))
        .await;
    app.publish("push", "acme/widgets", json!({"n": 3})).await;
    let rotated = receiver.next_of("push").await;
    assert!(verifies(THIRD, &rotated).await);
    assert!(!verifies(SECOND, &rotated).await);
}

crate::harness::tests!(
    the_standard_scheme_needs_a_whsec_secret_and_shows_itself;
    ApiContract standard_deliveries_verify_with_the_reference_library_through_a_rotation,
);
