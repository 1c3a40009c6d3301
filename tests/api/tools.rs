//! `hookpost listen` and `hookpost publish`, as a developer runs them, against a real server.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use crate::helpers::{
    ADMIN_TOKEN, BINARY, TestApp, hook_path, spawn_delivering_app, spawn_stepped_app,
};
use crate::receiver::{Behaviour, TestReceiver};

struct Listening {
    _child: Child,
    url: String,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Listening {
    async fn start(args: &[&str]) -> Self {
        let mut child = Command::new(BINARY)
            .args(["listen", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines
            .next_line()
            .await
            .unwrap()
            .expect("listen prints its address");
        let address = first
            .strip_prefix("listening on ")
            .expect("the address line")
            .to_owned();
        Listening {
            _child: child,
            url: format!("{address}/hook"),
            lines,
        }
    }

    async fn next_line(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(20), self.lines.next_line())
            .await
            .expect("listen prints a line")
            .unwrap()
            .expect("listen runs")
    }

    async fn next_json(&mut self) -> Value {
        serde_json::from_str(&self.next_line().await).unwrap()
    }
}

async fn listen_prints_deliveries_with_their_signatures_checked() {
    let app = spawn_stepped_app(|config| config.header_alias = vec!["Gogs".to_owned()]).await;
    let mut listening = Listening::start(&["--secret", "s3", "--json"]).await;
    for (secret, valid) in [("s3", true), ("not-the-secret", false)] {
        app.create_hook(
            "/repos/acme/widgets/hooks",
            ADMIN_TOKEN,
            &json!({"config": {"url": listening.url, "secret": secret, "content_type": "json"}}),
        )
        .await;
        app.deliver_due().await;
        let line = listening.next_json().await;
        assert_eq!(line["event"], "ping");
        assert_eq!(
            line["signatures"],
            json!({"sha256": valid, "sha1": valid, "x-gogs-signature": valid}),
            "secret {secret}"
        );
        assert!(line["guid"].as_str().unwrap().len() == 36);
    }

    let mut text = Listening::start(&["--secret", "s3", "--status", "503"]).await;
    let hook = app
        .create_hook(
            "/orgs/acme/hooks",
            ADMIN_TOKEN,
            &json!({"config": {"url": text.url, "secret": "s3"}}),
        )
        .await;
    app.deliver_due().await;
    let line = text.next_line().await;
    assert!(
        line.contains(" ping ") && line.contains("sha256 ✔") && line.contains("sha1 ✔"),
        "{line}"
    );
    let log = app.deliveries(&hook_path("/orgs/acme/hooks", &hook)).await;
    assert_eq!(log[0]["status"], "Invalid HTTP Response: 503");
}

/// A Standard Webhooks signature computed here with the RustCrypto crates, not the server's
/// code: `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`.
fn standard_signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    use base64::Engine;
    use hmac::{KeyInit, Mac};
    let engine = base64::engine::general_purpose::STANDARD;
    let key = engine
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", engine.encode(mac.finalize().into_bytes()))
}

async fn listen_accepts_a_standard_delivery_and_refuses_a_tampered_or_stale_one() {
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo=";
    let app = spawn_stepped_app(|_| {}).await;
    let mut listening = Listening::start(&["--secret", SECRET, "--json"]).await;
    let hook = app
        .create_hook(
            "/repos/acme/widgets/hooks",
            ADMIN_TOKEN,
            &json!({"config": {"url": listening.url, "secret": SECRET, "signature": "standard"}}),
        )
        .await;
    app.deliver_due().await;
    let line = listening.next_json().await;
    assert_eq!(line["signatures"], json!({"standard": true}));
    let log = app
        .deliveries(&hook_path("/repos/acme/widgets/hooks", &hook))
        .await;
    assert_eq!(log[0]["status"], "OK", "accepted");

    let client = crate::helpers::http_client();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let body = br#"{"zen":"Keep it logically awesome."}"#;
    let send = |timestamp: i64, signed: &'static [u8], sent: &'static [u8]| {
        client
            .post(&listening.url)
            .header("content-type", "application/json")
            .header("webhook-id", "msg_1")
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                standard_signature(SECRET, "msg_1", timestamp, signed),
            )
            .body(sent)
            .send()
    };
    let fine = send(now, body, body).await.unwrap();
    assert_eq!(fine.status(), reqwest::StatusCode::OK);
    let tampered = send(now, body, br#"{"zen":"Keep it logically awful."}"#)
        .await
        .unwrap();
    assert_eq!(
        tampered.status(),
        reqwest::StatusCode::UNAUTHORIZED,
        "tampered body"
    );
    let stale = send(now - 301, body, body).await.unwrap();
    assert_eq!(
        stale.status(),
        reqwest::StatusCode::UNAUTHORIZED,
        "stale timestamp"
    );
    for expected in [true, false, false] {
        assert_eq!(
            listening.next_json().await["signatures"]["standard"],
            expected
        );
    }
}

async fn listen_forwards_requests_byte_for_byte_and_relays_the_answer() {
    let app = spawn_stepped_app(|_| {}).await;
    let receiver = TestReceiver::start().await;
    let mut listening = Listening::start(&["--forward", &receiver.url]).await;
    let hook = app
        .create_hook(
            "/repos/acme/widgets/hooks",
            ADMIN_TOKEN,
            &json!({"events": ["issues"], "config": {"url": listening.url, "secret": "s", "headers": {"X-Custom": "1"}}}),
        )
        .await;
    app.deliver_due().await;
    listening.next_line().await;
    receiver.next_of("ping").await;
    app.publish(
        "issues",
        "acme/widgets",
        json!({"action": "opened", "text": "a&b=c"}),
    )
    .await;
    app.deliver_due().await;
    assert!(listening.next_line().await.contains("issues.opened"));
    let relayed = receiver.next_of("issues").await;

    let path = hook_path("/repos/acme/widgets/hooks", &hook);
    let item = app.deliveries(&path).await[0].clone();
    let detail = app
        .get(&format!("{path}/deliveries/{}", item["id"]), ADMIN_TOKEN)
        .await
        .body;
    let sent_body = format!(
        "payload={}",
        url::form_urlencoded::byte_serialize(br#"{"action":"opened","text":"a&b=c"}"#)
            .collect::<String>()
    );
    assert_eq!(
        relayed.body,
        sent_body.as_bytes(),
        "the body, byte for byte"
    );
    for (name, value) in detail["request"]["headers"].as_object().unwrap() {
        assert_eq!(relayed.header(name), value.as_str(), "header {name}");
    }
    assert_eq!(
        detail["response"]["payload"], "answered 200",
        "the app's answer came back"
    );
    assert_eq!(detail["response"]["headers"]["x-receiver"], "test");
}

async fn run_publish(app: &TestApp, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let server = format!("http://{}", app.address);
    let mut child = Command::new(BINARY)
        .arg("publish")
        .args(args)
        .env("HOOKPOST_SERVER", server)
        .env("HOOKPOST_TOKEN", ADMIN_TOKEN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or("").as_bytes())
        .await
        .unwrap();
    drop(input);
    child.wait_with_output().await.unwrap()
}

async fn publish_sends_one_event_from_standard_input() {
    let app = spawn_stepped_app(|_| {}).await;
    app.create_hook(
        "/repos/acme/widgets/hooks",
        ADMIN_TOKEN,
        &json!({"active": false, "events": ["issues"], "config": {"url": "http://a.example/"}}),
    )
    .await;
    let output = run_publish(
        &app,
        &["--repo", "acme/widgets", "--event", "issues", "-"],
        Some(r#"{"action": "opened"}"#),
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["deliveries"], 0, "the hook is inactive");
    assert_eq!(answer["id"].as_str().unwrap().len(), 36);

    let refused = run_publish(
        &app,
        &["--repo", "acme/widgets", "--event", "Bad!", "-"],
        Some("{}"),
    )
    .await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("event"));
}

async fn an_ndjson_import_reports_every_bad_line_and_publishes_the_rest() {
    let app = spawn_stepped_app(|_| {}).await;
    let bad = [3usize, 500, 7777, 9999];
    let mut ndjson = String::new();
    for line in 1..=10_000usize {
        let record = match line {
            3 => "{not json".to_owned(),
            500 => {
                json!({"event": "Bad!", "repository": "acme/widgets", "payload": {}}).to_string()
            }
            7777 => json!({"event": "push", "repository": "acme/widgets"}).to_string(),
            9999 => "[1, 2]".to_owned(),
            n => json!({"event": "push", "repository": "acme/widgets", "payload": {"n": n}})
                .to_string(),
        };
        ndjson.push_str(&record);
        ndjson.push('\n');
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), ndjson).unwrap();
    let output = run_publish(&app, &["--ndjson", file.path().to_str().unwrap()], None).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "bad lines make the exit status fail"
    );
    for line in bad {
        assert!(
            stderr.contains(&format!("line {line}: ")),
            "line {line} reported: {stderr}"
        );
    }
    let reported = stderr
        .lines()
        .filter(|line| line.starts_with("line "))
        .count();
    assert_eq!(reported, bad.len(), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("published 9996 events"), "{stdout}");

    let metrics = app.metrics_text().await;
    assert!(
        metrics
            .lines()
            .any(|line| line == "hookpost_events_published_total 9996"),
        "{metrics}"
    );
}

/// `hookpost recover` against a delivering server: it starts the recovery, shows its
/// progress, and ends when every failed delivery was attempted again.
async fn recover_redelivers_failed_deliveries_with_a_progress_bar() {
    let app = spawn_delivering_app(|config| {
        config.delivery.retry_schedule = "none".parse().unwrap();
    })
    .await;
    let receiver = TestReceiver::start().await;
    let hook = app
        .create_hook(
            "/repos/acme/widgets/hooks",
            ADMIN_TOKEN,
            &json!({"events": ["push"], "config": {"url": receiver.url}}),
        )
        .await;
    receiver.next_of("ping").await;
    // The receiver picks its answer after handing the request over: wait until the ping's
    // 200 is recorded before turning it to 500s.
    let path = hook_path("/repos/acme/widgets/hooks", &hook);
    for _ in 0..500 {
        if !app.deliveries(&path).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    receiver.set(Behaviour::Status(500));
    for n in 0..20 {
        app.publish("push", "acme/widgets", json!({"n": n})).await;
    }
    for _ in 0..20 {
        receiver.next_of("push").await;
    }
    receiver.set(Behaviour::Status(200));
    let hook_id = hook["id"].to_string();
    let run = |since: &'static str| {
        let server = format!("http://{}", app.address);
        let hook_id = hook_id.clone();
        async move {
            Command::new(BINARY)
                .args(["recover", "--repo", "acme/widgets", "--hook", &hook_id])
                .args(["--since", since, "--wait", "60s"])
                .env("HOOKPOST_SERVER", server)
                .env("HOOKPOST_TOKEN", ADMIN_TOKEN)
                .stdin(Stdio::null())
                .output()
                .await
                .unwrap()
        }
    };
    let output = run("1h").await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("20/20 attempted: 20 succeeded, 0 failed"),
        "{stderr}"
    );
    let recovery: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(recovery["state"], "finished");
    assert_eq!(recovery["succeeded"], 20);
    for _ in 0..20 {
        receiver.next_of("push").await;
    }
    assert_eq!(receiver.pending().await, 0, "each once");

    let refused = run("last week").await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("ISO 8601"));
}

crate::harness::tests!(
    listen_accepts_a_standard_delivery_and_refuses_a_tampered_or_stale_one,
    listen_prints_deliveries_with_their_signatures_checked,
    listen_forwards_requests_byte_for_byte_and_relays_the_answer,
    publish_sends_one_event_from_standard_input,
    an_ndjson_import_reports_every_bad_line_and_publishes_the_rest,
    recover_redelivers_failed_deliveries_with_a_progress_bar,
);
