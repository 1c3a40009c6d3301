//! The retry schedule, redelivery rules, leases and retention, all on a clock the test
//! holds: no test here waits for real time to pass.

use std::time::Duration;

use hookpost::delivery::retention::prune_expired;
use hookpost::domain::hook::{HookInput, HookRules, HookScope, HookSettings};
use hookpost::domain::names::{Login, RepoName};
use hookpost::domain::timestamp::Timestamp;
use hookpost::metrics::Metrics;
use hookpost::store::{self, LatestObjects, NewEvent};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, Storage, TestApp, hook_path, spawn_stepped_app};
use crate::receiver::{Behaviour, TestReceiver};
use crate::storage::Backend;

const REPO_HOOKS: &str = "/repos/acme/widgets/hooks";

fn at(start: Timestamp, seconds: i64) -> Timestamp {
    Timestamp(start.0 + seconds * 1000)
}

/// An app, a receiver answering `behaviour`, and a hook on it whose ping was delivered.
async fn hook_on(
    behaviour: Behaviour,
    adjust: impl FnOnce(&mut hookpost::config::ServeConfig),
) -> (TestApp, TestReceiver, String) {
    let app = spawn_stepped_app(adjust).await;
    let receiver = TestReceiver::start().await;
    let hook = app
        .create_hook(
            REPO_HOOKS,
            ADMIN_TOKEN,
            &json!({"active": false, "config": {"url": receiver.url}}),
        )
        .await;
    let path = hook_path(REPO_HOOKS, &hook);
    app.patch(&path, ADMIN_TOKEN, &json!({"active": true}))
        .await;
    receiver.set(behaviour);
    (app, receiver, path)
}

fn statuses(log: &[Value]) -> Vec<(String, bool)> {
    log.iter()
        .map(|item| {
            (
                item["status"].as_str().unwrap().to_owned(),
                item["redelivery"].as_bool().unwrap(),
            )
        })
        .collect()
}

async fn failures_follow_the_schedule_until_one_succeeds() {
    let (app, receiver, path) = hook_on(Behaviour::Status(500), |_| {}).await;
    app.publish("push", "acme/widgets", json!({"ref": "x"}))
        .await;
    let start = Timestamp::now();
    assert_eq!(app.deliver_due_at(start).await, 1);
    let first = &app.deliveries(&path).await[0];
    assert_eq!(
        (first["attempt_number"].as_u64(), first["trigger"].as_str()),
        (Some(1), Some("publish"))
    );
    let next = first["next_attempt_at"].as_str().expect("a retry is due");
    let next = Timestamp::parse(next).unwrap();
    assert!(
        (at(start, 7)..=at(start, 13)).contains(&next),
        "the retry is due 10 s ± 20% later: {first}"
    );
    assert_eq!(
        app.deliver_due_at(at(start, 7)).await,
        0,
        "not before 10 s − 20%"
    );
    assert_eq!(app.deliver_due_at(at(start, 13)).await, 1, "by 10 s + 20%");
    assert_eq!(
        app.deliver_due_at(at(start, 13 + 47)).await,
        0,
        "1 min − 20% after that"
    );
    receiver.set(Behaviour::Status(200));
    assert_eq!(app.deliver_due_at(at(start, 13 + 73)).await, 1);
    assert_eq!(
        app.deliver_due_at(at(start, 86_400)).await,
        0,
        "a success ends the schedule"
    );
    let log = app.deliveries(&path).await;
    assert_eq!(
        statuses(&log),
        [
            ("OK".to_owned(), true),
            ("Invalid HTTP Response: 500".to_owned(), true),
            ("Invalid HTTP Response: 500".to_owned(), false),
        ]
    );
    let told: Vec<(u64, &str, bool)> = log
        .iter()
        .map(|item| {
            (
                item["attempt_number"].as_u64().unwrap(),
                item["trigger"].as_str().unwrap(),
                item["next_attempt_at"].is_null(),
            )
        })
        .collect();
    assert_eq!(
        told,
        [(3, "retry", true), (2, "retry", true), (1, "publish", true)],
        "retries are told from the first attempt, and nothing is due after the success"
    );
    for _ in 0..3 {
        receiver.next_of("push").await;
    }
}

async fn the_schedule_ends_and_none_means_no_retries() {
    let (app, _receiver, path) = hook_on(Behaviour::Status(500), |config| {
        config.delivery.retry_schedule = "10s,1m".parse().unwrap();
    })
    .await;
    app.publish("push", "acme/widgets", json!({})).await;
    let start = Timestamp::now();
    assert_eq!(app.deliver_due_at(start).await, 1);
    assert_eq!(app.deliver_due_at(at(start, 13)).await, 1);
    assert_eq!(app.deliver_due_at(at(start, 13 + 73)).await, 1);
    assert_eq!(
        app.deliver_due_at(at(start, 86_400 * 7)).await,
        0,
        "three attempts in all"
    );
    assert_eq!(app.deliveries(&path).await.len(), 3);

    let (app, _receiver, path) = hook_on(Behaviour::Status(500), |config| {
        config.delivery.retry_schedule = "none".parse().unwrap();
    })
    .await;
    app.publish("push", "acme/widgets", json!({})).await;
    let start = Timestamp::now();
    assert_eq!(app.deliver_due_at(start).await, 1);
    assert_eq!(
        app.deliver_due_at(at(start, 86_400)).await,
        0,
        "GitHub's behaviour: one attempt"
    );
    assert_eq!(app.deliveries(&path).await.len(), 1);
}

async fn retry_after_moves_the_next_attempt_later() {
    let (app, receiver, _path) = hook_on(Behaviour::RetryAfter(15), |_| {}).await;
    app.publish("push", "acme/widgets", json!({})).await;
    let start = Timestamp::now();
    assert_eq!(app.deliver_due_at(start).await, 1);
    assert_eq!(
        app.deliver_due_at(at(start, 14)).await,
        0,
        "the receiver asked for 15 s"
    );
    receiver.set(Behaviour::Status(200));
    assert_eq!(app.deliver_due_at(at(start, 16)).await, 1);
}

async fn a_manual_redelivery_is_one_attempt_and_a_success_cancels_pending_retries() {
    let (app, receiver, path) = hook_on(Behaviour::Status(500), |_| {}).await;
    let guid = app
        .publish("push", "acme/widgets", json!({"ref": "refs/heads/main"}))
        .await;
    let start = Timestamp::now();
    assert_eq!(app.deliver_due_at(start).await, 1);
    let first = app.deliveries(&path).await[0].clone();

    // A failing redelivery starts no schedule of its own.
    let reply = app
        .post(
            &format!("{path}/deliveries/{}/attempts", first["id"]),
            ADMIN_TOKEN,
            &json!({}),
        )
        .await;
    assert_eq!(reply.status, reqwest::StatusCode::ACCEPTED);
    assert_eq!(reply.body, json!({}));
    assert_eq!(app.deliver_due().await, 1, "queued at once");

    // A succeeding one ends the delivery: the automatic retry due at ~10 s is cancelled.
    receiver.set(Behaviour::Status(200));
    app.post(
        &format!("{path}/deliveries/{}/attempts", first["id"]),
        ADMIN_TOKEN,
        &json!({}),
    )
    .await;
    assert_eq!(app.deliver_due().await, 1);
    assert_eq!(app.deliver_due_at(at(start, 86_400)).await, 0);

    let log = app.deliveries(&path).await;
    assert_eq!(
        statuses(&log),
        [
            ("OK".to_owned(), true),
            ("Invalid HTTP Response: 500".to_owned(), true),
            ("Invalid HTTP Response: 500".to_owned(), false),
        ]
    );
    assert!(log.iter().all(|item| item["guid"] == guid.as_str()));
    let mut bodies = Vec::new();
    for _ in 0..3 {
        bodies.push(receiver.next_of("push").await.body);
    }
    assert!(
        bodies.windows(2).all(|pair| pair[0] == pair[1]),
        "the original payload each time"
    );
}

fn push_event(payload: &str) -> NewEvent {
    NewEvent {
        guid: uuid_like(payload),
        name: "push".to_owned(),
        action: None,
        repository: Some((
            Login::parse("acme").unwrap(),
            RepoName::parse("widgets").unwrap(),
        )),
        organization: Some(Login::parse("acme").unwrap()),
        target_repository_id: None,
        target_organization_id: None,
        payload: payload.as_bytes().to_vec(),
        latest: LatestObjects::default(),
    }
}

fn uuid_like(seed: &str) -> String {
    format!("00000000-0000-4000-8000-{:012}", seed.len())
}

async fn a_lease_keeps_a_delivery_from_others_until_it_expires() {
    let storage = Storage::new().await;
    let store = store::open(&storage.config()).await.unwrap();
    let input = HookInput {
        active: true,
        events: vec!["push".to_owned()],
        url: "http://receiver.example/".to_owned(),
        content_type: "form".to_owned(),
        ..HookInput::default()
    };
    let settings = HookSettings::new(&input, &HookRules::default()).unwrap();
    let scope = HookScope::Repository {
        owner: Login::parse("acme").unwrap(),
        repo: RepoName::parse("widgets").unwrap(),
    };
    store.create_hook(scope, settings).await.unwrap();
    let start = Timestamp(1_700_000_000_000);
    store.publish(push_event("{}"), None, start).await.unwrap();

    let lease_end = at(start, 300);
    let first = store
        .claim_due("worker-a", start, lease_end, 10)
        .await
        .unwrap();
    assert_eq!(first.deliveries.len(), 1);
    assert_eq!(
        first.next_due,
        Some(lease_end),
        "the lease's end is when it is due again"
    );
    let meanwhile = store
        .claim_due("worker-b", at(start, 299), at(start, 599), 10)
        .await
        .unwrap();
    assert!(meanwhile.deliveries.is_empty(), "leased to worker-a");
    // worker-a died without recording: after the lease, worker-b takes it over.
    let after = store
        .claim_due("worker-b", at(start, 301), at(start, 601), 10)
        .await
        .unwrap();
    assert_eq!(after.deliveries.len(), 1);
    assert_eq!(after.deliveries[0].id, first.deliveries[0].id);
    // Renewed, a lease holds past its first end.
    store
        .renew_leases("worker-b", vec![after.deliveries[0].id], at(start, 900))
        .await
        .unwrap();
    let renewed = store
        .claim_due("worker-a", at(start, 700), at(start, 1000), 10)
        .await
        .unwrap();
    assert!(renewed.deliveries.is_empty(), "renewed by worker-b");
    // A restart of the only process makes its own leases due at once; in a database shared
    // by several processes they are left to expire.
    let recovered = store.recover_leases(at(start, 701)).await.unwrap();
    let again = store
        .claim_due("worker-c", at(start, 701), at(start, 1001), 10)
        .await
        .unwrap();
    match crate::BACKEND {
        Backend::Sqlite => {
            assert_eq!(recovered, 1);
            assert_eq!(again.deliveries.len(), 1);
        }
        Backend::Postgres => {
            assert_eq!(recovered, 0);
            assert!(again.deliveries.is_empty());
        }
    }
    store.close().await;
}

async fn a_hooks_own_schedule_replaces_the_servers() {
    // The server retries after 10 s, 1 min, 5 min, …; this hook once, after 2 s.
    let (app, receiver, path) = hook_on(Behaviour::Status(500), |_| {}).await;
    let reply = app
        .patch(
            &format!("{path}/config"),
            ADMIN_TOKEN,
            &json!({"retry_schedule": "2s"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["retry_schedule"], "2s");
    app.publish("push", "acme/widgets", json!({})).await;
    let start = Timestamp::now();
    assert_eq!(app.deliver_due_at(start).await, 1);
    // The attempt is recorded between these two instants, and its retry 2 s ± 20% later
    // (shown to the second, rounded down).
    let recorded = Timestamp::now();
    let next = app.deliveries(&path).await[0]["next_attempt_at"].clone();
    let next = Timestamp::parse(next.as_str().expect("a retry is due")).unwrap();
    assert!(
        (Timestamp(start.0 + 600)..=Timestamp(recorded.0 + 2400)).contains(&next),
        "2 s ± 20%: {} ms after the start",
        next.0 - start.0
    );
    assert_eq!(
        app.deliver_due_at(Timestamp(next.0 + 1000)).await,
        1,
        "the hook's 2 s, not 10 s"
    );
    assert_eq!(
        app.deliver_due_at(at(start, 86_400)).await,
        0,
        "one retry, then the hook's schedule is spent"
    );

    // A hook PATCH with a config (GitHub's fields) keeps Hookpost's schedule.
    let hook = app
        .patch(
            &path,
            ADMIN_TOKEN,
            &json!({"config": {"url": receiver.url}}),
        )
        .await
        .body;
    assert_eq!(hook["config"]["retry_schedule"], "2s", "{hook}");
    // `none` means no retries for this hook alone.
    app.patch(
        &format!("{path}/config"),
        ADMIN_TOKEN,
        &json!({"retry_schedule": "none"}),
    )
    .await;
    app.publish("push", "acme/widgets", json!({})).await;
    assert_eq!(app.deliver_due_at(at(start, 86_401)).await, 1);
    assert!(app.deliveries(&path).await[0]["next_attempt_at"].is_null());
    assert_eq!(app.deliver_due_at(at(start, 86_400 * 30)).await, 0);
    // `null` goes back to the server's schedule (its first step: 10 s).
    let config = app
        .patch(
            &format!("{path}/config"),
            ADMIN_TOKEN,
            &json!({"retry_schedule": null}),
        )
        .await
        .body;
    assert!(config.get("retry_schedule").is_none(), "{config}");
    app.publish("push", "acme/widgets", json!({})).await;
    let later = at(start, 86_400 * 31);
    assert_eq!(app.deliver_due_at(later).await, 1);
    assert_eq!(
        app.deliver_due_at(at(later, 3)).await,
        0,
        "not after 2 s any more"
    );
    assert_eq!(
        app.deliver_due_at(at(later, 13)).await,
        1,
        "after the server's 10 s"
    );
}

async fn a_hooks_schedule_cannot_hammer_its_receiver_or_swell_the_server() {
    let (app, _receiver, path) = hook_on(Behaviour::Status(500), |_| {}).await;
    let huge = vec!["1s"; 200_000].join(",");
    for (schedule, why) in [
        (json!("500ms"), "faster than once a second"),
        (json!("1s,0s"), "a zero step"),
        (json!("8d"), "a step over a week"),
        (json!("sometimes"), "not a schedule"),
        (json!(10), "not a string"),
        (json!(huge), "200,000 steps"),
    ] {
        let reply = app
            .patch(
                &format!("{path}/config"),
                ADMIN_TOKEN,
                &json!({"retry_schedule": schedule}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{why}");
        assert_eq!(
            reply.body["errors"][0]["field"], "config.retry_schedule",
            "{why}"
        );
        let hook = app.get(&path, ADMIN_TOKEN).await.body;
        assert!(
            hook["config"].get("retry_schedule").is_none(),
            "{why}: nothing changed"
        );
    }
}

async fn events_past_retention_are_pruned_with_their_log() {
    let (app, _receiver, path) = hook_on(Behaviour::Status(200), |_| {}).await;
    app.publish("push", "acme/widgets", json!({})).await;
    app.deliver_due().await;
    assert_eq!(app.deliveries(&path).await.len(), 1);
    let store = store::open(&app.storage.config()).await.unwrap();
    let day = Duration::from_secs(86_400);
    let metrics = Metrics::default();
    assert_eq!(
        prune_expired(store.as_ref(), day * 30, Timestamp::now(), &metrics)
            .await
            .unwrap(),
        0
    );
    let later = Timestamp(Timestamp::now().0 + 31 * 86_400_000);
    assert_eq!(
        prune_expired(store.as_ref(), day * 30, later, &metrics)
            .await
            .unwrap(),
        1
    );
    assert_eq!(metrics.events_pruned.get(), 1, "what was pruned is counted");
    store.close().await;
    assert!(app.deliveries(&path).await.is_empty());
}

crate::harness::tests!(
    failures_follow_the_schedule_until_one_succeeds,
    the_schedule_ends_and_none_means_no_retries,
    retry_after_moves_the_next_attempt_later,
    a_manual_redelivery_is_one_attempt_and_a_success_cancels_pending_retries,
    a_lease_keeps_a_delivery_from_others_until_it_expires,
    events_past_retention_are_pruned_with_their_log,
    a_hooks_own_schedule_replaces_the_servers,
    a_hooks_schedule_cannot_hammer_its_receiver_or_swell_the_server,
);
