//! Schema migrations, tracked in SQLite's `user_version`.
//!
//! Invariant: migrations are append-only; a released file is never edited, so every
//! database with version N has the same schema.

use rusqlite::{Connection, TransactionBehavior};

use crate::store::StoreError;
use crate::store::columns::pending_migrations;

const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/sqlite/0001_init.sql"),
    include_str!("../../../migrations/sqlite/0002_sessions.sql"),
    include_str!("../../../migrations/sqlite/0003_ids_never_reused.sql"),
    include_str!("../../../migrations/sqlite/0004_token_lifecycle.sql"),
    include_str!("../../../migrations/sqlite/0005_signature_schemes.sql"),
    include_str!("../../../migrations/sqlite/0006_hook_retry_schedules.sql"),
    include_str!("../../../migrations/sqlite/0007_recoveries.sql"),
    include_str!("../../../migrations/sqlite/0008_rate_limits.sql"),
    include_str!("../../../migrations/sqlite/0009_fifo_hooks.sql"),
    include_str!("../../../migrations/sqlite/0010_auto_disable.sql"),
    include_str!("../../../migrations/sqlite/0011_sparse_log_filters.sql"),
    include_str!("../../../migrations/sqlite/0012_header_sets.sql"),
    include_str!("../../../migrations/sqlite/0013_packed_payloads.sql"),
];

/// Brings the database up to the newest schema; safe to run from several processes at
/// once (the version is re-read under the write lock).
///
/// Foreign keys are off while migrations run (SQLite's own way to rebuild a table without
/// cascading deletes into its children) and every reference is checked before the commit.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.pragma_update(None, "foreign_keys", false)?;
    let migrated = apply(conn);
    conn.pragma_update(None, "foreign_keys", true)?;
    migrated
}

fn apply(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    for sql in pending_migrations(MIGRATIONS, version)? {
        tx.execute_batch(sql)?;
    }
    let broken: i64 = tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |row| {
        row.get(0)
    })?;
    if broken > 0 {
        return Err(StoreError::Corrupt(format!(
            "{broken} rows refer to rows that do not exist after migrating"
        )));
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
    tx.commit()?;
    Ok(())
}
