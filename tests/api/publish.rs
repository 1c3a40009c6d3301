//! The producer side: publishing, its validation, idempotency, dispatches, pings and tests.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, hook_path, spawn_app, spawn_app_with, spawn_stepped_app};
use crate::receiver::TestReceiver;
use crate::schema::assert_matches;

const REPO_HOOKS: &str = "/repos/acme/widgets/hooks";

async fn bad_publications_are_answered_and_never_stored() {
    let app = spawn_app_with(|config| config.max_payload_bytes = 2048).await;
    app.create_hook(
        REPO_HOOKS,
        ADMIN_TOKEN,
        &json!({"events": ["*"], "config": {"url": "http://a.example/"}}),
    )
    .await;
    for (body, message) in [
        (&b"{\"event\":"[..], "Problems parsing JSON"),
        (b"[]", "Body should be a JSON object"),
    ] {
        let reply = app.post_raw("/events", ADMIN_TOKEN, body.to_vec()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(reply.body["message"], message);
    }
    let valid = json!({"event": "push", "repository": "acme/widgets", "payload": {}});
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"repository": "acme/widgets", "payload": {}}),
            "event",
            "missing_field",
        ),
        (
            json!({"event": "Push!", "repository": "acme/widgets", "payload": {}}),
            "event",
            "invalid",
        ),
        (
            json!({"event": 7, "repository": "acme/widgets", "payload": {}}),
            "event",
            "invalid",
        ),
        (
            json!({"event": "a".repeat(65), "repository": "acme/widgets", "payload": {}}),
            "event",
            "invalid",
        ),
        (
            json!({"event": "push", "repository": "widgets", "payload": {}}),
            "repository",
            "invalid",
        ),
        (
            json!({"event": "push", "repository": ["acme/widgets"], "payload": {}}),
            "repository",
            "invalid",
        ),
        (
            json!({"event": "push", "organization": "a/b", "payload": {}}),
            "organization",
            "invalid",
        ),
        (
            json!({"event": "push", "payload": {}}),
            "repository",
            "missing_field",
        ),
        (
            json!({"event": "push", "repository": "acme/widgets"}),
            "payload",
            "missing_field",
        ),
        (
            json!({"event": "push", "repository": "acme/widgets", "payload": [1]}),
            "payload",
            "invalid",
        ),
        (
            json!({"event": "push", "repository": "acme/widgets", "payload": "{}"}),
            "payload",
            "invalid",
        ),
    ];
    for (body, field, code) in cases {
        let reply = app.post("/events", ADMIN_TOKEN, &body).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_matches("validation-error", &reply.body);
        assert_eq!(reply.body["errors"][0]["field"], field, "{body}");
        assert_eq!(reply.body["errors"][0]["code"], code, "{body}");
        assert_eq!(reply.body["errors"][0]["resource"], "Event");
    }
    let mut large = valid.clone();
    large["payload"] = json!({"blob": "x".repeat(4096)});
    let reply = app.post("/events", ADMIN_TOKEN, &large).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);

    let hook = app.get(REPO_HOOKS, ADMIN_TOKEN).await.body[0].clone();
    assert!(
        app.deliveries(&hook_path(REPO_HOOKS, &hook))
            .await
            .is_empty()
    );
    let reply = app.post("/events", ADMIN_TOKEN, &valid).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    assert_eq!(reply.body["deliveries"], 1, "only the valid one was queued");
}

async fn owners_publish_only_to_their_own_accounts() {
    let app = spawn_app().await;
    let alice = app.owner_token(&["acme"]).await;
    for body in [
        json!({"event": "push", "repository": "globex/tools", "payload": {}}),
        json!({"event": "push", "organization": "globex", "payload": {}}),
        json!({"event": "push", "repository": "acme/widgets", "organization": "globex", "payload": {}}),
    ] {
        assert_eq!(
            app.post("/events", &alice, &body).await.status,
            StatusCode::NOT_FOUND,
            "{body}"
        );
    }
    let mine = json!({"event": "push", "repository": "ACME/widgets", "payload": {}});
    let reply = app.post("/events", &alice, &mine).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    assert!(uuid_shaped(reply.body["id"].as_str().unwrap()));
    let reply = app
        .request(reqwest::Method::POST, "/events", None, Some(&mine))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

/// Event guids are UUIDs that sort in publish order (version 7: a millisecond clock, then
/// random bits): the stores' unique index on them grows at one end, so a commit rewrites
/// one of its pages instead of one per event.
async fn event_guids_are_uuids_in_publish_order() {
    let app = spawn_app().await;
    let mut guids = Vec::new();
    for n in 0..20 {
        guids.push(app.publish("push", "acme/widgets", json!({"n": n})).await);
    }
    for guid in &guids {
        assert!(uuid_shaped(guid), "{guid}");
        assert_eq!(&guid[14..15], "7", "version 7: {guid}");
    }
    let mut sorted = guids.clone();
    sorted.sort();
    assert_eq!(sorted, guids);
}

fn uuid_shaped(text: &str) -> bool {
    text.len() == 36 && text.chars().filter(|c| *c == '-').count() == 4
}

async fn an_idempotency_key_replays_the_first_answer_and_queues_nothing_more() {
    let app = spawn_app().await;
    app.create_hook(
        REPO_HOOKS,
        ADMIN_TOKEN,
        &json!({"events": ["push"], "active": false, "config": {"url": "http://a.example/"}}),
    )
    .await;
    app.create_hook(
        REPO_HOOKS,
        ADMIN_TOKEN,
        &json!({"events": ["push"], "config": {"url": "http://b.example/"}}),
    )
    .await;
    let alice = app.owner_token(&["acme"]).await;
    let bob = app.owner_token(&["acme"]).await;
    let body = json!({"event": "push", "repository": "acme/widgets", "payload": {"ref": "main"}});
    let send = |token: String, body: Value, key: &'static str| {
        let app = &app;
        async move {
            let response = app
                .client
                .post(format!("{}/events", app.api))
                .header("Authorization", format!("token {token}"))
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, first) = send(alice.clone(), body.clone(), "k1").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(first["deliveries"], 1);
    let (status, again) = send(alice.clone(), body.clone(), "k1").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(again, first, "the first response, again");

    let mut other = body.clone();
    other["payload"]["ref"] = json!("dev");
    let (status, refused) = send(alice.clone(), other, "k1").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(refused["errors"][0]["field"], "Idempotency-Key");
    assert_eq!(refused["errors"][0]["code"], "already_exists");

    // Visible ASCII and spaces only: a tab (which HTTP would carry) is refused.
    for bad in ["a\tb", ""] {
        let (status, refused) = send(alice.clone(), body.clone(), bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}");
        assert!(
            refused["message"]
                .as_str()
                .unwrap()
                .starts_with("Idempotency-Key")
        );
    }

    let (status, bobs) = send(bob, body.clone(), "k1").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_ne!(bobs["id"], first["id"], "keys are scoped to the token");

    let hook = app.get(REPO_HOOKS, ADMIN_TOKEN).await.body[1].clone();
    let path = hook_path(REPO_HOOKS, &hook);
    let queued = app
        .worker
        .run_once(hookpost::domain::timestamp::Timestamp::now())
        .await
        .unwrap();
    assert_eq!(queued, 3, "the ping, alice's event once, bob's event");
    assert_eq!(app.deliveries(&path).await.len(), 3);
}

async fn dispatches_publish_repository_dispatch() {
    let app = spawn_stepped_app(|_| {}).await;
    let receiver = TestReceiver::start().await;
    app.create_hook(REPO_HOOKS, ADMIN_TOKEN, &json!({"events": ["repository_dispatch"], "config": {"url": receiver.url, "content_type": "json"}}))
        .await;
    // The latest objects are those of the last event that carried each, however often
    // the same ones came before (a store may skip writing what it just wrote).
    for id in [99, 100, 99] {
        app.publish("push", "acme/widgets", json!({"repository": {"id": id, "full_name": "acme/widgets"}, "sender": {"login": "octocat"}}))
            .await;
    }
    app.publish(
        "push",
        "acme/widgets",
        json!({"sender": {"login": "hubot"}}),
    )
    .await;
    let reply = app
        .post(
            "/repos/acme/widgets/dispatches",
            ADMIN_TOKEN,
            &json!({"event_type": "deploy", "client_payload": {"env": "prod"}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    app.deliver_due().await;
    receiver.next_of("ping").await;
    let got = receiver.next_of("repository_dispatch").await;
    let body: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(body["action"], "deploy");
    assert_eq!(body["client_payload"], json!({"env": "prod"}));
    assert_eq!(
        body["repository"]["id"], 99,
        "the latest repository object published"
    );
    assert_eq!(
        body["sender"]["login"], "hubot",
        "the latest sender published"
    );
    assert_eq!(
        got.header("x-github-hook-installation-target-id"),
        Some("99")
    );

    for body in [
        json!({}),
        json!({"event_type": ""}),
        json!({"event_type": "x", "client_payload": 3}),
    ] {
        let reply = app
            .post("/repos/acme/widgets/dispatches", ADMIN_TOKEN, &body)
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    let stranger = app.owner_token(&["globex"]).await;
    let reply = app
        .post(
            "/repos/acme/widgets/dispatches",
            &stranger,
            &json!({"event_type": "x"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

async fn pings_and_tests_deliver_on_demand() {
    let app = spawn_stepped_app(|_| {}).await;
    let receiver = TestReceiver::start().await;
    app.publish("issues", "acme/widgets", json!({"action": "opened", "organization": {"login": "acme", "id": 4}, "sender": {"login": "hubot"}}))
        .await;
    let hook = app
        .create_hook(
            REPO_HOOKS,
            ADMIN_TOKEN,
            &json!({"events": ["push"], "config": {"url": receiver.url}}),
        )
        .await;
    let org_hook = app
        .create_hook(
            "/orgs/acme/hooks",
            ADMIN_TOKEN,
            &json!({"events": ["push"], "config": {"url": receiver.url, "content_type": "json"}}),
        )
        .await;
    let path = hook_path(REPO_HOOKS, &hook);
    app.deliver_due().await;
    receiver.next_of("ping").await;
    let org_ping = receiver.next_of("ping").await;
    let org_ping: Value = serde_json::from_slice(&org_ping.body).unwrap();
    assert_eq!(
        org_ping["sender"]["login"], "hubot",
        "the organization's latest sender"
    );
    assert_eq!(org_ping["organization"]["id"], 4);
    assert_eq!(org_ping["hook"]["type"], "Organization");

    let reply = app
        .post(&format!("{path}/pings"), ADMIN_TOKEN, &json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    app.deliver_due().await;
    receiver.next_of("ping").await;

    // No push yet: the test endpoint answers 204 and sends nothing.
    assert_eq!(
        app.post(&format!("{path}/tests"), ADMIN_TOKEN, &json!({}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.deliver_due().await, 0);

    let guid = app
        .publish("push", "acme/widgets", json!({"ref": "refs/heads/main"}))
        .await;
    app.deliver_due().await;
    receiver.next_of("push").await;
    receiver.next_of("push").await;
    for endpoint in ["tests", "test"] {
        let reply = app
            .post(&format!("{path}/{endpoint}"), ADMIN_TOKEN, &json!({}))
            .await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT);
        assert_eq!(app.deliver_due().await, 1, "only to this hook");
        let again = receiver.next_of("push").await;
        assert_eq!(again.header("x-github-delivery"), Some(guid.as_str()));
    }
    let log = app.deliveries(&path).await;
    assert_eq!(log[0]["redelivery"], true);
    assert_eq!(log[0]["guid"], guid);
    let org_path = hook_path("/orgs/acme/hooks", &org_hook);
    assert_eq!(
        app.post(&format!("{org_path}/tests"), ADMIN_TOKEN, &json!({}))
            .await
            .status,
        StatusCode::NOT_FOUND,
        "organization hooks have no test endpoint"
    );
}

crate::harness::tests!(
    bad_publications_are_answered_and_never_stored,
    owners_publish_only_to_their_own_accounts,
    an_idempotency_key_replays_the_first_answer_and_queues_nothing_more,
    dispatches_publish_repository_dispatch,
    pings_and_tests_deliver_on_demand,
    event_guids_are_uuids_in_publish_order,
);
