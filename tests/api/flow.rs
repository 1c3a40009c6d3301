//! Flow control of a hook: its rate limit, on a delivering server over real sockets.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, TestApp, hook_path, spawn_delivering_app};
use crate::receiver::TestReceiver;
use hookpost::domain::timestamp::Timestamp;

const REPO_HOOKS: &str = "/repos/acme/widgets/hooks";

/// Takes `count` requests from `receiver`, each with when it was taken (at or after it
/// arrived).
pub async fn receipts(receiver: &TestReceiver, count: usize) -> Vec<Timestamp> {
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        receiver.next().await;
        times.push(Timestamp::now());
    }
    times
}

/// Fails unless the `k`-th receipt (0-based) came no sooner than a hook limited to `rate`
/// per second, idle since `start`, may send it: one second's worth at once, then one per
/// interval. Lateness never fails it, so a slow machine cannot.
pub fn assert_within_limit(receipts: &[Timestamp], start: Timestamp, rate: i64) {
    let interval = 1000 / rate;
    for (k, at) in receipts.iter().enumerate() {
        let earliest = start.0 + (k as i64 + 1 - rate) * interval;
        assert!(
            at.0 >= earliest,
            "receipt {k} came {} ms after the start, sooner than {} ms: {receipts:?}",
            at.0 - start.0,
            earliest - start.0
        );
    }
}

/// A hook limited to 5 deliveries per second (the ping counts) gets a second's worth at
/// once and then one every 200 ms, never sooner; the attempts that waited for their slot
/// show `throttled_at` in the log, the others do not.
async fn a_rate_limited_hook_never_gets_more_than_its_limit_and_the_log_says_who_waited() {
    let app = spawn_delivering_app(|_| {}).await;
    let receiver = TestReceiver::start().await;
    let start = Timestamp::now();
    let hook = app
        .create_hook(
            REPO_HOOKS,
            ADMIN_TOKEN,
            &json!({"config": {"url": receiver.url, "rate_limit": 5}}),
        )
        .await;
    assert_eq!(hook["config"]["rate_limit"], 5, "{hook}");
    for n in 0..15 {
        app.publish("push", "acme/widgets", json!({"n": n})).await;
    }
    let times = receipts(&receiver, 16).await;
    assert_within_limit(&times, start, 5);
    eprintln!(
        "16 deliveries at 5/s (burst 5): the last {} ms after the start",
        times[15].0 - start.0
    );

    let path = hook_path(REPO_HOOKS, &hook);
    let log = logged(&app, &path, 16).await;
    let throttled: Vec<&Value> = log
        .iter()
        .filter(|item| !item["throttled_at"].is_null())
        .collect();
    assert!(
        !throttled.is_empty() && log.len() - throttled.len() >= 5,
        "a second's worth went at once, the rest waited: {log:?}"
    );
    for item in &throttled {
        let waited = Timestamp::parse(item["throttled_at"].as_str().unwrap()).unwrap();
        let made = Timestamp::parse(item["delivered_at"].as_str().unwrap()).unwrap();
        assert!(waited.0 <= made.0, "{item}");
    }
}

/// The hook's delivery log once it holds `count` attempts (waits up to 10 s).
async fn logged(app: &TestApp, path: &str, count: usize) -> Vec<Value> {
    for _ in 0..100 {
        let log = app.deliveries(path).await;
        if log.len() >= count {
            return log;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{count} attempts are logged");
}

/// With one attempt slot in the whole server, a hook limited to 1 per second with 30
/// events waiting does not keep it: another hook's push goes out while that backlog waits
/// in the database (held in the slot, it would take 30 s; the receiver waits 20).
async fn waiting_for_a_rate_limit_holds_no_attempt_slot() {
    let app = spawn_delivering_app(|config| {
        config.delivery.concurrency = 1;
    })
    .await;
    let limited = TestReceiver::start().await;
    let other = TestReceiver::start().await;
    app.create_hook(
        REPO_HOOKS,
        ADMIN_TOKEN,
        &json!({"config": {"url": limited.url, "rate_limit": 1}}),
    )
    .await;
    limited.next_of("ping").await;
    for n in 0..30 {
        app.publish("push", "acme/widgets", json!({"n": n})).await;
    }
    app.create_hook(
        "/repos/acme/gadgets/hooks",
        ADMIN_TOKEN,
        &json!({"config": {"url": other.url}}),
    )
    .await;
    other.next_of("ping").await;
    app.publish("push", "acme/gadgets", json!({})).await;
    other.next_of("push").await;
    assert!(
        limited.pending().await < 10,
        "the limited hook's backlog is still waiting"
    );
}

/// `config.rate_limit` is a whole number from 1 to 100,000 or null: anything else is a
/// 422 on that field and changes nothing; null removes the limit; a GitHub client's
/// config update without it keeps it.
async fn rate_limits_are_checked_and_refused_values_change_nothing() {
    let app = spawn_delivering_app(|_| {}).await;
    let receiver = TestReceiver::start().await;
    let hook = app
        .create_hook(
            REPO_HOOKS,
            ADMIN_TOKEN,
            &json!({"config": {"url": receiver.url, "rate_limit": 50}}),
        )
        .await;
    let path = hook_path(REPO_HOOKS, &hook);
    for refused in [
        json!(0),
        json!(-1),
        json!(1.5),
        json!("5"),
        json!(true),
        json!(100_001),
        json!(1e12),
        json!([5]),
    ] {
        let reply = app
            .patch(
                &format!("{path}/config"),
                ADMIN_TOKEN,
                &json!({"rate_limit": refused}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(
            reply.body["errors"][0]["field"], "config.rate_limit",
            "{refused}: {}",
            reply.body
        );
        let created = app
            .post(
                REPO_HOOKS,
                ADMIN_TOKEN,
                &json!({"config": {"url": receiver.url, "rate_limit": refused}}),
            )
            .await;
        assert_eq!(
            created.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{refused}"
        );
    }
    let config = app.get(&format!("{path}/config"), ADMIN_TOKEN).await.body;
    assert_eq!(config["rate_limit"], 50, "unchanged: {config}");

    let kept = app
        .patch(
            &format!("{path}/config"),
            ADMIN_TOKEN,
            &json!({"url": receiver.url, "content_type": "json"}),
        )
        .await;
    assert_eq!(kept.body["rate_limit"], 50, "{}", kept.body);
    let whole = app
        .patch(&path, ADMIN_TOKEN, &json!({"config": {"rate_limit": 2.0}}))
        .await;
    assert_eq!(whole.body["config"]["rate_limit"], 2, "{}", whole.body);
    let removed = app
        .patch(
            &format!("{path}/config"),
            ADMIN_TOKEN,
            &json!({"rate_limit": null}),
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK);
    assert!(removed.body.get("rate_limit").is_none(), "{}", removed.body);
    let hooks = app.get(REPO_HOOKS, ADMIN_TOKEN).await.body;
    assert_eq!(hooks.as_array().unwrap().len(), 1, "no hook was created");
}

crate::harness::tests!(
    a_rate_limited_hook_never_gets_more_than_its_limit_and_the_log_says_who_waited,
    waiting_for_a_rate_limit_holds_no_attempt_slot,
    rate_limits_are_checked_and_refused_values_change_nothing,
);
