//! The delivery log API: paging by cursor while attempts keep arriving, filters, and
//! redelivery of the original payload.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, TestApp, get_page, hook_path, spawn_stepped_app};
use crate::receiver::{Behaviour, TestReceiver};
use crate::schema::assert_matches;

const REPO_HOOKS: &str = "/repos/acme/widgets/hooks";

async fn paging_by_link_returns_every_attempt_once_newest_first_while_more_arrive() {
    let app = spawn_stepped_app(|_| {}).await;
    let receiver = TestReceiver::start().await;
    let hook = app
        .create_hook(
            REPO_HOOKS,
            ADMIN_TOKEN,
            &json!({"events": ["push"], "config": {"url": receiver.url}}),
        )
        .await;
    let path = hook_path(REPO_HOOKS, &hook);
    for n in 0..249 {
        app.publish("push", "acme/widgets", json!({"n": n})).await;
    }
    assert_eq!(app.deliver_due().await, 250, "249 pushes and the ping");

    let mut next = Some(format!("{}{path}/deliveries?per_page=7", app.api));
    let mut seen: Vec<i64> = Vec::new();
    let mut pages = 0;
    while let Some(url) = next {
        assert!(url.starts_with("http://"), "absolute: {url}");
        let (following, page) = get_page(&app, &url).await;
        assert!(page.len() <= 7);
        seen.extend(page.iter().map(|item| item["id"].as_i64().unwrap()));
        next = following;
        pages += 1;
        if pages == 3 {
            // New attempts arrive mid-way: they are newer than every cursor handed out.
            for n in 0..5 {
                app.publish("push", "acme/widgets", json!({"late": n}))
                    .await;
            }
            assert_eq!(app.deliver_due().await, 5);
        }
    }
    assert_eq!(seen.len(), 250, "every attempt exactly once");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 250);
    assert!(
        seen.windows(2).all(|pair| pair[0] > pair[1]),
        "newest first"
    );
    assert_eq!(pages, 36);
    let (_, newest) = get_page(&app, &format!("{}{path}/deliveries?per_page=100", app.api)).await;
    assert_eq!(newest.len(), 100, "per_page up to 100");
    assert!(newest[0]["id"].as_i64() > seen.first().copied());
}

/// A server that never retries, a receiver, and a push hook on it whose ping was
/// delivered; the hook's API path.
async fn push_hook_without_retries() -> (TestApp, TestReceiver, String) {
    let app = spawn_stepped_app(|config| {
        config.delivery.retry_schedule = "none".parse().unwrap();
    })
    .await;
    let receiver = TestReceiver::start().await;
    let hook = app
        .create_hook(
            REPO_HOOKS,
            ADMIN_TOKEN,
            &json!({"events": ["push"], "config": {"url": receiver.url}}),
        )
        .await;
    let path = hook_path(REPO_HOOKS, &hook);
    app.deliver_due().await;
    (app, receiver, path)
}

async fn filters_select_by_outcome_redelivery_trigger_event_guid_and_time() {
    let (app, receiver, path) = push_hook_without_retries().await;
    receiver.set(Behaviour::Status(502));
    for _ in 0..3 {
        app.publish("push", "acme/widgets", json!({})).await;
    }
    app.deliver_due().await;
    receiver.set(Behaviour::Close);
    app.publish("push", "acme/widgets", json!({})).await;
    app.deliver_due().await;
    receiver.set(Behaviour::Status(201));
    let failed = app.deliveries(&path).await[1]["id"].clone();
    app.post(
        &format!("{path}/deliveries/{failed}/attempts"),
        ADMIN_TOKEN,
        &json!({}),
    )
    .await;
    app.deliver_due().await;

    let count = |query: &'static str| {
        let app = &app;
        let path = path.clone();
        async move {
            let reply = app
                .get(&format!("{path}/deliveries?{query}"), ADMIN_TOKEN)
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{query}");
            reply.body.as_array().unwrap().len()
        }
    };
    assert_eq!(count("").await, 6);
    assert_eq!(
        count("status=success").await,
        2,
        "the ping and the redelivery"
    );
    assert_eq!(
        count("status=failure").await,
        4,
        "three 502s and a closed connection (0)"
    );
    assert_eq!(count("redelivery=true").await, 1);
    assert_eq!(count("redelivery=false").await, 5);
    assert_eq!(count("status=success&redelivery=true").await, 1);

    // Hookpost's filters: what made an attempt, its event, its guid, its time.
    assert_eq!(count("trigger=redelivery").await, 1);
    assert_eq!(count("trigger=retry").await, 0, "no retry schedule");
    assert_eq!(count("trigger=publish").await, 5);
    assert_eq!(count("event=ping").await, 1);
    assert_eq!(count("event=push&status=failure").await, 4);
    assert_eq!(count("event=issues").await, 0);
    let redelivered = app.deliveries(&path).await[0].clone();
    assert_eq!(redelivered["trigger"], "redelivery");
    assert_eq!(
        redelivered["attempt_number"], 1,
        "a redelivery counts from 1"
    );
    let guid = redelivered["guid"].as_str().unwrap();
    let same_event = app
        .get(&format!("{path}/deliveries?guid={guid}"), ADMIN_TOKEN)
        .await
        .body;
    let triggers: Vec<&str> = same_event
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["trigger"].as_str().unwrap())
        .collect();
    assert_eq!(
        triggers,
        ["redelivery", "publish"],
        "the event's two attempts"
    );
    assert_eq!(count("guid=no-such-guid").await, 0);
    assert_eq!(count("since=2000-01-01T00:00:00Z").await, 6);
    assert_eq!(count("until=2000-01-01T00:00:00Z").await, 0);
    assert_eq!(count("since=2999-01-01T00:00:00%2B02:00").await, 0);
    // The next page's link keeps the filters.
    let mut next = Some(format!(
        "{}{path}/deliveries?per_page=2&event=push&since=2000-01-01T00:00:00.5Z",
        app.api
    ));
    let mut pushes = 0;
    while let Some(url) = next {
        let (following, page) = get_page(&app, &url).await;
        assert!(page.iter().all(|item| item["event"] == "push"), "{url}");
        pushes += page.len();
        next = following;
    }
    assert_eq!(pushes, 5);

    for (query, status) in [
        ("status=broken", StatusCode::UNPROCESSABLE_ENTITY),
        ("redelivery=yes", StatusCode::UNPROCESSABLE_ENTITY),
        ("trigger=sometimes", StatusCode::UNPROCESSABLE_ENTITY),
        ("since=yesterday", StatusCode::UNPROCESSABLE_ENTITY),
        (
            "until=2026-13-01T00:00:00Z",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("per_page=0", StatusCode::UNPROCESSABLE_ENTITY),
        ("per_page=abc", StatusCode::UNPROCESSABLE_ENTITY),
        ("cursor=not-a-cursor", StatusCode::BAD_REQUEST),
    ] {
        let reply = app
            .get(&format!("{path}/deliveries?{query}"), ADMIN_TOKEN)
            .await;
        assert_eq!(reply.status, status, "{query}");
        assert!(
            reply.body["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
}

async fn a_redelivery_sends_the_original_payload_under_the_current_config() {
    let app = spawn_stepped_app(|_| {}).await;
    let first = TestReceiver::start().await;
    let second = TestReceiver::start().await;
    let hook = app
        .create_hook(
            REPO_HOOKS,
            ADMIN_TOKEN,
            &json!({"events": ["issues"], "config": {"url": first.url, "content_type": "json"}}),
        )
        .await;
    let path = hook_path(REPO_HOOKS, &hook);
    app.deliver_due().await;
    first.next_of("ping").await;
    let payload = json!({"action": "opened", "issue": {"number": 1}});
    let guid = app.publish("issues", "acme/widgets", payload.clone()).await;
    app.deliver_due().await;
    let original = first.next_of("issues").await;

    app.patch(
        &format!("{path}/config"),
        ADMIN_TOKEN,
        &json!({"url": second.url, "secret": "new"}),
    )
    .await;
    let item = app.deliveries(&path).await[0].clone();
    let reply = app
        .post(
            &format!("{path}/deliveries/{}/attempts", item["id"]),
            ADMIN_TOKEN,
            &json!({}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    app.deliver_due().await;
    let again = second.next_of("issues").await;
    assert_eq!(again.body, original.body);
    assert_eq!(again.header("x-github-delivery"), Some(guid.as_str()));
    assert!(
        again.header("x-hub-signature-256").is_some(),
        "signed with the current secret"
    );

    let log = app.deliveries(&path).await;
    assert_eq!(log[0]["redelivery"], true);
    assert_eq!(log[0]["guid"], guid);
    let detail = app
        .get(&format!("{path}/deliveries/{}", log[0]["id"]), ADMIN_TOKEN)
        .await
        .body;
    assert_matches("hook-delivery", &detail);
    assert_eq!(detail["request"]["payload"], payload);
    assert_eq!(detail["url"], second.url);

    for missing in [
        format!("{path}/deliveries/999999"),
        format!("{REPO_HOOKS}/999999/deliveries"),
        format!("/repos/acme/other/hooks/{}/deliveries", hook["id"]),
    ] {
        assert_eq!(
            app.get(&missing, ADMIN_TOKEN).await.status,
            StatusCode::NOT_FOUND,
            "{missing}"
        );
    }
    let reply = app
        .post(
            &format!("{path}/deliveries/999999/attempts"),
            ADMIN_TOKEN,
            &json!({}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

async fn another_owners_delivery_log_is_not_found() {
    let app = spawn_stepped_app(|_| {}).await;
    let receiver = TestReceiver::start().await;
    let bob = app.owner_token(&["globex"]).await;
    let alice = app.owner_token(&["acme"]).await;
    let hook = app
        .create_hook(
            "/orgs/globex/hooks",
            &bob,
            &json!({"config": {"url": receiver.url}}),
        )
        .await;
    app.deliver_due().await;
    let path = hook_path("/orgs/globex/hooks", &hook);
    let item = app.get(&format!("{path}/deliveries"), &bob).await.body[0].clone();
    assert_matches("hook-delivery-item", &item);
    for target in [
        format!("{path}/deliveries"),
        format!("{path}/deliveries/{}", item["id"]),
    ] {
        assert_eq!(app.get(&target, &alice).await.status, StatusCode::NOT_FOUND);
    }
    let reply = app
        .post(
            &format!("{path}/deliveries/{}/attempts", item["id"]),
            &alice,
            &json!({}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(app.deliver_due().await, 0, "nothing was queued");
}

/// Hookpost's bulk recovery: 1,000 failed deliveries of a window are each attempted once
/// more, with progress to follow; events outside the window, and a second
/// recovery while one runs, are left alone.
async fn a_recovery_redelivers_each_failed_delivery_of_its_window_once_and_reports_progress() {
    use hookpost::domain::timestamp::Timestamp;
    const FAILED: usize = 1000;
    let (app, receiver, path) = push_hook_without_retries().await;
    receiver.next_of("ping").await;
    receiver.set(Behaviour::Status(503));
    let since = Timestamp::now();
    let mut published = Vec::new();
    for n in 0..FAILED {
        published.push(app.publish("push", "acme/widgets", json!({"n": n})).await);
    }
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let until = Timestamp::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let outside = app
        .publish("push", "acme/widgets", json!({"late": true}))
        .await;
    let mut attempted = 0;
    while attempted < FAILED + 1 {
        let step = app.deliver_due().await;
        assert!(step > 0, "every published event is due");
        attempted += step;
    }
    for _ in 0..=FAILED {
        receiver.next_of("push").await;
    }
    receiver.set(Behaviour::Status(200));

    let window = json!({"since": since.to_precise(), "until": until.to_precise()});
    let started = app
        .post(&format!("{path}/deliveries/recover"), ADMIN_TOKEN, &window)
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    assert_eq!(started.body["deliveries"], FAILED);
    assert_eq!(started.body["state"], "running");
    let id = started.body["id"].as_i64().unwrap();
    let again = app
        .post(&format!("{path}/deliveries/recover"), ADMIN_TOKEN, &window)
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "one recovery at a time");
    let progress_url = format!("{path}/recoveries/{id}");
    let progress = || {
        let app = &app;
        let url = progress_url.clone();
        async move { app.get(&url, ADMIN_TOKEN).await.body }
    };
    assert_eq!(progress().await["done"], 0);

    let mut delivered = 0;
    while delivered < FAILED {
        let step = app.deliver_due().await;
        assert!(step > 0, "recovered deliveries are due at once");
        delivered += step;
        let seen = progress().await;
        eprintln!(
            "recovery progress: {} of {} done",
            seen["done"], seen["queued"]
        );
    }
    assert_eq!(delivered, FAILED);
    let mut guids = Vec::new();
    for _ in 0..FAILED {
        guids.push(
            receiver
                .next_of("push")
                .await
                .header("x-github-delivery")
                .unwrap()
                .to_owned(),
        );
    }
    // Attempts run side by side, so they may arrive in any order: compare as sets.
    let (mut received, mut expected) = (guids.clone(), published.clone());
    received.sort_unstable();
    received.dedup();
    expected.sort_unstable();
    assert!(
        received == expected,
        "each failed event of the window exactly once"
    );
    assert!(
        !guids.contains(&outside),
        "the event after the window is left alone"
    );
    assert_eq!(receiver.pending().await, 0);
    let done = progress().await;
    assert_eq!(
        (
            &done["state"],
            &done["queued"],
            &done["done"],
            &done["succeeded"],
            &done["failed"]
        ),
        (
            &json!("finished"),
            &json!(FAILED),
            &json!(FAILED),
            &json!(FAILED),
            &json!(0)
        ),
        "{done}"
    );
    eprintln!("recovery of {FAILED} failed deliveries: {done}");
    let recovered = app
        .get(
            &format!("{path}/deliveries?trigger=recovery&per_page=100"),
            ADMIN_TOKEN,
        )
        .await
        .body;
    assert_eq!(recovered.as_array().unwrap().len(), 100);
    assert!(
        recovered
            .as_array()
            .unwrap()
            .iter()
            .all(|item| item["trigger"] == "recovery"
                && item["redelivery"] == true
                && item["status_code"] == 200)
    );
    // Nothing in the window failed last any more: a new recovery finds nothing.
    let nothing = app
        .post(&format!("{path}/deliveries/recover"), ADMIN_TOKEN, &window)
        .await;
    assert_eq!(nothing.status, StatusCode::ACCEPTED);
    assert_eq!(nothing.body["deliveries"], 0);
    assert_eq!(nothing.body["state"], "finished");
    assert_eq!(app.deliver_due().await, 0);
}

async fn a_recovery_refuses_bad_windows_and_other_owners() {
    let app = spawn_stepped_app(|_| {}).await;
    let receiver = TestReceiver::start().await;
    let bob = app.owner_token(&["globex"]).await;
    let alice = app.owner_token(&["acme"]).await;
    let hook = app
        .create_hook(
            "/orgs/globex/hooks",
            &bob,
            &json!({"config": {"url": receiver.url}}),
        )
        .await;
    let path = hook_path("/orgs/globex/hooks", &hook);
    let recover = format!("{path}/deliveries/recover");
    for (body, field) in [
        (json!({}), "since"),
        (json!({"since": "yesterday"}), "since"),
        (
            json!({"since": "2026-01-01T00:00:00Z", "until": 5}),
            "until",
        ),
    ] {
        let reply = app.post(&recover, &bob, &body).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(reply.body["errors"][0]["field"], field, "{body}");
    }
    let window = json!({"since": "2000-01-01T00:00:00Z"});
    assert_eq!(
        app.post(&recover, &alice, &window).await.status,
        StatusCode::NOT_FOUND
    );
    let started = app.post(&recover, &bob, &window).await;
    assert_eq!(started.status, StatusCode::ACCEPTED);
    let mine = format!("{path}/recoveries/{}", started.body["id"]);
    assert_eq!(app.get(&mine, &alice).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&mine, &bob).await.status, StatusCode::OK);
    assert_eq!(
        app.get(&format!("{path}/recoveries/999999"), &bob)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

crate::harness::tests!(
    paging_by_link_returns_every_attempt_once_newest_first_while_more_arrive,
    filters_select_by_outcome_redelivery_trigger_event_guid_and_time,
    a_redelivery_sends_the_original_payload_under_the_current_config,
    another_owners_delivery_log_is_not_found,
    a_recovery_redelivers_each_failed_delivery_of_its_window_once_and_reports_progress,
    a_recovery_refuses_bad_windows_and_other_owners,
);
