//! The `scale` scenario's seed: one hook's log grown to millions of attempts directly in
//! the store, each its own event and delivery, copied from the run's first real `push` and
//! its attempt, not the hook's ping (so every seeded event stores its payload as the server
//! stored a real one, packed where the server packs, and every seeded attempt the request
//! headers a real one does). Written in chunks, each its own transaction, while no server
//! runs.

use tokio_postgres::NoTls;

use crate::storage::Storage;

/// Rows written per transaction.
const CHUNK: u64 = 250_000;

/// The statements of one chunk for a dialect: `$1` the chunk's first number, `$2` its size,
/// `$3` how much older than the first `push` (milliseconds) its events are made;
/// the deliveries and attempts are those of events (deliveries) newer than `$1`.
struct Dialect {
    events: &'static str,
    deliveries: &'static str,
    attempts: &'static str,
}

const SQLITE: Dialect = Dialect {
    events: "INSERT INTO events (guid, name, action, repository_id, account_id,
                                 target_repository_id, target_organization_id, payload,
                                 created_at)
             SELECT 'seed-' || (?1 + n.i), t.name, t.action, t.repository_id, t.account_id,
                    t.target_repository_id, t.target_organization_id, t.payload, t.created_at - ?3
             FROM (WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?2)
                   SELECT i FROM n) n,
                  (SELECT * FROM events WHERE name = 'push' ORDER BY id LIMIT 1) t",
    deliveries: "INSERT INTO deliveries (event_id, hook_id, retry, redelivery, state, attempts)
                 SELECT e.id, t.hook_id, 0, 0, 'succeeded', 1
                 FROM events e, (SELECT hook_id FROM attempts ORDER BY id LIMIT 1) t
                 WHERE e.id > ?1 ORDER BY e.id",
    attempts: "INSERT INTO attempts (delivery_id, hook_id, event_id, installation_id, redelivery,
                                     delivered_at, duration_ms, status, status_code, url,
                                     request_headers, response_headers, response_body,
                                     header_set_id)
               SELECT d.id, d.hook_id, d.event_id, NULL, 0, t.delivered_at, 1, 'OK', 200, t.url,
                      t.request_headers, t.response_headers, t.response_body, t.header_set_id
               FROM deliveries d, (SELECT a.* FROM attempts a JOIN events e ON e.id = a.event_id
                     WHERE e.name = 'push' ORDER BY a.id LIMIT 1) t
               WHERE d.id > ?1 ORDER BY d.id",
};

const POSTGRES: Dialect = Dialect {
    events: "INSERT INTO events (guid, name, action, repository_id, account_id,
                                 target_repository_id, target_organization_id, payload,
                                 created_at)
             SELECT 'seed-' || ($1::bigint + i), t.name, t.action, t.repository_id, t.account_id,
                    t.target_repository_id, t.target_organization_id, t.payload,
                    t.created_at - $3::bigint
             FROM generate_series(0, $2::bigint - 1) i,
                  (SELECT * FROM events WHERE name = 'push' ORDER BY id LIMIT 1) t",
    deliveries: "INSERT INTO deliveries (event_id, hook_id, retry, redelivery, state, attempts)
                 SELECT e.id, t.hook_id, false, false, 'succeeded', 1
                 FROM events e, (SELECT hook_id FROM attempts ORDER BY id LIMIT 1) t
                 WHERE e.id > $1 ORDER BY e.id",
    attempts: "INSERT INTO attempts (delivery_id, hook_id, event_id, installation_id, redelivery,
                                     delivered_at, duration_ms, status, status_code, url,
                                     request_headers, response_headers, response_body,
                                     header_set_id)
               SELECT d.id, d.hook_id, d.event_id, NULL, false, t.delivered_at, 1, 'OK', 200,
                      t.url, t.request_headers, t.response_headers, t.response_body,
                      t.header_set_id
               FROM deliveries d, (SELECT a.* FROM attempts a JOIN events e ON e.id = a.event_id
                     WHERE e.name = 'push' ORDER BY a.id LIMIT 1) t
               WHERE d.id > $1 ORDER BY d.id",
};

/// A dialect's events statement that also copies `payload_packed`, if the build under
/// test has it (a build that packs payloads keeps each in `payload` or `payload_packed`).
fn copying_packed(events: &str, packs: bool) -> String {
    if !packs {
        return events.to_owned();
    }
    events
        .replace("t.payload,", "t.payload, t.payload_packed,")
        .replace(
            "target_organization_id, payload,",
            "target_organization_id, payload, payload_packed,",
        )
}

/// The largest id of `table` ("events" or "deliveries"), as the seed's next chunk starts.
const MAX_EVENT: &str = "SELECT coalesce(max(id), 0) FROM events";
const MAX_DELIVERY: &str = "SELECT coalesce(max(id), 0) FROM deliveries";

/// Adds `count` events, deliveries and successful attempts of the hook of the log's first
/// attempt, each event's payload stored as the first `push`'s, and each event created
/// `backdate_ms` before it.
pub async fn seed(storage: &Storage, count: u64, backdate_ms: i64) {
    match storage.database_url() {
        Some(url) => seed_postgres(&url, count, backdate_ms).await,
        None => {
            let path = storage.sqlite_path();
            tokio::task::spawn_blocking(move || seed_sqlite(&path, count, backdate_ms))
                .await
                .expect("the seed runs");
        }
    }
}

fn seed_sqlite(path: &std::path::Path, count: u64, backdate_ms: i64) {
    let mut conn = rusqlite::Connection::open(path).expect("the database opens");
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    let packs: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM pragma_table_info('events') WHERE name = 'payload_packed'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    let insert_events = copying_packed(SQLITE.events, packs);
    let mut done = 0;
    while done < count {
        let chunk = CHUNK.min(count - done);
        let transaction = conn.transaction().unwrap();
        let max = |sql: &str| -> i64 { transaction.query_row(sql, [], |row| row.get(0)).unwrap() };
        let (events, deliveries) = (max(MAX_EVENT), max(MAX_DELIVERY));
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        transaction
            .execute(&insert_events, (as_i64(done), as_i64(chunk), backdate_ms))
            .unwrap();
        transaction.execute(SQLITE.deliveries, [events]).unwrap();
        transaction.execute(SQLITE.attempts, [deliveries]).unwrap();
        transaction.commit().unwrap();
        done += chunk;
    }
    conn.pragma_update(None, "wal_checkpoint", "TRUNCATE")
        .unwrap();
}

async fn seed_postgres(url: &str, count: u64, backdate_ms: i64) {
    let (mut client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("PostgreSQL answers");
    let driver = tokio::spawn(connection);
    let packs: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns
                            WHERE table_name = 'events' AND column_name = 'payload_packed')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let insert_events = copying_packed(POSTGRES.events, packs);
    let mut done = 0;
    while done < count {
        let chunk = CHUNK.min(count - done);
        let transaction = client.transaction().await.unwrap();
        let events: i64 = transaction.query_one(MAX_EVENT, &[]).await.unwrap().get(0);
        let deliveries: i64 = transaction
            .query_one(MAX_DELIVERY, &[])
            .await
            .unwrap()
            .get(0);
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        transaction
            .execute(
                &insert_events,
                &[&as_i64(done), &as_i64(chunk), &backdate_ms],
            )
            .await
            .unwrap();
        transaction
            .execute(POSTGRES.deliveries, &[&events])
            .await
            .unwrap();
        transaction
            .execute(POSTGRES.attempts, &[&deliveries])
            .await
            .unwrap();
        transaction.commit().await.unwrap();
        done += chunk;
    }
    // Fresh statistics, as autovacuum would have made them while the log grew.
    client
        .batch_execute("VACUUM ANALYZE events, deliveries, attempts")
        .await
        .unwrap();
    drop(client);
    let _ = driver.await;
}

/// The bytes the store takes (SQLite: its files; PostgreSQL: its tables with their indexes
/// and TOAST), and each table's share with its indexes, largest first (SQLite's pages by
/// `dbstat`, PostgreSQL's `pg_total_relation_size`).
pub async fn stored_bytes(storage: &Storage) -> (u64, Vec<(String, u64)>) {
    let Some(url) = storage.database_url() else {
        let path = storage.sqlite_path();
        let tables = tokio::task::spawn_blocking(move || sqlite_bytes(&path))
            .await
            .expect("the count runs");
        return (storage.sqlite_bytes(), tables);
    };
    let (client, connection) = tokio_postgres::connect(&url, NoTls)
        .await
        .expect("PostgreSQL answers");
    let driver = tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT c.relname::text, pg_total_relation_size(c.oid) FROM pg_class c
             WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace
             ORDER BY 2 DESC",
            &[],
        )
        .await
        .unwrap();
    drop(client);
    let _ = driver.await;
    let tables: Vec<(String, u64)> = rows
        .iter()
        .map(|row| (row.get(0), row.get::<_, i64>(1).unsigned_abs()))
        .collect();
    (tables.iter().map(|(_, bytes)| bytes).sum(), tables)
}

fn sqlite_bytes(path: &std::path::Path) -> Vec<(String, u64)> {
    let conn = rusqlite::Connection::open(path).expect("the database opens");
    let mut statement = conn
        .prepare(
            "SELECT m.tbl_name, sum(s.pgsize) FROM dbstat s JOIN sqlite_schema m ON m.name = s.name
             GROUP BY m.tbl_name ORDER BY 2 DESC",
        )
        .unwrap();
    statement
        .query_map([], |row| {
            Ok((row.get(0)?, row.get::<_, i64>(1)?.unsigned_abs()))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}
