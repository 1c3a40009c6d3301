//! Schema migrations, tracked in a one-row table.
//!
//! Invariant: migrations are append-only; a released file is never edited. Nodes starting
//! together take a transaction-scoped advisory lock first, so exactly one of them migrates
//! and the others then find the schema current.

use deadpool_postgres::GenericClient;

use super::{exec, one};
use crate::store::StoreError;
use crate::store::columns::pending_migrations;

const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/postgres/0001_init.sql"),
    include_str!("../../../migrations/postgres/0002_sessions.sql"),
    include_str!("../../../migrations/postgres/0003_token_lifecycle.sql"),
    include_str!("../../../migrations/postgres/0004_nodes.sql"),
    include_str!("../../../migrations/postgres/0005_signature_schemes.sql"),
    include_str!("../../../migrations/postgres/0006_hook_retry_schedules.sql"),
    include_str!("../../../migrations/postgres/0007_recoveries.sql"),
    include_str!("../../../migrations/postgres/0008_rate_limits.sql"),
    include_str!("../../../migrations/postgres/0009_fifo_hooks.sql"),
    include_str!("../../../migrations/postgres/0010_auto_disable.sql"),
    include_str!("../../../migrations/postgres/0011_sparse_log_filters.sql"),
    include_str!("../../../migrations/postgres/0012_header_sets.sql"),
    include_str!("../../../migrations/postgres/0013_packed_payloads.sql"),
    include_str!("../../../migrations/postgres/0014_no_statistics_for_bodies.sql"),
    include_str!("../../../migrations/postgres/0015_no_locks_on_shared_parents.sql"),
];

/// Any fixed number: the key of the advisory lock that serialises migrations.
const MIGRATION_LOCK: i64 = 0x686f_6f6b_706f_7374;

pub(super) async fn migrate(client: &mut deadpool_postgres::Client) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    exec(&tx, "SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS hookpost_schema (version BIGINT NOT NULL);
         INSERT INTO hookpost_schema (version)
         SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM hookpost_schema);",
    )
    .await?;
    let version: i64 = one(&tx, "SELECT version FROM hookpost_schema", &[])
        .await?
        .try_get(0)?;
    for sql in pending_migrations(MIGRATIONS, version)? {
        tx.batch_execute(sql).await?;
    }
    let latest = MIGRATIONS.len() as i64;
    exec(&tx, "UPDATE hookpost_schema SET version = $1", &[&latest]).await?;
    tx.commit().await?;
    Ok(())
}
