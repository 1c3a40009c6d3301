//! What receivers get: GitHub's wire format byte for byte, fan-out, and every way a
//! receiver can fail.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, TestApp, hook_path, spawn_delivering_app, spawn_stepped_app};
use crate::receiver::{Behaviour, TestReceiver};
use crate::schema::assert_matches;

const REPO_HOOKS: &str = "/repos/acme/widgets/hooks";

/// HMACs computed here with the RustCrypto crates directly, not through the server's code.
pub fn hmac_sha256(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn hmac_sha1(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn issue_payload() -> Value {
    json!({
        "action": "opened",
        "issue": {"id": 126, "number": 5, "title": "5", "body": "a & b = c"},
        "repository": {"id": 1210, "name": "widgets", "full_name": "acme/widgets"},
        "sender": {"id": 1346, "login": "xxxx"}
    })
}

async fn a_json_delivery_is_signed_like_github_with_mirror_and_custom_headers() {
    let app = spawn_stepped_app(|config| {
        config.header_alias = vec!["Apigit".to_owned(), "Gogs".to_owned()];
    })
    .await;
    let receiver = TestReceiver::start().await;
    let secret = "It's a Secret to Everybody";
    let hook = app
        .create_hook(
            REPO_HOOKS,
            ADMIN_TOKEN,
            &json!({"events": ["issues"], "config": {"url": receiver.url, "content_type": "json",
                    "secret": secret, "headers": {"X-My-Request-Header": "XXX"}}}),
        )
        .await;
    let path = hook_path(REPO_HOOKS, &hook);

    assert_eq!(
        app.deliver_due().await,
        1,
        "creating an active hook pings it"
    );
    let ping = receiver.next_of("ping").await;
    let ping_body: Value = serde_json::from_slice(&ping.body).unwrap();
    assert_eq!(ping_body["hook_id"], hook["id"]);
    assert_eq!(ping_body["hook"]["id"], hook["id"]);
    assert!(ping_body["zen"].as_str().is_some_and(|zen| !zen.is_empty()));

    let payload = issue_payload();
    let guid = app.publish("issues", "acme/widgets", payload.clone()).await;
    assert_eq!(app.deliver_due().await, 1);
    let got = receiver.next_of("issues").await;

    assert_eq!(
        got.body,
        serde_json::to_vec(&payload).unwrap(),
        "the payload as published"
    );
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert!(
        got.header("user-agent")
            .unwrap()
            .starts_with("Hookpost-Hookshot/")
    );
    assert_eq!(got.header("x-github-delivery"), Some(guid.as_str()));
    assert_eq!(
        got.header("x-github-hook-id"),
        Some(hook["id"].to_string().as_str())
    );
    assert_eq!(
        got.header("x-github-hook-installation-target-type"),
        Some("repository")
    );
    assert_eq!(
        got.header("x-github-hook-installation-target-id"),
        Some("1210")
    );
    let sha256 = hmac_sha256(secret, &got.body);
    assert_eq!(
        got.header("x-hub-signature-256"),
        Some(format!("sha256={sha256}").as_str())
    );
    let sha1 = hmac_sha1(secret, &got.body);
    assert_eq!(
        got.header("x-hub-signature"),
        Some(format!("sha1={sha1}").as_str())
    );
    for alias in ["apigit", "gogs"] {
        assert_eq!(got.header(&format!("x-{alias}-event")), Some("issues"));
        assert_eq!(
            got.header(&format!("x-{alias}-delivery")),
            Some(guid.as_str())
        );
        assert_eq!(
            got.header(&format!("x-{alias}-signature")),
            Some(sha256.as_str())
        );
    }
    assert_eq!(got.header("x-my-request-header"), Some("XXX"));
    assert_ne!(
        ping.header("x-github-delivery"),
        got.header("x-github-delivery"),
        "a GUID per event"
    );

    let log = app.deliveries(&path).await;
    assert_eq!(log.len(), 2);
    for item in &log {
        assert_matches("hook-delivery-item", item);
    }
    let item = &log[0];
    assert_eq!(item["guid"], guid);
    assert_eq!(item["event"], "issues");
    assert_eq!(item["action"], "opened");
    assert_eq!(item["status"], "OK");
    assert_eq!(item["status_code"], 200);
    assert_eq!(item["redelivery"], false);
    assert_eq!(item["repository_id"], 1210);
    assert_eq!(log[1]["event"], "ping");

    let detail = app
        .get(&format!("{path}/deliveries/{}", item["id"]), ADMIN_TOKEN)
        .await
        .body;
    assert_matches("hook-delivery", &detail);
    assert_eq!(detail["url"], receiver.url);
    assert_eq!(detail["request"]["payload"], payload);
    assert_eq!(detail["request"]["headers"]["X-GitHub-Event"], "issues");
    assert_eq!(
        detail["request"]["headers"]["X-Hub-Signature-256"],
        format!("sha256={sha256}")
    );
    assert_eq!(detail["response"]["payload"], "answered 200");
    assert_eq!(detail["response"]["headers"]["x-receiver"], "test");

    let hook_now = app.get(&path, ADMIN_TOKEN).await.body;
    assert_eq!(
        hook_now["last_response"],
        json!({"code": 200, "status": "active", "message": "OK"})
    );
    assert_matches("hook", &hook_now);
}

/// GitHub's ping always names the repository (or organization) of its hook: before anything
/// was published for it, a minimal object with Hookpost's own id; after, the published one.
async fn a_ping_always_carries_its_repository_or_organization() {
    let app = spawn_stepped_app(|_| {}).await;
    let receiver = TestReceiver::start().await;
    let body = json!({"config": {"url": receiver.url, "content_type": "json"}});
    app.create_hook(REPO_HOOKS, ADMIN_TOKEN, &body).await;
    app.create_hook("/orgs/Acme/hooks", ADMIN_TOKEN, &body)
        .await;
    app.deliver_due().await;
    let mut pings = Vec::new();
    for _ in 0..2 {
        let ping = receiver.next_of("ping").await;
        pings.push(serde_json::from_slice::<Value>(&ping.body).unwrap());
    }
    let repository = pings
        .iter()
        .find_map(|ping| ping.get("repository"))
        .expect("the repository hook's ping names its repository");
    assert_eq!(repository["full_name"], "acme/widgets");
    assert_eq!(repository["name"], "widgets");
    assert_eq!(repository["owner"]["login"], "acme");
    assert!(repository["id"].is_i64(), "{repository}");
    let organization = pings
        .iter()
        .find_map(|ping| ping.get("organization"))
        .expect("the organization hook's ping names its organization");
    assert_eq!(
        organization["login"], "acme",
        "as first spelled (by the repository hook)"
    );
    assert!(organization["id"].is_i64(), "{organization}");

    // Once one is published, the ping carries that one.
    app.publish(
        "issues",
        "acme/widgets",
        json!({"action": "opened", "repository": {"id": 42, "full_name": "acme/widgets", "private": true}}),
    )
    .await;
    app.deliver_due().await;
    let path = format!("{REPO_HOOKS}/1/pings");
    let reply = app.post(&path, ADMIN_TOKEN, &json!({})).await;
    assert_eq!(reply.status, reqwest::StatusCode::NO_CONTENT);
    app.deliver_due().await;
    let ping = receiver.next_of("ping").await;
    let ping: Value = serde_json::from_slice(&ping.body).unwrap();
    assert_eq!(ping["repository"]["id"], 42);
    assert_eq!(ping["repository"]["private"], true);
}

async fn a_form_delivery_without_secret_is_url_encoded_and_unsigned() {
    let app = spawn_stepped_app(|config| config.header_alias = vec!["Apigit".to_owned()]).await;
    let receiver = TestReceiver::start().await;
    app.create_hook(
        REPO_HOOKS,
        ADMIN_TOKEN,
        &json!({"events": ["issues"], "config": {"url": receiver.url}}),
    )
    .await;
    app.deliver_due().await;
    receiver.next_of("ping").await;

    let payload = issue_payload();
    app.publish("issues", "acme/widgets", payload.clone()).await;
    app.deliver_due().await;
    let got = receiver.next_of("issues").await;
    assert_eq!(
        got.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(&got.body)
        .into_owned()
        .collect();
    assert_eq!(fields.len(), 1);
    assert_eq!(fields[0].0, "payload");
    assert_eq!(
        serde_json::from_str::<Value>(&fields[0].1).unwrap(),
        payload
    );
    assert_eq!(got.header("x-hub-signature"), None);
    assert_eq!(got.header("x-hub-signature-256"), None);
    assert_eq!(
        got.header("x-apigit-signature"),
        Some(""),
        "present and empty, as in the APIGit seed"
    );
}

async fn events_fan_out_to_every_subscribed_active_hook_and_no_other() {
    let app = spawn_stepped_app(|_| {}).await;
    let receiver = TestReceiver::start().await;
    let url = receiver.url.clone();
    let make = |events: Value, active: bool| json!({"active": active, "events": events, "config": {"url": url}});
    let issues = app
        .create_hook(REPO_HOOKS, ADMIN_TOKEN, &make(json!(["issues"]), true))
        .await;
    let everything = app
        .create_hook(REPO_HOOKS, ADMIN_TOKEN, &make(json!(["*"]), true))
        .await;
    app.create_hook(REPO_HOOKS, ADMIN_TOKEN, &make(json!(["push"]), true))
        .await;
    app.create_hook(REPO_HOOKS, ADMIN_TOKEN, &make(json!(["issues"]), false))
        .await;
    let org = app
        .create_hook(
            "/orgs/acme/hooks",
            ADMIN_TOKEN,
            &make(json!(["issues", "push"]), true),
        )
        .await;
    app.create_hook("/orgs/globex/hooks", ADMIN_TOKEN, &make(json!(["*"]), true))
        .await;
    app.create_hook(
        "/repos/acme/other/hooks",
        ADMIN_TOKEN,
        &make(json!(["*"]), true),
    )
    .await;
    assert_eq!(app.deliver_due().await, 6, "a ping for each active hook");
    for _ in 0..6 {
        receiver.next_of("ping").await;
    }

    let reply = app
        .post(
            "/events",
            ADMIN_TOKEN,
            &json!({"event": "issues", "repository": "acme/widgets", "payload": issue_payload()}),
        )
        .await;
    assert_eq!(reply.body["deliveries"], 3);
    assert_eq!(app.deliver_due().await, 3);
    let mut hook_ids = Vec::new();
    for _ in 0..3 {
        let got = receiver.next_of("issues").await;
        hook_ids.push(
            got.header("x-github-hook-id")
                .unwrap()
                .parse::<i64>()
                .unwrap(),
        );
    }
    hook_ids.sort_unstable();
    let mut expected: Vec<i64> = [&issues, &everything, &org]
        .iter()
        .map(|h| h["id"].as_i64().unwrap())
        .collect();
    expected.sort_unstable();
    assert_eq!(hook_ids, expected);
    assert_eq!(receiver.pending().await, 0);

    // An organization hook's request names the organization as its target.
    let org_log = app.deliveries(&hook_path("/orgs/acme/hooks", &org)).await;
    assert_eq!(org_log[0]["event"], "issues");

    let none = app
        .post(
            "/events",
            ADMIN_TOKEN,
            &json!({"event": "label", "repository": "acme/widgets", "payload": {}}),
        )
        .await;
    assert_eq!(none.body["deliveries"], 1, "only the '*' hook wants labels");
}

/// Each hostile or failing receiver ends in the right status, and the delivery is retried.
async fn failing_receivers_get_the_right_status_and_a_retry() {
    let app = spawn_stepped_app(|config| {
        config.delivery.delivery_timeout = std::time::Duration::from_millis(1500);
    })
    .await;
    let cases = [
        (Behaviour::Status(500), "Invalid HTTP Response: 500", 500),
        (Behaviour::Status(404), "Invalid HTTP Response: 404", 404),
        (Behaviour::Redirect, "Invalid HTTP Response: 302", 302),
        (Behaviour::Close, "failed to connect to host", 0),
        (Behaviour::Hang, "timed out", 0),
    ];
    for (index, (behaviour, status, code)) in cases.into_iter().enumerate() {
        let receiver = TestReceiver::start().await;
        receiver.set(behaviour);
        let collection = format!("/repos/acme/case{index}/hooks");
        let hook = app
            .create_hook(
                &collection,
                ADMIN_TOKEN,
                &json!({"active": false, "config": {"url": receiver.url}}),
            )
            .await;
        let path = hook_path(&collection, &hook);
        app.patch(&path, ADMIN_TOKEN, &json!({"active": true}))
            .await;
        app.publish(
            "push",
            &format!("acme/case{index}"),
            json!({"ref": "refs/heads/main"}),
        )
        .await;
        let start = hookpost::domain::timestamp::Timestamp::now();
        assert_eq!(
            app.deliver_due_at(start).await,
            1,
            "{behaviour:?}: no ping on re-activation"
        );
        receiver.next().await;
        let log = app.deliveries(&path).await;
        assert_eq!(log.len(), 1);
        assert_eq!(log[0]["status"], status, "{behaviour:?}");
        assert_eq!(log[0]["status_code"], code, "{behaviour:?}");
        let shown = app.get(&path, ADMIN_TOKEN).await.body["last_response"].clone();
        let shown_code = if code == 0 { Value::Null } else { json!(code) };
        assert_eq!(
            shown,
            json!({"code": shown_code, "status": "failed", "message": status})
        );

        // The retry comes 10 s (±20%) after the attempt ended (a hang ends at the 1.5 s
        // timeout) on the default schedule; the next one only a minute after that.
        let later = hookpost::domain::timestamp::Timestamp(start.0 + 16_000);
        receiver.set(Behaviour::Status(200));
        assert_eq!(
            app.deliver_due_at(later).await,
            1,
            "{behaviour:?} is retried"
        );
        let log = app.deliveries(&path).await;
        assert_eq!(log[0]["status"], "OK");
        assert_eq!(log[0]["redelivery"], true);
        assert_eq!(log[0]["guid"], log[1]["guid"]);
        if behaviour == Behaviour::Redirect {
            let first = receiver.next().await;
            assert_eq!(first.path, "/hook", "the redirect was not followed");
        }
    }
}

async fn a_flood_of_a_response_is_cut_at_64_kib() {
    let app = spawn_stepped_app(|_| {}).await;
    let receiver = TestReceiver::start().await;
    receiver.set(Behaviour::Flood);
    let hook = app
        .create_hook(
            REPO_HOOKS,
            ADMIN_TOKEN,
            &json!({"config": {"url": receiver.url}}),
        )
        .await;
    app.deliver_due().await;
    let path = hook_path(REPO_HOOKS, &hook);
    let item = &app.deliveries(&path).await[0];
    assert_eq!(item["status"], "OK");
    let detail = app
        .get(&format!("{path}/deliveries/{}", item["id"]), ADMIN_TOKEN)
        .await
        .body;
    assert_eq!(
        detail["response"]["payload"].as_str().unwrap().len(),
        64 * 1024
    );
}

async fn https_receivers_are_verified_unless_the_hook_says_insecure_ssl() {
    let app = spawn_stepped_app(|_| {}).await;
    let receiver = TestReceiver::start_tls().await;
    let insecure = app
        .create_hook(
            REPO_HOOKS,
            ADMIN_TOKEN,
            &json!({"config": {"url": receiver.url, "insecure_ssl": "1", "secret": "s"}}),
        )
        .await;
    let verified = app
        .create_hook(
            REPO_HOOKS,
            ADMIN_TOKEN,
            &json!({"config": {"url": receiver.url, "insecure_ssl": "0"}}),
        )
        .await;
    assert_eq!(app.deliver_due().await, 2);
    let got = receiver.next_of("ping").await;
    assert_eq!(
        got.header("x-hub-signature-256"),
        Some(format!("sha256={}", hmac_sha256("s", &got.body)).as_str())
    );
    assert_eq!(
        app.deliveries(&hook_path(REPO_HOOKS, &insecure)).await[0]["status"],
        "OK"
    );
    let refused = &app.deliveries(&hook_path(REPO_HOOKS, &verified)).await[0];
    assert!(
        refused["status"]
            .as_str()
            .unwrap()
            .starts_with("TLS error: "),
        "{refused}"
    );
    assert_eq!(refused["status_code"], 0);
}

async fn non_public_destinations_are_blocked_by_default() {
    let app = crate::helpers::spawn_app().await;
    let receiver = TestReceiver::start().await;
    let port = receiver
        .url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let targets = [
        (format!("http://127.0.0.1:{port}/hook"), "127.0.0.1"),
        (format!("http://localhost:{port}/hook"), "127.0.0.1"),
        (format!("http://[::1]:{port}/hook"), "::1"),
        ("http://10.0.0.1/hook".to_owned(), "10.0.0.1"),
        ("http://172.16.0.1/hook".to_owned(), "172.16.0.1"),
        ("http://192.168.1.1/hook".to_owned(), "192.168.1.1"),
        (
            "http://169.254.169.254/latest/meta-data".to_owned(),
            "169.254.169.254",
        ),
        ("http://[fc00::1]/hook".to_owned(), "fc00::1"),
    ];
    let mut hooks = Vec::new();
    for (url, _) in &targets {
        hooks.push(
            app.create_hook(REPO_HOOKS, ADMIN_TOKEN, &json!({"config": {"url": url}}))
                .await,
        );
    }
    assert_eq!(app.deliver_due().await, targets.len());
    for (hook, (url, address)) in hooks.iter().zip(&targets) {
        let item = &app.deliveries(&hook_path(REPO_HOOKS, hook)).await[0];
        let status = item["status"].as_str().unwrap();
        if url.contains("localhost") {
            // localhost may resolve to ::1 first; either way it is loopback.
            assert!(
                status == "blocked: 127.0.0.1 is not a public address"
                    || status == "blocked: ::1 is not a public address",
                "{status}"
            );
        } else {
            assert_eq!(
                status,
                format!("blocked: {address} is not a public address"),
                "{url}"
            );
        }
        assert_eq!(item["status_code"], 0);
    }
    assert_eq!(receiver.pending().await, 0, "nothing reached the receiver");
}

async fn loopback_is_reachable_when_the_operator_allows_it() {
    for allow in [
        |config: &mut hookpost::config::ServeConfig| config.delivery.allow_private_targets = true,
        |config: &mut hookpost::config::ServeConfig| {
            config.delivery.allow_target =
                vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        },
    ] {
        let app = crate::helpers::spawn_app_with(allow).await;
        let receiver = TestReceiver::start().await;
        let by_name = receiver.url.replace("127.0.0.1", "localhost");
        for url in [&receiver.url, &by_name] {
            app.create_hook(REPO_HOOKS, ADMIN_TOKEN, &json!({"config": {"url": url}}))
                .await;
        }
        assert_eq!(app.deliver_due().await, 2);
        receiver.next_of("ping").await;
        receiver.next_of("ping").await;
    }
}

async fn the_background_worker_delivers_as_soon_as_an_event_is_published() {
    let app = spawn_delivering_app(|_| {}).await;
    let receiver = TestReceiver::start().await;
    app.create_hook(
        REPO_HOOKS,
        ADMIN_TOKEN,
        &json!({"events": ["push"], "config": {"url": receiver.url}}),
    )
    .await;
    receiver.next_of("ping").await;
    let guid = app
        .publish("push", "acme/widgets", json!({"ref": "refs/heads/main"}))
        .await;
    let got = receiver.next_of("push").await;
    assert_eq!(got.header("x-github-delivery"), Some(guid.as_str()));
    app.stop().await;
}

async fn one_slow_receiver_cannot_take_every_slot() {
    let app = spawn_delivering_app(|config| {
        config.delivery.per_destination_concurrency = 1;
        config.delivery.delivery_timeout = std::time::Duration::from_secs(5);
    })
    .await;
    let slow = TestReceiver::start().await;
    let fast = TestReceiver::start().await;
    app.create_hook(
        "/repos/acme/slow/hooks",
        ADMIN_TOKEN,
        &json!({"config": {"url": slow.url}}),
    )
    .await;
    slow.next_of("ping").await;
    slow.set(Behaviour::Hang);
    for _ in 0..3 {
        app.publish("push", "acme/slow", json!({})).await;
    }
    slow.next_of("push").await;
    // The slow host holds its one slot; another host is served meanwhile.
    let by_name = fast.url.replace("127.0.0.1", "localhost");
    app.create_hook(
        "/repos/acme/fast/hooks",
        ADMIN_TOKEN,
        &json!({"config": {"url": by_name}}),
    )
    .await;
    fast.next_of("ping").await;
    app.publish("push", "acme/fast", json!({})).await;
    fast.next_of("push").await;
    assert_eq!(
        slow.pending().await,
        0,
        "the slow host gets one request at a time"
    );
}

/// A hook on `repository` (`owner/name`) to `receiver`, whose ping has arrived.
async fn pinged_hook(app: &TestApp, repository: &str, receiver: &TestReceiver) {
    app.create_hook(
        &format!("/repos/{repository}/hooks"),
        ADMIN_TOKEN,
        &json!({"config": {"url": receiver.url}}),
    )
    .await;
    receiver.next_of("ping").await;
}

/// Owner A's receiver accepts and never answers while A's backlog is larger than what the
/// worker may hold in memory; owner B's deliveries still go out at once.
async fn a_hanging_destination_of_one_owner_does_not_hold_up_another() {
    let app = spawn_delivering_app(|config| {
        // Sixteen deliveries held in memory, four attempts at once, two per destination.
        config.delivery.concurrency = 4;
        config.delivery.per_destination_concurrency = 2;
        config.delivery.delivery_timeout = std::time::Duration::from_secs(120);
    })
    .await;
    let blackhole = TestReceiver::start().await;
    let healthy = TestReceiver::start().await;
    pinged_hook(&app, "alpha/stuck", &blackhole).await;
    blackhole.set(Behaviour::Hang);
    for _ in 0..40 {
        app.publish("push", "alpha/stuck", json!({})).await;
    }
    blackhole.next_of("push").await;
    blackhole.next_of("push").await;

    pinged_hook(&app, "beta/fine", &healthy).await;
    let guid = app.publish("push", "beta/fine", json!({})).await;
    let got = healthy.next_of("push").await;
    assert_eq!(got.header("x-github-delivery"), Some(guid.as_str()));
    assert_eq!(
        blackhole.pending().await,
        0,
        "the hanging destination gets two attempts at a time"
    );
    let metrics = app.metrics_text().await;
    let deferred: f64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("hookpost_deliveries_deferred_total "))
        .and_then(|value| value.parse().ok())
        .expect("the deferral counter is exposed");
    assert!(
        deferred >= 1.0,
        "the rest of its backlog waits in the database: {deferred}"
    );
}

/// One owner's hooks to several hanging destinations take at most three quarters of the
/// attempt slots; another owner's delivery takes the rest.
async fn no_owner_takes_every_attempt_slot() {
    let app = spawn_delivering_app(|config| {
        config.delivery.concurrency = 4;
        config.delivery.per_destination_concurrency = 1;
        config.delivery.delivery_timeout = std::time::Duration::from_secs(120);
    })
    .await;
    let mut hanging = Vec::new();
    for _ in 0..4 {
        let receiver = TestReceiver::start().await;
        pinged_hook(&app, "alpha/many", &receiver).await;
        receiver.set(Behaviour::Hang);
        hanging.push(receiver);
    }
    app.publish("push", "alpha/many", json!({})).await;
    let mut started = 0;
    for _ in 0..200 {
        started = 0;
        for receiver in &hanging {
            started += receiver.pending().await;
        }
        if started >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let healthy = TestReceiver::start().await;
    pinged_hook(&app, "beta/fine", &healthy).await;
    app.publish("push", "beta/fine", json!({})).await;
    healthy.next_of("push").await;
    let mut now_started = 0;
    for receiver in &hanging {
        now_started += receiver.pending().await;
    }
    assert_eq!(
        (started, now_started),
        (3, 3),
        "the fourth hanging hook waits for a slot of its owner's share"
    );
}

/// Credentials in custom headers (`Authorization`, `Proxy-Authorization`, names with
/// `token`, `secret` or `key`) and a URL's password are sent as they are and shown nowhere:
/// the hook, its delivery log; sent back masked, they are kept.
async fn credentials_in_headers_and_urls_are_sent_but_never_shown() {
    let app = spawn_stepped_app(|_| {}).await;
    let receiver = TestReceiver::start().await;
    let url = receiver.url.replace("http://", "http://robot:pa55-w0rd@");
    let credentials = json!({
        "Proxy-Authorization": "Basic cHJveHktY3JlZA==",
        "X-API-Key": "key-value-1",
        "X-Session-Token": "token-value-2",
        "x-client-secret": "secret-value-3",
        "X-Team": "platform",
    });
    let hook = app
        .create_hook(
            REPO_HOOKS,
            ADMIN_TOKEN,
            &json!({"events": ["push"], "config": {"url": url, "headers": credentials}}),
        )
        .await;
    let path = hook_path(REPO_HOOKS, &hook);
    let hidden = [
        "pa55-w0rd",
        "cHJveHktY3JlZA==",
        "key-value-1",
        "token-value-2",
        "secret-value-3",
    ];
    let shown = hook["config"].to_string();
    for value in hidden {
        assert!(!shown.contains(value), "{value} in {shown}");
    }
    assert_eq!(hook["config"]["headers"]["X-Team"], "platform");
    assert!(
        hook["config"]["url"]
            .as_str()
            .unwrap()
            .contains("robot:********@")
    );

    // The hook as shown, sent back: every credential kept.
    let sent_back = app
        .patch(&format!("{path}/config"), ADMIN_TOKEN, &hook["config"])
        .await;
    assert_eq!(sent_back.status, 200, "{:?}", sent_back.body);
    app.deliver_due().await;
    receiver.next_of("ping").await;
    app.publish("push", "acme/widgets", json!({})).await;
    app.deliver_due().await;
    let got = receiver.next_of("push").await;
    assert_eq!(
        got.header("authorization"),
        Some("Basic cm9ib3Q6cGE1NS13MHJk"),
        "robot:pa55-w0rd"
    );
    assert_eq!(
        got.header("proxy-authorization"),
        Some("Basic cHJveHktY3JlZA==")
    );
    assert_eq!(got.header("x-api-key"), Some("key-value-1"));
    assert_eq!(got.header("x-session-token"), Some("token-value-2"));
    assert_eq!(got.header("x-client-secret"), Some("secret-value-3"));

    let log = app.deliveries(&path).await;
    let detail = app
        .get(&format!("{path}/deliveries/{}", log[0]["id"]), ADMIN_TOKEN)
        .await;
    let logged = detail.body.to_string();
    for value in hidden {
        assert!(!logged.contains(value), "{value} in {logged}");
    }
    assert!(logged.contains("platform"), "{logged}");
}

async fn the_background_worker_wakes_for_a_scheduled_retry() {
    let app = spawn_delivering_app(|config| {
        config.delivery.retry_schedule = "200ms".parse().unwrap();
    })
    .await;
    let receiver = TestReceiver::start().await;
    app.create_hook(
        REPO_HOOKS,
        ADMIN_TOKEN,
        &json!({"events": ["push"], "config": {"url": receiver.url}}),
    )
    .await;
    receiver.next_of("ping").await;
    receiver.set(Behaviour::Status(503));
    let guid = app.publish("push", "acme/widgets", json!({})).await;
    receiver.next_of("push").await;
    receiver.set(Behaviour::Status(200));
    // Nothing else happens: only the retry's own time can wake the worker.
    let retried = receiver.next_of("push").await;
    assert_eq!(retried.header("x-github-delivery"), Some(guid.as_str()));
    app.stop().await;
}

/// A receiver that reads requests off the socket as bytes: each request head, as sent, and
/// how many connections carried them.
struct RawReceiver {
    url: String,
    port: u16,
    heads: tokio::sync::mpsc::UnboundedReceiver<String>,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl RawReceiver {
    async fn start() -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}/hook?from=test");
        let (sender, heads) = tokio::sync::mpsc::unbounded_channel();
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let sender = sender.clone();
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    // At most 100 requests per connection, each head under 64 KiB.
                    for _ in 0..100 {
                        let head_end = loop {
                            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                                break end + 4;
                            }
                            let mut chunk = [0u8; 8192];
                            match stream.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(read) if buffer.len() + read < 65536 => {
                                    buffer.extend_from_slice(&chunk[..read]);
                                }
                                Ok(_) => return,
                            }
                        };
                        let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
                        let length: usize = head
                            .lines()
                            .find_map(|line| line.strip_prefix("Content-Length: "))
                            .and_then(|value| value.trim().parse().ok())
                            .unwrap_or(0);
                        while buffer.len() < head_end + length {
                            let mut chunk = [0u8; 8192];
                            match stream.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(read) => buffer.extend_from_slice(&chunk[..read]),
                            }
                        }
                        buffer.drain(..head_end + length);
                        let _ = sender.send(head);
                        let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                        if stream.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        RawReceiver {
            url,
            port,
            heads,
            connections,
        }
    }

    async fn next_head(&mut self) -> String {
        tokio::time::timeout(std::time::Duration::from_secs(20), self.heads.recv())
            .await
            .expect("a request arrives")
            .expect("the receiver runs")
    }
}

/// The header names of a request head, in order, as spelled on the wire.
fn names_on_the_wire(head: &str) -> Vec<&str> {
    head.split("\r\n")
        .skip(1)
        .filter_map(|line| line.split_once(": ").map(|(name, _)| name))
        .collect()
}

/// Receivers that read headers as sent (a serverless gateway's `event.headers`) see GitHub's
/// spelling, the mirror headers as configured and custom headers as their owner wrote them;
/// the next delivery reuses the connection.
async fn headers_keep_githubs_spelling_on_the_wire() {
    let app = spawn_stepped_app(|config| {
        config.header_alias = vec!["Gogs".to_owned()];
    })
    .await;
    let mut receiver = RawReceiver::start().await;
    app.create_hook(
        REPO_HOOKS,
        ADMIN_TOKEN,
        &json!({"events": ["push"], "config": {"url": receiver.url, "content_type": "json",
                "secret": "s", "headers": {"X-API-Key": "k", "x-lower-case": "v"}}}),
    )
    .await;
    assert_eq!(app.deliver_due().await, 1);
    let ping = receiver.next_head().await;
    app.publish("push", "acme/widgets", json!({"ref": "refs/heads/main"}))
        .await;
    assert_eq!(app.deliver_due().await, 1);
    let push = receiver.next_head().await;
    let port = receiver.port;
    for (head, event) in [(&ping, "ping"), (&push, "push")] {
        assert!(
            head.starts_with(&format!(
                "POST /hook?from=test HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            )),
            "{head}"
        );
        assert!(
            head.contains(&format!("\r\nX-GitHub-Event: {event}\r\n")),
            "{head}"
        );
        assert_eq!(
            names_on_the_wire(head),
            [
                "Host",
                "Content-Type",
                "User-Agent",
                "X-GitHub-Delivery",
                "X-GitHub-Event",
                "X-GitHub-Hook-ID",
                "X-GitHub-Hook-Installation-Target-ID",
                "X-GitHub-Hook-Installation-Target-Type",
                "X-Hub-Signature",
                "X-Hub-Signature-256",
                "X-Gogs-Delivery",
                "X-Gogs-Event",
                "X-Gogs-Signature",
                "X-API-Key",
                "x-lower-case",
                "Accept",
                "Content-Length",
            ],
            "{head}"
        );
    }
    assert_eq!(
        receiver
            .connections
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the second delivery reused the connection"
    );
}

/// A delivery whose request cannot even be built (a URL damaged in the database) still
/// ends: its attempt is recorded, failed, with a status that says why.
async fn a_delivery_that_cannot_be_built_is_recorded_failed() {
    let app = spawn_stepped_app(|_| {}).await;
    let hook = app
        .create_hook(
            REPO_HOOKS,
            ADMIN_TOKEN,
            &json!({"config": {"url": "http://a.example/hook"}}),
        )
        .await;
    app.storage
        .execute(&format!(
            "UPDATE hooks SET url = 'not a URL' WHERE id = {}",
            hook["id"]
        ))
        .await;
    assert_eq!(app.deliver_due().await, 1);
    let log = app.deliveries(&hook_path(REPO_HOOKS, &hook)).await;
    assert_eq!(log.len(), 1, "the ping's attempt is recorded");
    assert_eq!(
        log[0]["status"],
        "invalid request: relative URL without a base"
    );
    assert_eq!(log[0]["status_code"], 0);
    assert_eq!(
        app.deliver_due().await,
        0,
        "a ping is tried once: nothing left"
    );
}

/// One deadline covers the whole attempt: a receiver that answers at once but trickles the
/// body it promised, a byte at a time, is a `timed out` attempt at the deadline, not a
/// slot held for as long as it likes.
async fn a_trickled_body_times_out_at_the_deadline() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_stepped_app(|config| {
        config.delivery.delivery_timeout = std::time::Duration::from_millis(1000);
    })
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut request = vec![0u8; 65536];
        let _ = stream.read(&mut request).await;
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            .await;
        // At most 1,000 bytes, 10 a second: far past the deadline.
        for _ in 0..1000 {
            if stream.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
    let hook = app
        .create_hook(REPO_HOOKS, ADMIN_TOKEN, &json!({"config": {"url": url}}))
        .await;
    assert_eq!(app.deliver_due().await, 1);
    // Had the attempt waited for the body, it would have ended `OK`, 100 s later.
    let item = &app.deliveries(&hook_path(REPO_HOOKS, &hook)).await[0];
    assert_eq!(item["status"], "timed out");
    assert_eq!(item["status_code"], 0);
}

/// Proxy variables in the server's environment are not followed: a proxy would be sent the
/// hostname and the destination guard would only check the proxy's address (so names of
/// internal hosts would be reached through it). The delivery goes straight to the receiver.
async fn proxy_variables_are_not_followed() {
    let storage = crate::helpers::Storage::new().await;
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let proxied = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = proxied.clone();
    let proxy_task = tokio::spawn(async move {
        while let Ok((_connection, _)) = proxy.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let mut env = vec![
        ("HOOKPOST_ADMIN_TOKEN", ADMIN_TOKEN),
        ("HOOKPOST_ALLOW_TARGET", "127.0.0.0/8"),
    ];
    for name in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        env.push((name, proxy_url.as_str()));
    }
    let (_server, address) = crate::helpers::spawn_binary(&storage, &env).await;
    let receiver = TestReceiver::start().await;
    // By name, as a proxy would be asked for it.
    let url = receiver.url.replace("127.0.0.1", "localhost");
    let client = crate::helpers::http_client();
    let created = client
        .post(format!("http://{address}/api/v3{REPO_HOOKS}"))
        .header("Authorization", format!("token {ADMIN_TOKEN}"))
        .json(&crate::helpers::hook_body(&url))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);
    receiver.next_of("ping").await;
    assert_eq!(proxied.load(std::sync::atomic::Ordering::SeqCst), 0);
    proxy_task.abort();
}

/// 1,001 failing attempts (a ping and 1,000 pushes to a receiver answering 500, no
/// retries): each failure is logged once, at `info`, up to the rate limit, and summary
/// lines count the rest, so lines + suppressed = attempts.
async fn failed_attempts_are_logged_once_each_up_to_a_limit_then_summarized() {
    const PUSHES: usize = 1_000;
    let storage = crate::helpers::Storage::new().await;
    let receiver = TestReceiver::start().await;
    receiver.set(Behaviour::Status(500));
    let (server, address, log) = crate::helpers::spawn_binary_logged(
        &storage,
        &[
            ("HOOKPOST_ADMIN_TOKEN", ADMIN_TOKEN),
            ("HOOKPOST_ALLOW_TARGET", "127.0.0.0/8"),
            ("HOOKPOST_RETRY_SCHEDULE", "none"),
        ],
    )
    .await;
    let client = crate::helpers::http_client();
    let api = format!("http://{address}/api/v3");
    let post = |path: &str, body: Value| {
        client
            .post(format!("{api}{path}"))
            .header("Authorization", format!("token {ADMIN_TOKEN}"))
            .json(&body)
            .send()
    };
    let created = post(REPO_HOOKS, crate::helpers::hook_body(&receiver.url))
        .await
        .unwrap();
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);
    for n in 0..PUSHES {
        let event = json!({"event": "push", "repository": "acme/widgets", "payload": {"n": n}});
        let published = post("/events", event).await.unwrap();
        assert_eq!(published.status(), reqwest::StatusCode::ACCEPTED);
    }
    let failures = "hookpost_delivery_attempts_total{outcome=\"failure\"}";
    let mut made = 0;
    for _ in 0..600 {
        let origin = format!("http://{address}");
        made = crate::helpers::metric_total(&client, &origin, failures).await as usize;
        if made > PUSHES {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(made, PUSHES + 1, "every attempt was made");
    // The window the last attempts fell in ends, and its summary is written.
    tokio::time::sleep(hookpost::delivery::outcome_log::WINDOW + std::time::Duration::from_secs(1))
        .await;
    drop(server);
    let lines = log.await.unwrap();
    let failed: Vec<&String> = lines
        .iter()
        .filter(|line| line.contains("attempt failed"))
        .collect();
    let suppressed: usize = lines
        .iter()
        .filter_map(|line| {
            let count = line.split("suppressed=").nth(1)?;
            count.split_whitespace().next()?.parse::<usize>().ok()
        })
        .sum();
    assert!(suppressed > 0, "a summary counts the lines left out");
    assert_eq!(failed.len() + suppressed, PUSHES + 1);
    assert!(
        failed.len() <= PUSHES / 10,
        "{} lines: the limit holds",
        failed.len()
    );
    let mut guids = std::collections::HashSet::new();
    for line in &failed {
        assert!(line.contains("INFO") && line.contains("status="), "{line}");
        let guid = line
            .split("guid=")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next();
        assert!(guids.insert(guid), "each failure once: {line}");
    }
    assert!(!lines.iter().any(|line| line.contains("attempt succeeded")));
}

crate::harness::tests!(
    failed_attempts_are_logged_once_each_up_to_a_limit_then_summarized,
    proxy_variables_are_not_followed,
    a_ping_always_carries_its_repository_or_organization,
    a_json_delivery_is_signed_like_github_with_mirror_and_custom_headers,
    a_form_delivery_without_secret_is_url_encoded_and_unsigned,
    headers_keep_githubs_spelling_on_the_wire,
    events_fan_out_to_every_subscribed_active_hook_and_no_other,
    failing_receivers_get_the_right_status_and_a_retry,
    a_flood_of_a_response_is_cut_at_64_kib,
    a_delivery_that_cannot_be_built_is_recorded_failed,
    a_trickled_body_times_out_at_the_deadline,
    https_receivers_are_verified_unless_the_hook_says_insecure_ssl,
    non_public_destinations_are_blocked_by_default,
    loopback_is_reachable_when_the_operator_allows_it,
    the_background_worker_delivers_as_soon_as_an_event_is_published,
    one_slow_receiver_cannot_take_every_slot,
    a_hanging_destination_of_one_owner_does_not_hold_up_another,
    no_owner_takes_every_attempt_slot,
    credentials_in_headers_and_urls_are_sent_but_never_shown,
    the_background_worker_wakes_for_a_scheduled_retry,
);
