//! `GET /metrics`: valid Prometheus text whose counters follow what happens.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, TestApp, spawn_stepped_app};
use crate::receiver::{Behaviour, TestReceiver};

/// Parses the text exposition format strictly enough to reject anything malformed:
/// `# HELP`/`# TYPE`/`# EOF` comments, and `name{label="value",…} number` samples.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    for line in text.lines().filter(|line| !line.is_empty()) {
        if let Some(comment) = line.strip_prefix("# ") {
            assert!(
                comment.starts_with("HELP ") || comment.starts_with("TYPE ") || comment == "EOF",
                "unexpected comment: {line}"
            );
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name: {line}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "unclosed labels: {line}");
        }
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        samples.insert(series.to_owned(), value);
    }
    samples
}

async fn scrape(app: &TestApp) -> HashMap<String, f64> {
    parse(&app.metrics_text().await)
}

async fn counters_move_as_events_are_published_and_delivered() {
    let app = spawn_stepped_app(|_| {}).await;
    let receiver = TestReceiver::start().await;
    app.create_hook(
        "/repos/acme/widgets/hooks",
        ADMIN_TOKEN,
        &json!({"config": {"url": receiver.url}}),
    )
    .await;
    app.deliver_due().await;
    for _ in 0..3 {
        app.publish("push", "acme/widgets", json!({})).await;
    }
    let before = scrape(&app).await;
    assert_eq!(before["hookpost_deliveries_due"], 3.0);
    assert_eq!(app.deliver_due().await, 3);
    receiver.set(Behaviour::Status(500));
    app.publish("push", "acme/widgets", json!({})).await;
    app.deliver_due().await;

    let after = scrape(&app).await;
    assert_eq!(after["hookpost_events_published_total"], 4.0);
    assert_eq!(
        after["hookpost_delivery_attempts_total{outcome=\"success\"}"], 4.0,
        "three events and the ping"
    );
    assert_eq!(
        after["hookpost_delivery_attempts_total{outcome=\"failure\"}"],
        1.0
    );
    assert_eq!(
        after["hookpost_delivery_attempt_duration_seconds_count"],
        5.0
    );
    assert_eq!(after["hookpost_deliveries_due"], 0.0);
    assert_eq!(
        after["hookpost_deliveries_scheduled"], 1.0,
        "the failure waits for its retry"
    );
    assert_eq!(
        after["hookpost_request_header_sets"], 2.0,
        "one template of request headers for the ping, one for the four pushes"
    );
    assert_eq!(
        after["hookpost_http_requests_total{method=\"POST\",route=\"/api/v3/events\",status=\"202\"}"],
        4.0
    );
    assert!(
        after.contains_key("hookpost_http_requests_total{method=\"POST\",route=\"/api/v3/repos/{owner}/{repo}/hooks\",status=\"201\"}"),
        "routes are labelled by template, not by path"
    );
    assert!(
        after.keys().all(|series| !series.contains("acme")),
        "no names or ids as labels"
    );
}

async fn a_metrics_token_closes_the_endpoint() {
    let app =
        crate::helpers::spawn_app_with(|config| config.metrics_token = Some("m3trics".to_owned()))
            .await;
    let url = format!("http://{}/metrics", app.address);
    for (header, status) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some("Bearer wrong"), StatusCode::UNAUTHORIZED),
        (Some("Bearer m3trics"), StatusCode::OK),
    ] {
        let mut request = app.client.get(&url);
        if let Some(header) = header {
            request = request.header("Authorization", header);
        }
        assert_eq!(request.send().await.unwrap().status(), status, "{header:?}");
    }
}

/// Per-hook series exist for the ten hooks with the most due deliveries only, and follow
/// the queue: 12 hooks, hook i with i due deliveries, give the series of the top ten.
async fn per_hook_series_are_bounded_to_the_busiest_hooks() {
    let app = spawn_stepped_app(|_| {}).await;
    let mut hook_ids = Vec::new();
    for n in 1..=12 {
        let hook = app
            .create_hook(
                &format!("/repos/acme/repo{n}/hooks"),
                ADMIN_TOKEN,
                &json!({"active": false, "config": {"url": "http://10.0.0.1/hook"}}),
            )
            .await;
        hook_ids.push(hook["id"].as_i64().unwrap());
        for _ in 0..n {
            app.publish("push", &format!("acme/repo{n}"), json!({}))
                .await;
        }
    }
    // Inactive hooks receive nothing; active ones (to an address the test server blocks, so
    // that an attempt fails at once and waits for its retry) get hook i i deliveries.
    let samples = scrape(&app).await;
    assert!(
        !samples.keys().any(|key| key.starts_with("hookpost_hook_")),
        "no series for hooks with nothing due"
    );
    for (index, id) in hook_ids.iter().enumerate() {
        let n = index + 1;
        let path = format!("/repos/acme/repo{n}/hooks/{id}");
        let reply = app
            .patch(&path, ADMIN_TOKEN, &json!({"active": true}))
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        for _ in 0..n {
            app.publish("push", &format!("acme/repo{n}"), json!({}))
                .await;
        }
    }
    let samples = scrape(&app).await;
    let due: Vec<(&String, &f64)> = samples
        .iter()
        .filter(|(key, _)| key.starts_with("hookpost_hook_deliveries_due{"))
        .collect();
    assert_eq!(due.len(), 10, "{due:?}");
    for (index, id) in hook_ids.iter().enumerate() {
        let series = format!("hookpost_hook_deliveries_due{{hook_id=\"{id}\"}}");
        let expected = (index >= 2).then_some((index + 1) as f64);
        assert_eq!(samples.get(&series).copied(), expected, "{series}");
        let age = format!("hookpost_hook_oldest_due_delivery_age_seconds{{hook_id=\"{id}\"}}");
        assert_eq!(samples.contains_key(&age), index >= 2, "{age}");
    }
    // Attempted (and failed, so waiting for a retry), none is due: no series are left.
    app.deliver_due().await;
    let samples = scrape(&app).await;
    assert!(!samples.keys().any(|key| key.starts_with("hookpost_hook_")));
}

crate::harness::tests!(
    per_hook_series_are_bounded_to_the_busiest_hooks,
    counters_move_as_events_are_published_and_delivered,
    a_metrics_token_closes_the_endpoint,
);
