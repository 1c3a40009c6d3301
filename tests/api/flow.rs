//! Flow control of a hook: its rate limit, on a delivering server over real sockets.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, TestApp, hook_path, spawn_delivering_app};
use crate::receiver::{Behaviour, TestReceiver};
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
    for refused in [
        json!("lifo"),
        json!(1),
        json!("fifo".repeat(100_000)),
        json!({}),
    ] {
        let reply = app
            .patch(
                &format!("{path}/config"),
                ADMIN_TOKEN,
                &json!({"ordering": refused, "rate_limit": 7}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.body["errors"][0]["field"], "config.ordering");
        assert!(
            reply.body.to_string().len() < 10_000,
            "the error does not echo it"
        );
    }
    let config = app.get(&format!("{path}/config"), ADMIN_TOKEN).await.body;
    assert_eq!(config["rate_limit"], 50, "unchanged: {config}");
    assert!(config.get("ordering").is_none(), "side by side: {config}");

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

/// A receiver that fails the first attempt of every event whose `n` is in `fail_first`,
/// and records, in order, the `n` of each request it answered 200, and the most requests
/// it held at once.
pub struct OrderReceiver {
    pub url: String,
    state: std::sync::Arc<std::sync::Mutex<OrderState>>,
}

#[derive(Default)]
struct OrderState {
    fail_first: std::collections::HashSet<u64>,
    seen: std::collections::HashSet<u64>,
    accepted: Vec<u64>,
    holding: usize,
    most_held: usize,
}

impl OrderReceiver {
    pub async fn start(fail_first: impl IntoIterator<Item = u64>) -> Self {
        use http_body_util::BodyExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let state = std::sync::Arc::new(std::sync::Mutex::new(OrderState {
            fail_first: fail_first.into_iter().collect(),
            ..OrderState::default()
        }));
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |request: hyper::Request<hyper::body::Incoming>| {
                            let state = state.clone();
                            async move {
                                state.lock().unwrap().enter();
                                let body = request.into_body().collect().await;
                                // Long enough that an overlapping request would be seen.
                                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                                let n = body
                                    .ok()
                                    .and_then(|body| {
                                        serde_json::from_slice::<Value>(&body.to_bytes()).ok()
                                    })
                                    .and_then(|payload| payload["n"].as_u64());
                                let status = state.lock().unwrap().answer(n);
                                let mut response = hyper::Response::new(http_body_util::Empty::<
                                    hyper::body::Bytes,
                                >::new(
                                ));
                                *response.status_mut() =
                                    hyper::StatusCode::from_u16(status).unwrap();
                                Ok::<_, std::convert::Infallible>(response)
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        OrderReceiver { url, state }
    }

    /// Waits (up to 60 s) until `count` events were accepted; returns their `n` in the
    /// order accepted, and the most requests held at once.
    pub async fn accepted(&self, count: usize) -> (Vec<u64>, usize) {
        for _ in 0..600 {
            {
                let state = self.state.lock().unwrap();
                if state.accepted.len() >= count {
                    return (state.accepted.clone(), state.most_held);
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let state = self.state.lock().unwrap();
        panic!("only {:?} of {count} were accepted", state.accepted);
    }
}

impl OrderState {
    fn enter(&mut self) {
        self.holding += 1;
        self.most_held = self.most_held.max(self.holding);
    }

    /// 500 for the first attempt of a failing event, else 200 (recorded); pings pass.
    fn answer(&mut self, n: Option<u64>) -> u16 {
        self.holding -= 1;
        let Some(n) = n else { return 200 };
        if self.fail_first.contains(&n) && self.seen.insert(n) {
            return 500;
        }
        self.accepted.push(n);
        200
    }
}

/// A FIFO hook whose receiver fails the first attempt of every fourth event gets every
/// event once accepted, in the order published, one request at a time: each failing head
/// is retried (after 1 s) while the rest wait.
async fn a_fifo_hook_receives_in_commit_order_one_at_a_time_through_failures() {
    let app = spawn_delivering_app(|_| {}).await;
    let receiver = OrderReceiver::start((0..12).filter(|n| n % 4 == 1)).await;
    let hook = app
        .create_hook(
            REPO_HOOKS,
            ADMIN_TOKEN,
            &json!({"config": {"url": receiver.url, "content_type": "json",
                               "ordering": "fifo", "retry_schedule": "1s"}}),
        )
        .await;
    assert_eq!(hook["config"]["ordering"], "fifo", "{hook}");
    for n in 0..12 {
        app.publish("push", "acme/widgets", json!({"n": n})).await;
    }
    let (accepted, most_held) = receiver.accepted(12).await;
    assert_eq!(accepted, (0..12).collect::<Vec<u64>>(), "commit order");
    assert_eq!(most_held, 1, "one at a time");
    let log = app.deliveries(&hook_path(REPO_HOOKS, &hook)).await;
    assert_eq!(
        log.iter().filter(|item| item["trigger"] == "retry").count(),
        3,
        "events 1, 5 and 9 were retried: {log:?}"
    );
}

/// A server that retries nothing and disables a hook after 1 s of failures.
pub async fn spawn_disabling_app() -> TestApp {
    spawn_delivering_app(|config| {
        config.delivery.retry_schedule = "none".parse().unwrap();
        config.delivery.disable_after =
            hookpost::delivery::disable::DisableAfter(Some(std::time::Duration::from_secs(1)));
    })
    .await
}

/// Publishes failing pushes to the hook at `path` until `--disable-after` disables it
/// (at most 30 s); returns the hook.
pub async fn fail_until_disabled(app: &TestApp, path: &str) -> Value {
    for n in 0..300 {
        app.publish("push", "acme/widgets", json!({"failing": n}))
            .await;
        let hook = app.get(path, ADMIN_TOKEN).await.body;
        if hook["disabled_at"].is_string() {
            return hook;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the hook was never disabled");
}

/// A hook whose attempts all fail past `--disable-after` is disabled; the 100 events
/// published meanwhile are held (listed with `?status=held` only) and nothing is sent to
/// it; re-activated, it receives all 100, in the order they were published, one at a time.
async fn a_disabled_hook_holds_its_events_and_gets_them_in_order_when_re_activated() {
    let app = spawn_disabling_app().await;
    let failing = TestReceiver::start().await;
    failing.set(Behaviour::Status(500));
    let hook = app
        .create_hook(
            REPO_HOOKS,
            ADMIN_TOKEN,
            &json!({"config": {"url": failing.url, "content_type": "json"}}),
        )
        .await;
    let path = hook_path(REPO_HOOKS, &hook);
    let disabled = fail_until_disabled(&app, &path).await;
    assert_eq!(disabled["active"], false, "{disabled}");
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("every attempt failed"),
        "{disabled}"
    );
    crate::schema::assert_matches("hook", &disabled);
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("hookpost_hooks_disabled_total 1"),
        "{metrics}"
    );
    // Whatever was in flight when it was disabled has ended by now.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let sent_before = failing.pending().await;

    let published_from = Timestamp::now();
    for n in 0..100 {
        app.publish("push", "acme/widgets", json!({"n": n})).await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(
        failing.pending().await,
        sent_before,
        "nothing is sent while it is disabled"
    );
    let held = app
        .get(
            &format!("{path}/deliveries?status=held&per_page=100"),
            ADMIN_TOKEN,
        )
        .await;
    assert_eq!(held.status, StatusCode::OK, "{}", held.body);
    let held = held.body.as_array().unwrap().clone();
    assert_eq!(held.len(), 100);
    assert!(held.iter().all(|item| item["status"] == "held"));
    for item in &held {
        crate::schema::assert_matches("hook-delivery-item", item);
    }
    let log = app.deliveries(&path).await;
    assert!(
        log.iter().all(|item| item["status"] != "held"),
        "the default list has attempts only"
    );
    // A recovery of their window takes the held ones: nothing is sent while the hook is
    // disabled, and the recovery runs until they have gone.
    let window = json!({"since": published_from.to_precise()});
    let recovery = app
        .post(&format!("{path}/deliveries/recover"), ADMIN_TOKEN, &window)
        .await;
    assert_eq!(recovery.status, StatusCode::ACCEPTED, "{}", recovery.body);
    assert_eq!(
        (&recovery.body["deliveries"], &recovery.body["state"]),
        (&json!(100), &json!("running")),
        "{}",
        recovery.body
    );
    let progress_url = format!("{path}/recoveries/{}", recovery.body["id"]);
    // (A failing push published as the hook was being disabled may be held too.)
    let metrics = app.metrics_text().await;
    let counted: f64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("hookpost_deliveries_held "))
        .and_then(|value| value.parse().ok())
        .expect("the held gauge is exposed");
    assert!(counted >= 100.0, "the held ones are counted: {counted}");

    // Re-activated on a receiver that works: all 100, in order, one at a time.
    let working = OrderReceiver::start([]).await;
    let started = std::time::Instant::now();
    let reactivated = app
        .patch(
            &path,
            ADMIN_TOKEN,
            &json!({"active": true, "config": {"url": working.url, "content_type": "json"}}),
        )
        .await;
    assert_eq!(reactivated.status, StatusCode::OK);
    assert!(reactivated.body.get("disabled_at").is_none());
    let (accepted, most_held) = working.accepted(100).await;
    eprintln!(
        "disabled after {sent_before} failed requests; 100 events held, none sent; \
         re-activated: {} received in {:?}, in publish order: {}, most at once: {most_held}",
        accepted.len(),
        started.elapsed(),
        accepted == (0..100).collect::<Vec<u64>>()
    );
    assert_eq!(accepted, (0..100).collect::<Vec<u64>>(), "in publish order");
    assert_eq!(most_held, 1);
    let mut progress = Value::Null;
    for _ in 0..100 {
        progress = app.get(&progress_url, ADMIN_TOKEN).await.body;
        if progress["state"] == "finished" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        (
            &progress["done"],
            &progress["succeeded"],
            &progress["state"]
        ),
        (&json!(100), &json!(100), &json!("finished")),
        "{progress}"
    );
    let held = app
        .get(&format!("{path}/deliveries?status=held"), ADMIN_TOKEN)
        .await;
    assert_eq!(held.body, json!([]));
}

/// A hook its owner deactivated gets nothing held, as on GitHub: re-activated, it gets
/// only what is published after.
async fn a_hook_its_owner_deactivated_holds_nothing() {
    let app = spawn_disabling_app().await;
    let receiver = TestReceiver::start().await;
    let hook = app
        .create_hook(
            REPO_HOOKS,
            ADMIN_TOKEN,
            &json!({"config": {"url": receiver.url, "content_type": "json"}}),
        )
        .await;
    receiver.next_of("ping").await;
    let path = hook_path(REPO_HOOKS, &hook);
    app.patch(&path, ADMIN_TOKEN, &json!({"active": false}))
        .await;
    app.publish("push", "acme/widgets", json!({"n": 1})).await;
    let held = app
        .get(&format!("{path}/deliveries?status=held"), ADMIN_TOKEN)
        .await;
    assert_eq!(held.body, json!([]));
    app.patch(&path, ADMIN_TOKEN, &json!({"active": true}))
        .await;
    app.publish("push", "acme/widgets", json!({"n": 2})).await;
    let got = receiver.next_of("push").await;
    let payload: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(
        payload["n"], 2,
        "the push of the inactive spell is not sent"
    );
}

crate::harness::tests!(
    a_rate_limited_hook_never_gets_more_than_its_limit_and_the_log_says_who_waited,
    waiting_for_a_rate_limit_holds_no_attempt_slot,
    rate_limits_are_checked_and_refused_values_change_nothing,
    a_fifo_hook_receives_in_commit_order_one_at_a_time_through_failures,
    a_disabled_hook_holds_its_events_and_gets_them_in_order_when_re_activated,
    a_hook_its_owner_deactivated_holds_nothing,
);
