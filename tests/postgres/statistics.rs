//! The nodes take the planner's statistics of the tables that grow once those have changed a
//! lot: where autovacuum is off (as on the machines these tests run on), plans made while the
//! queue was empty would otherwise read the whole table for every claim and record.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::database::{connect, delivering_node};
use crate::helpers::{ADMIN_TOKEN, Storage, hook_body};
use crate::receiver::TestReceiver;

/// Events published: their deliveries change the queue by far more than the 1,000 rows and
/// a fifth that make its statistics stale.
const EVENTS: usize = 1_300;

async fn a_node_takes_the_statistics_of_the_queue_once_it_has_grown() {
    let storage = Arc::new(Storage::new().await);
    let app = delivering_node(&storage).await;
    let client = connect(&storage).await;
    // Whatever the server's settings, only the nodes may take these statistics here.
    client
        .batch_execute(
            "ALTER TABLE deliveries SET (autovacuum_enabled = false);
             ALTER TABLE events SET (autovacuum_enabled = false);",
        )
        .await
        .unwrap();
    let receiver = TestReceiver::start().await;
    app.create_hook(
        "/repos/acme/widgets/hooks",
        ADMIN_TOKEN,
        &hook_body(&receiver.url),
    )
    .await;
    for n in 0..EVENTS {
        app.publish("push", "acme/widgets", json!({"n": n})).await;
    }
    let analyzed = "SELECT s.relname::text, c.reltuples::float8 FROM pg_stat_user_tables s
                    JOIN pg_class c ON c.oid = s.relid
                    WHERE s.relname IN ('deliveries', 'events') AND s.last_analyze IS NOT NULL";
    // A node looks every 10 s; give it three looks.
    let mut tables = Vec::new();
    for _ in 0..150 {
        tables = client.query(analyzed, &[]).await.unwrap();
        if tables.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let seen: Vec<(String, f64)> = tables.iter().map(|row| (row.get(0), row.get(1))).collect();
    assert_eq!(seen.len(), 2, "both tables analyzed: {seen:?}");
    // Taken once 1,000 rows changed: an event changes once (its insert), a delivery up to
    // three times (insert, lease, record), so its table may be analyzed at a third of that.
    for (table, rows) in &seen {
        let least = if table == "events" { 1_000.0 } else { 334.0 };
        assert!(*rows >= least, "the statistics count the rows: {seen:?}");
    }
}

crate::harness::tests!(a_node_takes_the_statistics_of_the_queue_once_it_has_grown);
