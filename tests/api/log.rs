//! The delivery log API: paging by cursor while attempts keep arriving, filters, and
//! redelivery of the original payload.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, get_page, hook_path, spawn_stepped_app};
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

async fn filters_select_by_outcome_and_redelivery() {
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

    for (query, status) in [
        ("status=broken", StatusCode::UNPROCESSABLE_ENTITY),
        ("redelivery=yes", StatusCode::UNPROCESSABLE_ENTITY),
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

crate::harness::tests!(
    paging_by_link_returns_every_attempt_once_newest_first_while_more_arrive,
    filters_select_by_outcome_and_redelivery,
    a_redelivery_sends_the_original_payload_under_the_current_config,
    another_owners_delivery_log_is_not_found,
);
