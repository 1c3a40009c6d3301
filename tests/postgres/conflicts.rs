//! Transactions of several nodes (or committers) lock the same hooks and repositories; when
//! PostgreSQL breaks a deadlock by aborting a publish, the publish is run again rather than
//! answered with a 500.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::database::connect;
use crate::helpers::{ADMIN_TOKEN, Storage, start};

async fn a_publish_picked_as_a_deadlocks_victim_is_run_again_not_refused() {
    let storage = std::sync::Arc::new(Storage::new().await);
    let app = std::sync::Arc::new(start(&storage, |_| {}).await);
    // A FIFO hook: a publish to it locks the hook's row for its line.
    let hook = app
        .create_hook(
            "/repos/acme/widgets/hooks",
            ADMIN_TOKEN,
            &json!({"events": ["push"],
                    "config": {"url": "http://127.0.0.1:9/hook", "ordering": "fifo"}}),
        )
        .await;
    app.publish("push", "acme/widgets", json!({"n": 0})).await;
    let other = connect(&storage).await;
    let repository: i64 = other
        .query_one(
            "SELECT id FROM repositories WHERE name_key = 'widgets'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    // Another transaction holds the hook; the publish, which has taken a share of the
    // repository's row for its event, waits for the hook.
    other
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM hooks WHERE id = {} FOR UPDATE",
            hook["id"]
        ))
        .await
        .unwrap();
    let publish = {
        let app = app.clone();
        tokio::spawn(async move {
            app.post(
                "/events",
                ADMIN_TOKEN,
                &json!({"event": "push", "repository": "acme/widgets", "payload": {"n": 1}}),
            )
            .await
        })
    };
    let waiting = "SELECT count(*) FROM pg_stat_activity
                   WHERE datname = current_database() AND wait_event_type = 'Lock'";
    for _ in 0..100 {
        let count: i64 = other.query_one(waiting, &[]).await.unwrap().get(0);
        if count > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Now the other transaction wants the repository's row: a deadlock, which the publish,
    // waiting the longest, finds and loses.
    other
        .batch_execute(&format!(
            "SELECT 1 FROM repositories WHERE id = {repository} FOR UPDATE; COMMIT"
        ))
        .await
        .unwrap();
    let published = tokio::time::timeout(Duration::from_secs(20), publish)
        .await
        .expect("the publish is answered")
        .unwrap();
    assert_eq!(published.status, StatusCode::ACCEPTED, "{}", published.body);
    let guid = published.body["id"].as_str().unwrap().to_owned();
    let deliveries: i64 = other
        .query_one(
            "SELECT count(*) FROM deliveries d JOIN events e ON e.id = d.event_id
             WHERE e.guid = $1",
            &[&guid],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(deliveries, 1, "the event was queued once");
}

crate::harness::tests!(a_publish_picked_as_a_deadlocks_victim_is_run_again_not_refused);
