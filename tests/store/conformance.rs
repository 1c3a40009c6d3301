//! What every backend must do, written once against the `Store` interface: fan-out,
//! idempotency, queue claims and leases, paging while attempts arrive, retention.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use hookpost::domain::hook::{HookInput, HookPatch, HookRules, HookScope, HookSettings};
use hookpost::domain::names::{Login, RepoName};
use hookpost::domain::secret::Secret;
use hookpost::domain::signature::{PreviousSecret, SignatureScheme};
use hookpost::domain::timestamp::Timestamp;
use hookpost::store::{
    AttemptId, AttemptQuery, AttemptRecord, ClaimedDelivery, DeliveryId, Hook, HookUpdate,
    IdempotencyKey, LatestObjects, NewApp, NewEvent, NewToken, PublishOutcome, Store, TokenScope,
};
use serde_json::json;

use crate::Check;

macro_rules! checks {
    ($($name:ident),* $(,)?) => {
        /// Every check, by name.
        pub fn checks() -> Vec<(&'static str, Check)> {
            vec![$((stringify!($name), |store| -> Pin<Box<dyn Future<Output = ()>>> {
                Box::pin($name(store))
            }),)*]
        }
    };
}

checks!(
    an_event_fans_out_to_every_subscribed_active_hook_and_installed_app,
    an_idempotency_key_replays_its_first_answer_or_refuses_another_body,
    a_claim_leases_until_the_lease_ends_and_an_attempt_or_release_ends_it,
    an_attempt_record_that_cannot_be_stored_fails_alone,
    pages_of_attempts_neither_skip_nor_repeat_while_attempts_arrive,
    the_log_numbers_its_attempts_says_what_made_them_and_filters_them,
    a_recovery_queues_failed_deliveries_without_pending_work_one_recovery_at_a_time,
    retention_prunes_old_events_with_their_deliveries_and_attempts,
    retention_keeps_an_old_event_while_a_delivery_of_it_is_queued,
    a_batch_of_retention_looks_at_its_share_and_passes_over_queued_events,
    a_hooks_signature_scheme_and_previous_secret_are_kept_until_the_overlap_ends,
    a_hooks_own_retry_schedule_is_kept_and_reaches_its_deliveries,
    a_rate_limited_hooks_claims_take_slots_once_and_put_off_the_rest,
    a_fifo_hook_has_one_delivery_due_at_a_time_in_commit_order,
    a_hook_failing_long_enough_is_disabled_and_holds_its_events_until_re_activated,
    tokens_keep_their_scope_expiry_revocation_and_last_use,
    an_attempts_request_headers_read_back_exactly_as_sent,
    retention_deletes_the_request_header_templates_no_stored_attempt_uses,
    a_redeliverys_success_makes_the_waiting_retry_moot_but_not_the_other_way_round,
    payloads_of_every_size_and_kind_come_back_byte_for_byte,
    a_deleted_hooks_queued_deliveries_go_with_it_and_no_other_hooks,
);

const T0: Timestamp = Timestamp(1_800_000_000_000);

fn at(seconds: i64) -> Timestamp {
    Timestamp(T0.0 + seconds * 1000)
}

fn repo() -> HookScope {
    HookScope::Repository {
        owner: Login::parse("acme").unwrap(),
        repo: RepoName::parse("widgets").unwrap(),
    }
}

fn settings(events: &[&str], active: bool) -> HookSettings {
    let input = HookInput {
        active,
        events: events.iter().map(|event| (*event).to_owned()).collect(),
        url: "https://receiver.example/hook".to_owned(),
        content_type: "form".to_owned(),
        secret: Some(Secret::new("s")),
        ..HookInput::default()
    };
    HookSettings::new(&input, &HookRules::default()).unwrap()
}

async fn hook(store: &Arc<dyn Store>, scope: HookScope, events: &[&str], active: bool) -> Hook {
    store
        .create_hook(scope, settings(events, active))
        .await
        .unwrap()
}

/// A `push` to acme/widgets (and so to the acme organization).
fn push(payload: serde_json::Value) -> NewEvent {
    NewEvent {
        guid: uuid::Uuid::new_v4().to_string(),
        name: "push".to_owned(),
        action: None,
        repository: Some((
            Login::parse("acme").unwrap(),
            RepoName::parse("widgets").unwrap(),
        )),
        organization: Some(Login::parse("acme").unwrap()),
        target_repository_id: None,
        target_organization_id: None,
        payload: payload.to_string().into_bytes(),
        latest: LatestObjects::default(),
    }
}

async fn publish(store: &Arc<dyn Store>, now: Timestamp) -> u64 {
    match store
        .publish(push(json!({"n": now.0})), None, now)
        .await
        .unwrap()
    {
        PublishOutcome::Published { deliveries, .. } => deliveries,
        other => panic!("{other:?}"),
    }
}

/// A finished attempt of `delivery` at `now`.
fn attempt(delivery: &ClaimedDelivery, now: Timestamp, succeeded: bool) -> AttemptRecord {
    AttemptRecord {
        delivery_id: delivery.id,
        hook_id: delivery.target.hook_id,
        event_id: delivery.event.id,
        event_guid: delivery.event.guid.clone(),
        installation_id: delivery.installation_id,
        redelivery: delivery.redelivery,
        retry: delivery.retry,
        delivered_at: now,
        duration_ms: 5,
        status: if succeeded {
            "OK"
        } else {
            "Invalid HTTP Response: 500"
        }
        .to_owned(),
        status_code: if succeeded { 200 } else { 500 },
        url: "https://receiver.example/hook".to_owned(),
        request_headers: vec![("X-GitHub-Event".to_owned(), "push".to_owned())],
        response_headers: Vec::new(),
        response_body: b"ok".to_vec(),
        throttled_at: None,
        in_line: delivery.in_line,
        succeeded,
        next_attempt: None,
    }
}

fn everything(limit: u32) -> AttemptQuery {
    AttemptQuery {
        limit,
        ..AttemptQuery::default()
    }
}

async fn an_event_fans_out_to_every_subscribed_active_hook_and_installed_app(
    store: Arc<dyn Store>,
) {
    let org = HookScope::Organization {
        org: Login::parse("ACME").unwrap(),
    };
    hook(&store, repo(), &["push"], true).await;
    hook(&store, repo(), &["*"], true).await;
    hook(&store, org, &["push"], true).await;
    hook(&store, repo(), &["push"], false).await;
    hook(&store, repo(), &["issues"], true).await;
    let other = HookScope::Repository {
        owner: Login::parse("acme").unwrap(),
        repo: RepoName::parse("other").unwrap(),
    };
    hook(&store, other, &["push"], true).await;
    let (app, _) = store
        .create_app(NewApp {
            name: "Bot".to_owned(),
            slug: "bot".to_owned(),
            client_id: "Iv1.0".to_owned(),
            public_key_pem: "unused".to_owned(),
            events: vec!["push".to_owned()],
            hook: settings(&["push"], true),
        })
        .await
        .unwrap()
        .expect("a new slug");
    store
        .install_app(app.id, Login::parse("acme").unwrap())
        .await
        .unwrap()
        .expect("the app exists");

    assert_eq!(
        publish(&store, T0).await,
        4,
        "2 repository, 1 organization, 1 app hook"
    );
    let claim = store.claim_due("w", T0, at(60), 100).await.unwrap();
    assert_eq!(claim.deliveries.len(), 4);
    let installed: Vec<_> = claim
        .deliveries
        .iter()
        .filter_map(|delivery| delivery.installation_id)
        .collect();
    assert_eq!(
        installed.len(),
        1,
        "the app's delivery names its installation"
    );
}

async fn an_idempotency_key_replays_its_first_answer_or_refuses_another_body(
    store: Arc<dyn Store>,
) {
    hook(&store, repo(), &["push"], true).await;
    let key = |token_id: i64, body: u8| IdempotencyKey {
        token_id,
        key: "evt-42".to_owned(),
        body_hash: [body; 32],
    };
    let first = store
        .publish(push(json!({})), Some(key(1, 1)), T0)
        .await
        .unwrap();
    let PublishOutcome::Published { guid, deliveries } = first else {
        panic!("{first:?}");
    };
    assert_eq!(deliveries, 1);
    let again = store
        .publish(push(json!({})), Some(key(1, 1)), at(1))
        .await
        .unwrap();
    assert_eq!(
        again,
        PublishOutcome::Replayed {
            guid: guid.clone(),
            deliveries: 1
        }
    );
    let other_body = store
        .publish(push(json!({})), Some(key(1, 2)), at(2))
        .await
        .unwrap();
    assert_eq!(other_body, PublishOutcome::KeyReused);
    let other_token = store
        .publish(push(json!({})), Some(key(2, 2)), at(3))
        .await
        .unwrap();
    assert!(
        matches!(&other_token, PublishOutcome::Published { guid: other, .. } if *other != guid),
        "keys of different tokens never meet: {other_token:?}"
    );
    let claim = store.claim_due("w", at(4), at(60), 100).await.unwrap();
    assert_eq!(claim.deliveries.len(), 2, "a replay queues nothing");
}

async fn a_claim_leases_until_the_lease_ends_and_an_attempt_or_release_ends_it(
    store: Arc<dyn Store>,
) {
    hook(&store, repo(), &["push"], true).await;
    for second in 0..3 {
        publish(&store, at(second)).await;
    }
    let first = store.claim_due("a", at(3), at(63), 100).await.unwrap();
    assert_eq!(first.deliveries.len(), 3);
    let during = store.claim_due("b", at(10), at(70), 100).await.unwrap();
    assert!(
        during.deliveries.is_empty(),
        "leased deliveries are not due"
    );
    assert_eq!(
        during.next_due,
        Some(at(63)),
        "due again when the lease ends"
    );

    store
        .renew_leases(
            "a",
            first.deliveries.iter().map(|d| d.id).collect(),
            at(120),
        )
        .await
        .unwrap();
    let renewed = store.claim_due("b", at(64), at(124), 100).await.unwrap();
    assert!(renewed.deliveries.is_empty(), "a renewed lease holds");

    let after = store.claim_due("b", at(121), at(181), 100).await.unwrap();
    assert_eq!(
        after.deliveries.len(),
        3,
        "an expired lease is claimed again"
    );
    store
        .record_attempt(attempt(&after.deliveries[0], at(122), true))
        .await
        .unwrap();
    // One handed back due at once (shutdown), one until its destination has room.
    let (now_due, deferred) = (after.deliveries[1].id, after.deliveries[2].id);
    store
        .release("b", vec![(now_due, at(122)), (deferred, at(150))])
        .await
        .unwrap();
    let released = store.claim_due("c", at(123), at(183), 100).await.unwrap();
    let ids: Vec<DeliveryId> = released.deliveries.iter().map(|d| d.id).collect();
    assert_eq!(
        ids,
        [now_due],
        "a delivery released due now is claimed at once; the delivered one is done"
    );
    assert_eq!(
        released.next_due,
        Some(at(150)),
        "the deferred one is due later"
    );
    let later = store.claim_due("c", at(150), at(183), 100).await.unwrap();
    let ids: Vec<DeliveryId> = later.deliveries.iter().map(|d| d.id).collect();
    assert_eq!(ids, [deferred], "and is claimed when it is due");
    assert!(
        store
            .claim_due("d", at(1000), at(1060), 100)
            .await
            .unwrap()
            .deliveries
            .len()
            == 2
    );
}

/// Attempt records are committed in batches: one that cannot be stored (its delivery does
/// not exist) fails alone, the others recorded at the same moment stand, and nothing of
/// it is kept.
async fn an_attempt_record_that_cannot_be_stored_fails_alone(store: Arc<dyn Store>) {
    let created = hook(&store, repo(), &["push"], true).await;
    for second in 0..3 {
        publish(&store, at(second)).await;
    }
    let claim = store.claim_due("w", at(3), at(63), 100).await.unwrap();
    assert_eq!(claim.deliveries.len(), 3);
    let mut orphan = attempt(&claim.deliveries[2], at(4), true);
    orphan.delivery_id = DeliveryId(i64::MAX);
    let (succeeded, failed, refused) = tokio::join!(
        store.record_attempt(attempt(&claim.deliveries[0], at(4), true)),
        store.record_attempt(attempt(&claim.deliveries[1], at(4), false)),
        store.record_attempt(orphan),
    );
    succeeded.unwrap();
    failed.unwrap();
    assert!(refused.is_err(), "an attempt of no delivery is refused");
    let listed = store
        .list_attempts(&repo(), created.id, everything(10))
        .await
        .unwrap()
        .expect("the hook exists");
    assert_eq!(
        listed.len(),
        2,
        "the two others are logged, nothing of the third"
    );
    let later = store.claim_due("v", at(64), at(124), 100).await.unwrap();
    let ids: Vec<DeliveryId> = later.deliveries.iter().map(|d| d.id).collect();
    assert_eq!(
        ids,
        [claim.deliveries[2].id],
        "the recorded deliveries are done; the third is claimed again when its lease ends"
    );
}

async fn pages_of_attempts_neither_skip_nor_repeat_while_attempts_arrive(store: Arc<dyn Store>) {
    let created = hook(&store, repo(), &["push"], true).await;
    for second in 0..7 {
        publish(&store, at(second)).await;
    }
    let claim = store.claim_due("w", at(7), at(67), 100).await.unwrap();
    assert_eq!(claim.deliveries.len(), 7);
    for delivery in &claim.deliveries[..5] {
        store
            .record_attempt(attempt(delivery, at(8), delivery.id.0 % 2 == 0))
            .await
            .unwrap();
    }
    let list = |query| {
        let store = store.clone();
        let scope = repo();
        async move {
            store
                .list_attempts(&scope, created.id, query)
                .await
                .unwrap()
                .expect("the hook exists")
        }
    };
    let first = list(everything(2)).await;
    assert_eq!(first.len(), 2);
    assert!(first[0].id > first[1].id, "newest first");
    // Two more arrive before the next page is read.
    for delivery in &claim.deliveries[5..] {
        store
            .record_attempt(attempt(delivery, at(9), true))
            .await
            .unwrap();
    }
    let mut seen: Vec<AttemptId> = first.iter().map(|a| a.id).collect();
    let mut before = seen.last().copied();
    while let Some(cursor) = before {
        let page = list(AttemptQuery {
            before: Some(cursor),
            ..everything(2)
        })
        .await;
        seen.extend(page.iter().map(|a| a.id));
        before = (page.len() == 2).then(|| page[1].id);
    }
    assert_eq!(seen.len(), 5, "the first five, each once: {seen:?}");
    let mut sorted = seen.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(sorted, seen);
    assert_eq!(
        list(everything(100)).await.len(),
        7,
        "the new ones head the log"
    );

    let failures = list(AttemptQuery {
        status: Some(hookpost::store::StatusClass::Failure),
        ..everything(100)
    })
    .await;
    assert!(failures.iter().all(|a| a.status_code >= 400));
    let other = HookScope::Organization {
        org: Login::parse("acme").unwrap(),
    };
    assert!(
        store
            .list_attempts(&other, created.id, everything(10))
            .await
            .unwrap()
            .is_none(),
        "a hook is found only in its own scope"
    );
}

async fn the_log_numbers_its_attempts_says_what_made_them_and_filters_them(store: Arc<dyn Store>) {
    use hookpost::store::{StatusClass, Trigger};
    let created = hook(&store, repo(), &["push", "issues"], true).await;
    let pushed = push(json!({"n": 1}));
    let push_guid = pushed.guid.clone();
    store.publish(pushed, None, at(0)).await.unwrap();
    let issue = NewEvent {
        name: "issues".to_owned(),
        action: Some("opened".to_owned()),
        ..push(json!({"n": 2}))
    };
    store.publish(issue, None, at(1)).await.unwrap();
    let claim = store.claim_due("w", at(2), at(62), 100).await.unwrap();
    assert_eq!(claim.deliveries.len(), 2);
    for delivery in &claim.deliveries {
        let failed = delivery.event.name == "push";
        let mut record = attempt(delivery, at(3), !failed);
        record.next_attempt = failed.then(|| at(100));
        store.record_attempt(record).await.unwrap();
    }
    let list = |query: AttemptQuery| {
        let store = store.clone();
        async move {
            store
                .list_attempts(&repo(), created.id, query)
                .await
                .unwrap()
                .expect("the hook exists")
        }
    };
    let first = list(everything(10)).await;
    let push_first = first.iter().find(|a| a.event == "push").unwrap().clone();
    assert_eq!(
        (
            push_first.attempt_number,
            push_first.trigger,
            push_first.next_attempt_at
        ),
        (1, Trigger::Publish, Some(at(100))),
        "a failed first attempt says when its retry is due"
    );

    // The retry, failing for good.
    let retry = store.claim_due("w", at(100), at(160), 100).await.unwrap();
    assert_eq!(retry.deliveries.len(), 1);
    let mut record = attempt(&retry.deliveries[0], at(101), false);
    record.redelivery = true;
    store.record_attempt(record).await.unwrap();
    // A manual redelivery of the first attempt, succeeding.
    assert!(
        store
            .redeliver(&repo(), created.id, push_first.id, at(200))
            .await
            .unwrap()
    );
    let manual = store.claim_due("w", at(200), at(260), 100).await.unwrap();
    assert_eq!(manual.deliveries.len(), 1);
    let mut record = attempt(&manual.deliveries[0], at(201), true);
    record.redelivery = true;
    store.record_attempt(record).await.unwrap();

    let all = list(everything(10)).await;
    let shape: Vec<(&str, u32, Trigger, Option<Timestamp>)> = all
        .iter()
        .map(|a| {
            (
                a.event.as_str(),
                a.attempt_number,
                a.trigger,
                a.next_attempt_at,
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("push", 1, Trigger::Redelivery, None),
            ("push", 2, Trigger::Retry, None),
            ("issues", 1, Trigger::Publish, None),
            ("push", 1, Trigger::Publish, None),
        ],
        "newest first; nothing is due any more"
    );
    let ids = |attempts: Vec<hookpost::store::AttemptSummary>| -> Vec<AttemptId> {
        attempts.iter().map(|a| a.id).collect()
    };
    let (redelivered, retried, issued, published) = (all[0].id, all[1].id, all[2].id, all[3].id);
    for (query, expected) in [
        (
            AttemptQuery {
                trigger: Some(Trigger::Retry),
                ..everything(10)
            },
            vec![retried],
        ),
        (
            AttemptQuery {
                trigger: Some(Trigger::Redelivery),
                ..everything(10)
            },
            vec![redelivered],
        ),
        (
            AttemptQuery {
                trigger: Some(Trigger::Publish),
                ..everything(10)
            },
            vec![issued, published],
        ),
        (
            AttemptQuery {
                event: Some("issues".to_owned()),
                ..everything(10)
            },
            vec![issued],
        ),
        (
            AttemptQuery {
                event: Some("pull_request".to_owned()),
                ..everything(10)
            },
            vec![],
        ),
        (
            AttemptQuery {
                guid: Some(push_guid.clone()),
                ..everything(10)
            },
            vec![redelivered, retried, published],
        ),
        (
            AttemptQuery {
                guid: Some("no-such-guid".to_owned()),
                ..everything(10)
            },
            vec![],
        ),
        (
            AttemptQuery {
                guid: Some(push_guid.clone()),
                status: Some(StatusClass::Failure),
                ..everything(10)
            },
            vec![retried, published],
        ),
        (
            AttemptQuery {
                since: Some(at(101)),
                ..everything(10)
            },
            vec![redelivered, retried],
        ),
        (
            AttemptQuery {
                since: Some(at(3)),
                until: Some(at(101)),
                ..everything(10)
            },
            vec![retried, issued, published],
        ),
        (
            AttemptQuery {
                until: Some(at(2)),
                ..everything(10)
            },
            vec![],
        ),
        (
            AttemptQuery {
                guid: Some(push_guid.clone()),
                before: Some(retried),
                ..everything(10)
            },
            vec![published],
        ),
        (
            AttemptQuery {
                after: Some(issued),
                ..everything(10)
            },
            vec![redelivered, retried],
        ),
        (
            AttemptQuery {
                after: Some(published),
                oldest_first: true,
                ..everything(2)
            },
            vec![issued, retried],
        ),
        (
            AttemptQuery {
                oldest_first: true,
                ..everything(1)
            },
            vec![published],
        ),
        (
            AttemptQuery {
                before: Some(redelivered),
                after: Some(published),
                ..everything(10)
            },
            vec![retried, issued],
        ),
    ] {
        assert_eq!(ids(list(query.clone()).await), expected, "{query:?}");
    }
    // Counts, the limit aside and no further than their cap.
    let count = |query: AttemptQuery, cap: u32| {
        let store = store.clone();
        async move {
            store
                .count_attempts(&repo(), created.id, query, cap)
                .await
                .unwrap()
                .expect("the hook exists")
        }
    };
    assert_eq!(count(everything(1), 100).await, 4);
    assert_eq!(count(everything(1), 3).await, 3, "capped");
    let failures = AttemptQuery {
        status: Some(StatusClass::Failure),
        ..everything(1)
    };
    assert_eq!(count(failures, 100).await, 2);
    let newer = AttemptQuery {
        after: Some(issued),
        ..everything(1)
    };
    assert_eq!(count(newer, 100).await, 2);
    assert!(
        store
            .count_attempts(
                &HookScope::Organization {
                    org: Login::parse("acme").unwrap(),
                },
                created.id,
                everything(1),
                100
            )
            .await
            .unwrap()
            .is_none(),
        "a hook is counted only in its own scope"
    );
}

async fn a_recovery_queues_failed_deliveries_without_pending_work_one_recovery_at_a_time(
    store: Arc<dyn Store>,
) {
    use hookpost::store::RecoveryStart;
    let created = hook(&store, repo(), &["push"], true).await;
    publish(&store, at(0)).await; // will wait for a retry
    publish(&store, at(1)).await; // will have failed for good
    publish(&store, at(500)).await; // outside the window, failed
    let claim = store.claim_due("w", at(501), at(561), 100).await.unwrap();
    assert_eq!(claim.deliveries.len(), 3);
    for delivery in &claim.deliveries {
        let mut record = attempt(delivery, at(502), false);
        if delivery.event.payload.as_ref() == json!({"n": at(0).0}).to_string().as_bytes() {
            record.next_attempt = Some(at(10_000));
        }
        store.record_attempt(record).await.unwrap();
    }
    let started = store
        .start_recovery(&repo(), created.id, at(0), Some(at(100)), at(600))
        .await
        .unwrap();
    let RecoveryStart::Started(recovery) = started else {
        panic!("{started:?}");
    };
    assert_eq!(
        (recovery.queued, recovery.done),
        (1, 0),
        "only the one failed for good"
    );
    assert_eq!(
        store
            .start_recovery(&repo(), created.id, at(0), None, at(601))
            .await
            .unwrap(),
        RecoveryStart::Running(recovery.id)
    );
    let claim = store.claim_due("w", at(602), at(662), 100).await.unwrap();
    assert_eq!(claim.deliveries.len(), 1);
    assert!(claim.deliveries[0].redelivery && !claim.deliveries[0].retry);
    store
        .record_attempt(attempt(&claim.deliveries[0], at(603), true))
        .await
        .unwrap();
    let finished = store
        .get_recovery(&repo(), created.id, recovery.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            finished.queued,
            finished.done,
            finished.succeeded,
            finished.failed
        ),
        (1, 1, 1, 0)
    );
    assert!(!finished.is_running());
    let again = store
        .start_recovery(&repo(), created.id, at(0), Some(at(100)), at(700))
        .await
        .unwrap();
    assert!(
        matches!(again, RecoveryStart::Started(ref r) if r.queued == 0),
        "nothing failed last any more: {again:?}"
    );
    let other = HookScope::Organization {
        org: Login::parse("acme").unwrap(),
    };
    assert_eq!(
        store
            .start_recovery(&other, created.id, at(0), None, at(800))
            .await
            .unwrap(),
        RecoveryStart::Missing
    );
    assert_eq!(
        store
            .get_recovery(&other, created.id, recovery.id)
            .await
            .unwrap(),
        None
    );
}

async fn retention_prunes_old_events_with_their_deliveries_and_attempts(store: Arc<dyn Store>) {
    let created = hook(&store, repo(), &["push"], true).await;
    publish(&store, at(0)).await;
    publish(&store, at(100)).await;
    let claim = store.claim_due("w", at(101), at(161), 100).await.unwrap();
    for delivery in &claim.deliveries {
        store
            .record_attempt(attempt(delivery, at(102), true))
            .await
            .unwrap();
    }
    let old_guid = &claim
        .deliveries
        .iter()
        .min_by_key(|delivery| delivery.event.id)
        .unwrap()
        .event
        .guid;
    let logged = store
        .list_attempts(&repo(), created.id, everything(100))
        .await
        .unwrap()
        .unwrap();
    let old_attempt = logged.iter().find(|a| &a.guid == old_guid).unwrap().id;
    publish(&store, at(200)).await;
    assert_eq!(prune_all(&store, at(50)).await, 1);
    assert_eq!(prune_all(&store, at(50)).await, 0, "nothing twice");
    let left = store
        .list_attempts(&repo(), created.id, everything(100))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(left.len(), 1, "the old event's attempt went with it");
    assert!(
        !store
            .redeliver(&repo(), created.id, old_attempt, at(201))
            .await
            .unwrap(),
        "nothing is left of the old attempt to redeliver"
    );
    let claim = store.claim_due("w", at(201), at(261), 100).await.unwrap();
    assert_eq!(
        claim.deliveries.len(),
        1,
        "the newest event is still queued"
    );
}

/// Everything older than `before` that retention may delete, deleted in one pass of
/// batches of two (so that every test of retention crosses batches); how many went.
async fn prune_all(store: &Arc<dyn Store>, before: Timestamp) -> u64 {
    let (mut after, mut total) = (None, 0);
    for _ in 0..1000 {
        let pruned = store.prune(before, after, 2).await.unwrap();
        total += pruned.deleted;
        match pruned.next {
            Some(next) => after = Some(next),
            None => return total,
        }
    }
    panic!("a pass of retention ends");
}

/// A batch looks at its share of events, whatever they are: old events still queued are
/// passed over once per pass, not looked at again by every batch behind them (a backlog
/// that never drains would make each batch cost its size), and what follows them goes.
async fn a_batch_of_retention_looks_at_its_share_and_passes_over_queued_events(
    store: Arc<dyn Store>,
) {
    hook(&store, repo(), &["push"], true).await;
    for second in 0..5 {
        publish(&store, at(second)).await;
    }
    let mut claim = store.claim_due("w", at(5), at(65), 100).await.unwrap();
    claim.deliveries.sort_by_key(|delivery| delivery.event.id);
    // The two oldest stay leased; the three after them are done.
    for delivery in &claim.deliveries[2..] {
        store
            .record_attempt(attempt(delivery, at(6), true))
            .await
            .unwrap();
    }
    let first = store.prune(at(50), None, 2).await.unwrap();
    assert_eq!(first.deleted, 0, "the batch was the two queued events");
    let second = store.prune(at(50), first.next, 2).await.unwrap();
    assert_eq!(second.deleted, 2, "the next two, done");
    assert!(second.next.is_some());
    let last = store.prune(at(50), second.next, 2).await.unwrap();
    assert_eq!(
        (last.deleted, last.next),
        (1, None),
        "the rest, and the pass ends"
    );
    assert_eq!(prune_all(&store, at(50)).await, 0, "the queued events stay");
    assert_eq!(
        store
            .claim_due("w", at(66), at(126), 100)
            .await
            .unwrap()
            .deliveries
            .len(),
        2,
        "and are delivered when their leases end"
    );
}

/// However old its event, work still queued or leased is delivered: the event is pruned
/// only once no delivery of it is pending.
async fn retention_keeps_an_old_event_while_a_delivery_of_it_is_queued(store: Arc<dyn Store>) {
    hook(&store, repo(), &["push"], true).await;
    publish(&store, at(0)).await;
    assert_eq!(prune_all(&store, at(50)).await, 0, "queued");
    let claim = store.claim_due("w", at(60), at(120), 100).await.unwrap();
    assert_eq!(claim.deliveries.len(), 1);
    assert_eq!(prune_all(&store, at(50)).await, 0, "leased");
    let mut failed = attempt(&claim.deliveries[0], at(61), false);
    failed.next_attempt = Some(at(300));
    store.record_attempt(failed).await.unwrap();
    assert_eq!(prune_all(&store, at(50)).await, 0, "waiting for a retry");
    let claim = store.claim_due("w", at(300), at(360), 100).await.unwrap();
    assert_eq!(
        claim.deliveries.len(),
        1,
        "the retry of an old event is made"
    );
    store
        .record_attempt(attempt(&claim.deliveries[0], at(301), true))
        .await
        .unwrap();
    assert_eq!(prune_all(&store, at(50)).await, 1, "done, then pruned");
}

async fn a_hooks_signature_scheme_and_previous_secret_are_kept_until_the_overlap_ends(
    store: Arc<dyn Store>,
) {
    let mut wanted = settings(&["push"], true);
    wanted.config.signature = SignatureScheme::Both;
    wanted.config.secret = Some(Secret::new("whsec_new"));
    wanted.config.previous_secret = Some(PreviousSecret {
        secret: Secret::new("whsec_old"),
        expires_at: at(100),
    });
    let created = store.create_hook(repo(), wanted.clone()).await.unwrap();
    let read = |id| {
        let store = store.clone();
        async move { store.get_hook(&repo(), id).await.unwrap().unwrap() }
    };
    assert_eq!(read(created.id).await.settings.config, wanted.config);
    // A delivery's target carries them too.
    publish(&store, at(1)).await;
    let claim = store.claim_due("w", at(2), at(62), 10).await.unwrap();
    assert_eq!(claim.deliveries[0].target.config, wanted.config);

    // An update that would leave the Standard scheme with a plain secret changes nothing.
    let input = HookInput {
        active: true,
        url: "https://receiver.example/hook".to_owned(),
        content_type: "json".to_owned(),
        secret: Some(Secret::new("plain")),
        ..HookInput::default()
    };
    let patch = HookPatch::from_input(&input, &HookRules::default()).unwrap();
    let refused = store.update_hook(&repo(), created.id, patch).await.unwrap();
    assert!(matches!(refused, HookUpdate::Refused(_)), "{refused:?}");
    assert_eq!(read(created.id).await.settings.config, wanted.config);

    assert_eq!(store.erase_expired_secrets(at(99)).await.unwrap(), 0);
    assert_eq!(store.erase_expired_secrets(at(100)).await.unwrap(), 1);
    let config = read(created.id).await.settings.config;
    assert_eq!(config.previous_secret, None);
    assert_eq!(config.signature, SignatureScheme::Both, "the rest stays");
}

async fn a_hooks_own_retry_schedule_is_kept_and_reaches_its_deliveries(store: Arc<dyn Store>) {
    use hookpost::domain::retry::RetrySchedule;
    let mut wanted = settings(&["push"], true);
    wanted.config.retry_schedule = Some(RetrySchedule::for_hook("5s,90m,7d").unwrap());
    let created = store.create_hook(repo(), wanted.clone()).await.unwrap();
    let read = || {
        let store = store.clone();
        async move {
            store
                .get_hook(&repo(), created.id)
                .await
                .unwrap()
                .unwrap()
                .settings
                .config
        }
    };
    assert_eq!(read().await, wanted.config);
    publish(&store, at(1)).await;
    let claim = store.claim_due("w", at(2), at(62), 10).await.unwrap();
    assert_eq!(claim.deliveries[0].target.config, wanted.config);
    for (text, expected) in [
        ("none", Some(RetrySchedule::for_hook("none").unwrap())),
        ("", None),
    ] {
        let input = HookInput {
            active: true,
            events: vec!["push".to_owned()],
            url: "https://receiver.example/hook".to_owned(),
            content_type: "form".to_owned(),
            retry_schedule: Some(text.to_owned()),
            ..HookInput::default()
        };
        let patch = HookPatch::from_input(&input, &HookRules::default()).unwrap();
        store.update_hook(&repo(), created.id, patch).await.unwrap();
        assert_eq!(read().await.retry_schedule, expected, "{text:?}");
    }
}

/// A hook limited to 2 per second: a claim starts a second's worth and puts the rest off
/// to their slots (500 ms apart), marked throttled; claimed again in their slot they start
/// without taking another; the attempt shows when the wait began; a retry takes a new slot.
async fn a_rate_limited_hooks_claims_take_slots_once_and_put_off_the_rest(store: Arc<dyn Store>) {
    use hookpost::domain::rate::RateLimit;
    let ms = |ms: i64| Timestamp(at(2).0 + ms);
    let mut limited = settings(&["push"], true);
    limited.config.rate_limit = Some(RateLimit::new(2).unwrap());
    let created = store.create_hook(repo(), limited).await.unwrap();
    let read = store.get_hook(&repo(), created.id).await.unwrap().unwrap();
    assert_eq!(read.settings.config.rate_limit, RateLimit::new(2).ok());
    for _ in 0..5 {
        publish(&store, at(1)).await;
    }
    let first = store.claim_due("w", ms(0), ms(60_000), 10).await.unwrap();
    assert_eq!((first.deliveries.len(), first.throttled), (2, 3));
    assert!(first.deliveries.iter().all(|d| d.throttled_at.is_none()));
    assert_eq!(first.next_due, Some(ms(500)), "the first slot put off");
    let none = store.claim_due("w", ms(499), ms(60_000), 10).await.unwrap();
    assert!(none.deliveries.is_empty());
    let slotted = store
        .claim_due("w", ms(1000), ms(60_000), 10)
        .await
        .unwrap();
    assert_eq!(
        (slotted.deliveries.len(), slotted.throttled),
        (2, 0),
        "their slots are theirs: no new ones taken"
    );
    assert!(
        slotted
            .deliveries
            .iter()
            .all(|d| d.throttled_at == Some(ms(0)))
    );
    let mut failed = attempt(&slotted.deliveries[0], ms(1000), false);
    failed.throttled_at = slotted.deliveries[0].throttled_at;
    failed.next_attempt = Some(ms(1100));
    store.record_attempt(failed).await.unwrap();
    let log = store
        .list_attempts(&repo(), created.id, everything(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(log[0].throttled_at, Some(ms(0)));

    // The retry takes a slot of its own: the five taken so far reach 2.5 s, so its slot,
    // a second's worth of slots earlier than the next, is at 2 s.
    let retry = store
        .claim_due("w", ms(1100), ms(60_000), 10)
        .await
        .unwrap();
    assert_eq!((retry.deliveries.len(), retry.throttled), (0, 1));
    let fifth = store
        .claim_due("w", ms(1500), ms(60_000), 10)
        .await
        .unwrap();
    assert_eq!(fifth.deliveries.len(), 1);
    assert_eq!(fifth.deliveries[0].attempts, 0);
    let retried = store
        .claim_due("w", ms(2000), ms(60_000), 10)
        .await
        .unwrap();
    assert_eq!(retried.deliveries.len(), 1);
    assert_eq!(retried.deliveries[0].attempts, 1, "the retry");
    assert_eq!(retried.deliveries[0].throttled_at, Some(ms(1100)));
}

/// A FIFO hook's deliveries come due one at a time, in the order their events were
/// committed: a failing head is retried while the rest wait, the next goes once the head
/// ends, a redelivery joins the back of the line, and a hook that stops being FIFO has
/// what waits due at once.
async fn a_fifo_hook_has_one_delivery_due_at_a_time_in_commit_order(store: Arc<dyn Store>) {
    use hookpost::domain::order::DeliveryOrder;
    let mut fifo = settings(&["push"], true);
    fifo.config.ordering = DeliveryOrder::Fifo;
    let created = store.create_hook(repo(), fifo).await.unwrap();
    for second in 1..=3 {
        publish(&store, at(second)).await;
    }
    let claim = |seconds: i64| {
        let store = store.clone();
        async move {
            store
                .claim_due("w", at(seconds), at(seconds + 60), 10)
                .await
                .unwrap()
        }
    };
    let head = claim(10).await.deliveries;
    assert_eq!(head.len(), 1, "one at a time");
    assert!(head[0].in_line);
    let first_event = head[0].event.id;
    let mut failed = attempt(&head[0], at(10), false);
    failed.next_attempt = Some(at(20));
    store.record_attempt(failed).await.unwrap();
    assert!(
        claim(15).await.deliveries.is_empty(),
        "the rest wait for the head"
    );
    let retried = claim(20).await.deliveries;
    assert_eq!(retried.len(), 1);
    assert_eq!(
        retried[0].event.id, first_event,
        "the failing head is retried"
    );
    // Its retries spent: the next one goes.
    store
        .record_attempt(attempt(&retried[0], at(20), false))
        .await
        .unwrap();
    let second = claim(21).await.deliveries;
    assert_eq!(second.len(), 1);
    assert!(second[0].event.id > first_event);
    let log = store
        .list_attempts(&repo(), created.id, everything(10))
        .await
        .unwrap()
        .unwrap();
    // A redelivery of the first event joins the back of the line, behind the third.
    assert!(
        store
            .redeliver(&repo(), created.id, log[0].id, at(22))
            .await
            .unwrap()
    );
    store
        .record_attempt(attempt(&second[0], at(22), true))
        .await
        .unwrap();
    let third = claim(23).await.deliveries;
    assert_eq!(third.len(), 1);
    assert!(third[0].event.id > second[0].event.id, "the third event");
    store
        .record_attempt(attempt(&third[0], at(23), true))
        .await
        .unwrap();
    let redelivered = claim(24).await.deliveries;
    assert_eq!(redelivered.len(), 1);
    assert_eq!(redelivered[0].event.id, first_event);
    assert!(redelivered[0].redelivery);

    // Two more wait behind a head; the hook stops being FIFO: both are due at once.
    for second in 25..=27 {
        publish(&store, at(second)).await;
    }
    assert_eq!(
        claim(28).await.deliveries.len(),
        0,
        "the redelivery is the head"
    );
    let input = HookInput {
        active: true,
        events: vec!["push".to_owned()],
        url: "https://receiver.example/hook".to_owned(),
        content_type: "form".to_owned(),
        ordering: Some("none".to_owned()),
        ..HookInput::default()
    };
    let patch = HookPatch::from_input(&input, &HookRules::default()).unwrap();
    store.update_hook(&repo(), created.id, patch).await.unwrap();
    assert_eq!(claim(29).await.deliveries.len(), 3, "side by side now");
}

/// Ten failed attempts since a time before the cutoff disable a hook: its pending
/// deliveries and new events are held (listed with `status=held`, never claimed, kept by
/// retention, joined by a recovery of their window); re-activated, they come due one at a
/// time in publish order.
async fn a_hook_failing_long_enough_is_disabled_and_holds_its_events_until_re_activated(
    store: Arc<dyn Store>,
) {
    use hookpost::store::{RecoveryStart, StatusClass};
    let created = hook(&store, repo(), &["push"], true).await;
    for second in 1..=10 {
        publish(&store, at(second)).await;
    }
    let claimed = store
        .claim_due("w", at(11), at(71), 9)
        .await
        .unwrap()
        .deliveries;
    assert!(
        store
            .disable_failing_hooks(at(0), 10, "failing", at(12))
            .await
            .unwrap()
            .is_empty(),
        "no failure yet"
    );
    for (n, delivery) in claimed.iter().enumerate() {
        let mut failed = attempt(delivery, at(11 + n as i64), false);
        failed.next_attempt = Some(at(100));
        store.record_attempt(failed).await.unwrap();
    }
    assert!(
        store
            .disable_failing_hooks(at(20), 10, "failing", at(21))
            .await
            .unwrap()
            .is_empty(),
        "nine failures are not ten"
    );
    let last = store.claim_due("w", at(21), at(81), 10).await.unwrap();
    store
        .record_attempt(attempt(&last.deliveries[0], at(22), false))
        .await
        .unwrap();
    assert!(
        store
            .disable_failing_hooks(at(10), 10, "failing", at(23))
            .await
            .unwrap()
            .is_empty(),
        "failing since 11 s, not since 10 s"
    );
    let disabled = store
        .disable_failing_hooks(at(11), 10, "every attempt failed", at(23))
        .await
        .unwrap();
    assert_eq!(disabled, vec![created.id]);
    let read = store.get_hook(&repo(), created.id).await.unwrap().unwrap();
    assert!(!read.settings.active);
    assert_eq!(read.disabled.unwrap().reason, "every attempt failed");

    publish(&store, at(24)).await;
    assert!(
        store
            .claim_due("w", at(200), at(260), 10)
            .await
            .unwrap()
            .deliveries
            .is_empty()
    );
    let held = store
        .list_attempts(
            &repo(),
            created.id,
            AttemptQuery {
                status: Some(StatusClass::Held),
                ..everything(100)
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(held.len(), 10, "nine waiting for a retry and the new event");
    assert!(held.iter().all(|item| item.status == "held"));
    assert_eq!(
        prune_all(&store, at(1000)).await,
        1,
        "only the event whose delivery failed for good: held work is kept"
    );
    // A recovery takes the held deliveries of its window; they stay held, and count as its
    // pending work, until the hook is re-activated.
    let recovery = match store
        .start_recovery(&repo(), created.id, at(5), None, at(250))
        .await
        .unwrap()
    {
        RecoveryStart::Started(recovery) => recovery,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (recovery.queued, recovery.done, recovery.pending),
        (6, 0, 6),
        "the events of seconds 5 to 9 and 24"
    );
    assert_eq!(
        store
            .start_recovery(&repo(), created.id, at(0), None, at(251))
            .await
            .unwrap(),
        RecoveryStart::Running(recovery.id)
    );
    assert!(
        store
            .claim_due("w", at(252), at(312), 10)
            .await
            .unwrap()
            .deliveries
            .is_empty(),
        "still nothing is sent to the disabled hook"
    );

    let input = HookInput {
        active: true,
        events: vec!["push".to_owned()],
        url: "https://receiver.example/hook".to_owned(),
        content_type: "form".to_owned(),
        ..HookInput::default()
    };
    let patch = HookPatch::from_input(&input, &HookRules::default()).unwrap();
    store.update_hook(&repo(), created.id, patch).await.unwrap();
    let read = store.get_hook(&repo(), created.id).await.unwrap().unwrap();
    assert!(read.settings.active && read.disabled.is_none());
    let mut previous = 0;
    for _ in 0..10 {
        let next = store.claim_due("w", at(300), at(360), 10).await.unwrap();
        assert_eq!(next.deliveries.len(), 1, "in order, one at a time");
        let delivery = &next.deliveries[0];
        assert!(delivery.event.id > previous);
        previous = delivery.event.id;
        store
            .record_attempt(attempt(delivery, at(300), true))
            .await
            .unwrap();
    }
    assert!(
        store
            .claim_due("w", at(300), at(360), 10)
            .await
            .unwrap()
            .deliveries
            .is_empty()
    );
    let finished = store
        .get_recovery(&repo(), created.id, recovery.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (finished.done, finished.succeeded, finished.pending),
        (6, 6, 0)
    );
    assert!(!finished.is_running());
}

async fn tokens_keep_their_scope_expiry_revocation_and_last_use(store: Arc<dyn Store>) {
    let owners = vec![Login::parse("acme").unwrap(), Login::parse("Bob").unwrap()];
    let manager = store
        .create_token(
            NewToken {
                hash: [1; 32],
                owners: owners.clone(),
                scope: TokenScope::Manage,
                expires_at: None,
            },
            at(0),
        )
        .await
        .unwrap();
    let publisher = store
        .create_token(
            NewToken {
                hash: [2; 32],
                owners: vec![owners[0].clone()],
                scope: TokenScope::Publish,
                expires_at: Some(at(60)),
            },
            at(1),
        )
        .await
        .unwrap();
    assert_eq!(manager.owners, owners);
    assert_eq!(
        (manager.created_at, manager.expires_at, manager.revoked_at),
        (at(0), None, None)
    );
    assert_eq!(publisher.scope, TokenScope::Publish);
    assert_eq!(publisher.expires_at, Some(at(60)));
    assert_eq!(
        store.find_token([2; 32]).await.unwrap(),
        Some(publisher.clone())
    );
    assert_eq!(store.find_token([3; 32]).await.unwrap(), None);

    store.token_used(publisher.id, at(5)).await.unwrap();
    store.token_used(publisher.id, at(4)).await.unwrap();
    let revoked = store
        .revoke_token(publisher.id, at(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(at(10)));
    assert_eq!(
        revoked.last_used_at,
        Some(at(5)),
        "a use is never moved back"
    );
    let again = store
        .revoke_token(publisher.id, at(20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        again.revoked_at,
        Some(at(10)),
        "revoking again keeps the first instant"
    );
    assert_eq!(
        store
            .revoke_token(publisher.id + 100, at(20))
            .await
            .unwrap(),
        None
    );

    let listed = store.list_tokens().await.unwrap();
    assert_eq!(listed, vec![manager, again.clone()]);
    assert_eq!(store.find_token([2; 32]).await.unwrap(), Some(again));
}

/// Request headers are stored split (a template shared by attempts, the attempt's own
/// values, the event's guid not again) and read back exactly, order and repeats included.
async fn an_attempts_request_headers_read_back_exactly_as_sent(store: Arc<dyn Store>) {
    let created = hook(&store, repo(), &["push"], true).await;
    publish(&store, at(0)).await;
    publish(&store, at(1)).await;
    let claim = store.claim_due("w", at(2), at(62), 10).await.unwrap();
    let mut sent = Vec::new();
    for (n, delivery) in claim.deliveries.iter().enumerate() {
        let guid = delivery.event.guid.as_str();
        let signature = format!("{n}f{n}e");
        let headers: Vec<(String, String)> = [
            ("Content-Type", "application/json"),
            ("X-GitHub-Delivery", guid),
            ("X-GitHub-Event", "push"),
            ("X-Hub-Signature-256", &format!("sha256={signature}")),
            ("X-Gitea-Delivery", guid),
            ("X-Gitea-Signature", &signature),
            ("X-Custom", "a"),
            ("X-Custom", "b"),
        ]
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
        let mut record = attempt(delivery, at(3), true);
        record.request_headers = headers.clone();
        store.record_attempt(record).await.unwrap();
        sent.push((delivery.event.guid.clone(), headers));
    }
    let items = store
        .list_attempts(&repo(), created.id, everything(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(items.len(), 2);
    for item in items {
        let detail = store
            .get_attempt(&repo(), created.id, item.id)
            .await
            .unwrap()
            .unwrap();
        let (_, headers) = sent.iter().find(|(guid, _)| *guid == item.guid).unwrap();
        assert_eq!(&detail.request_headers, headers);
    }
}

/// Templates of request headers are deleted by retention once no stored attempt can use
/// them: one whose attempts went with their events goes; one an attempt of a kept event uses
/// stays, even when only its use hours after the first keeps it alive; one used again after
/// it went is stored again.
async fn retention_deletes_the_request_header_templates_no_stored_attempt_uses(
    store: Arc<dyn Store>,
) {
    let created = hook(&store, repo(), &["push"], true).await;
    let templates = |when| {
        let store = store.clone();
        async move { store.queue_stats(when).await.unwrap().header_sets }
    };
    let sent = |guid: &str, version: &str| {
        vec![
            ("X-GitHub-Delivery".to_owned(), guid.to_owned()),
            ("X-Version".to_owned(), version.to_owned()),
        ]
    };
    // Attempts the one delivery due at `when`, sent with `X-Version: version` (its
    // template); a failure leaves a retry pending for a long time.
    let attempt_once = |when: Timestamp, version: &'static str, succeeded: bool| {
        let store = store.clone();
        async move {
            let claim = store
                .claim_due("w", when, Timestamp(when.0 + 60_000), 10)
                .await
                .unwrap();
            assert_eq!(claim.deliveries.len(), 1);
            let mut record = attempt(&claim.deliveries[0], when, succeeded);
            record.request_headers = sent(&record.event_guid, version);
            if !succeeded {
                record.next_attempt = Some(Timestamp(when.0 + 500_000_000));
            }
            store.record_attempt(record).await.unwrap();
        }
    };
    let logged = || {
        let store = store.clone();
        async move {
            let mut headers = Vec::new();
            let items = store
                .list_attempts(&repo(), created.id, everything(10))
                .await
                .unwrap()
                .unwrap();
            for item in items {
                let detail = store.get_attempt(&repo(), created.id, item.id).await;
                let detail = detail.unwrap().expect("every listed attempt reads");
                headers.push((item.guid, detail.request_headers));
            }
            headers
        }
    };
    publish(&store, at(0)).await;
    attempt_once(at(1), "a", true).await;
    publish(&store, at(10_000)).await;
    attempt_once(at(10_001), "b", false).await;
    assert_eq!(templates(at(10_002)).await, 2);
    assert_eq!(prune_all(&store, at(20_000)).await, 1);
    assert_eq!(
        templates(at(20_000)).await,
        1,
        "a's attempt went with its event; b's event waits for a retry"
    );

    // b is used again hours later by a newer event's attempt, then the first event that
    // used it finishes and goes: b stays for the newer one.
    publish(&store, at(20_000)).await;
    attempt_once(at(30_000), "b", false).await;
    attempt_once(at(510_001), "c", true).await;
    assert_eq!(prune_all(&store, at(515_000)).await, 1);
    let kept = logged().await;
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].1, sent(&kept[0].0, "b"));
    assert_eq!(templates(at(515_000)).await, 2, "b and c");

    // a, deleted, is stored again when an attempt uses it.
    publish(&store, at(515_000)).await;
    attempt_once(at(515_001), "a", true).await;
    let logged = logged().await;
    assert_eq!(logged.len(), 2);
    assert!(
        logged
            .iter()
            .any(|(guid, headers)| *headers == sent(guid, "a"))
    );
    assert_eq!(templates(at(515_002)).await, 3);
}

/// A manual redelivery that succeeds ends the automatic retries still waiting; the
/// scheduled delivery's success leaves a redelivery someone asked for to be sent.
async fn a_redeliverys_success_makes_the_waiting_retry_moot_but_not_the_other_way_round(
    store: Arc<dyn Store>,
) {
    let created = hook(&store, repo(), &["push"], true).await;
    let claim = |now: i64| {
        let store = store.clone();
        async move {
            store
                .claim_due("w", at(now), at(now + 60), 10)
                .await
                .unwrap()
                .deliveries
        }
    };
    let fail_then_redeliver = |published: i64, retry_at: i64, redeliver_at: i64| {
        let store = store.clone();
        async move {
            publish(&store, at(published)).await;
            let first = claim(published).await;
            let mut failed = attempt(&first[0], at(published), false);
            failed.next_attempt = Some(at(retry_at));
            store.record_attempt(failed).await.unwrap();
            let newest = store
                .list_attempts(&repo(), created.id, everything(1))
                .await
                .unwrap()
                .unwrap();
            assert!(
                store
                    .redeliver(&repo(), created.id, newest[0].id, at(redeliver_at))
                    .await
                    .unwrap()
            );
        }
    };

    fail_then_redeliver(0, 100, 2).await;
    let manual = claim(3).await;
    assert!(manual.len() == 1 && !manual[0].retry);
    store
        .record_attempt(attempt(&manual[0], at(4), true))
        .await
        .unwrap();
    assert!(claim(100).await.is_empty(), "the retry is moot");

    fail_then_redeliver(200, 300, 350).await;
    let scheduled = claim(300).await;
    assert!(scheduled.len() == 1 && scheduled[0].retry);
    store
        .record_attempt(attempt(&scheduled[0], at(301), true))
        .await
        .unwrap();
    let asked_for = claim(350).await;
    assert!(
        asked_for.len() == 1 && !asked_for[0].retry,
        "the redelivery is still sent"
    );
}

/// Whatever a backend does to store payloads (PostgreSQL packs the small ones that shrink),
/// every payload comes back exactly as published, to each of its deliveries and in the
/// log: small, JSON that packs well, bytes that do not shrink, at and past the size up to
/// which payloads are packed, and large; published together so that one batch mixes them.
async fn payloads_of_every_size_and_kind_come_back_byte_for_byte(store: Arc<dyn Store>) {
    let first = hook(&store, repo(), &["push"], true).await;
    hook(&store, repo(), &["push"], true).await;
    let json_of = |size: usize| {
        let mut text = String::from(r#"{"commits":["#);
        let mut n = 0;
        while text.len() + 80 < size {
            text.push_str(&format!(
                r#"{{"url":"https://forge.example/acme/widgets/{n}"}},"#
            ));
            n += 1;
        }
        text.push_str(&format!(
            r#"{{"pad":"{}"}}]}}"#,
            "x".repeat(size - text.len() - 13)
        ));
        text.into_bytes()
    };
    // A counter through a multiplicative hash: bytes without repetition to find.
    let noise: Vec<u8> = (0u32..1024)
        .map(|n| (n.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let payloads = vec![
        b"{}".to_vec(),
        json_of(1024),
        noise,
        vec![b'a'; 8 * 1024],
        vec![b'a'; 8 * 1024 + 1],
        json_of(100_000),
    ];
    let published = futures_util::future::join_all(payloads.iter().map(|payload| {
        let mut event = push(json!({}));
        event.payload = payload.clone();
        let guid = event.guid.clone();
        let store = store.clone();
        async move {
            store.publish(event, None, at(0)).await.unwrap();
            guid
        }
    }))
    .await;
    let sent: Vec<(String, Vec<u8>)> = published.into_iter().zip(payloads).collect();
    let claim = store.claim_due("w", at(1), at(61), 100).await.unwrap();
    assert_eq!(claim.deliveries.len(), 2 * sent.len());
    for delivery in &claim.deliveries {
        let (_, payload) = sent
            .iter()
            .find(|(guid, _)| *guid == delivery.event.guid)
            .unwrap();
        assert_eq!(delivery.event.payload.as_ref(), payload.as_slice());
        store
            .record_attempt(attempt(delivery, at(2), true))
            .await
            .unwrap();
    }
    let items = store
        .list_attempts(&repo(), first.id, everything(100))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(items.len(), sent.len());
    for item in items {
        let detail = store
            .get_attempt(&repo(), first.id, item.id)
            .await
            .unwrap()
            .unwrap();
        let (_, payload) = sent.iter().find(|(guid, _)| *guid == item.guid).unwrap();
        assert_eq!(detail.event_payload.as_ref(), payload.as_slice());
    }
}

/// Deleting a hook deletes its deliveries, those waiting for a retry included, and its
/// log; another hook's deliveries and log stay.
async fn a_deleted_hooks_queued_deliveries_go_with_it_and_no_other_hooks(store: Arc<dyn Store>) {
    let gone = hook(&store, repo(), &["push"], true).await;
    let kept = hook(&store, repo(), &["push"], true).await;
    assert_eq!(publish(&store, at(1)).await, 2);
    assert_eq!(publish(&store, at(1)).await, 2);
    let claim = store.claim_due("w", at(2), at(62), 10).await.unwrap();
    assert_eq!(claim.deliveries.len(), 4);
    for delivery in &claim.deliveries {
        let mut record = attempt(delivery, at(3), delivery.target.hook_id == kept.id);
        if delivery.target.hook_id == gone.id {
            record.next_attempt = Some(at(100));
        }
        store.record_attempt(record).await.unwrap();
    }
    assert_eq!(store.queue_stats(at(4)).await.unwrap().scheduled, 2);
    assert!(store.delete_hook(&repo(), gone.id).await.unwrap());
    assert!(!store.delete_hook(&repo(), gone.id).await.unwrap());
    let stats = store.queue_stats(at(4)).await.unwrap();
    assert_eq!(
        (stats.due, stats.scheduled),
        (0, 0),
        "its retries went with it"
    );
    assert!(
        store
            .claim_due("w", at(200), at(260), 10)
            .await
            .unwrap()
            .deliveries
            .is_empty()
    );
    assert!(
        store
            .list_attempts(&repo(), gone.id, everything(10))
            .await
            .unwrap()
            .is_none()
    );
    let log = store
        .list_attempts(&repo(), kept.id, everything(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(log.len(), 2, "the other hook's log stays");
    assert_eq!(
        publish(&store, at(300)).await,
        1,
        "and it still gets events"
    );
}
