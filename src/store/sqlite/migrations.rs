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
];

/// Brings the database up to the newest schema; safe to run from several processes at
/// once (the version is re-read under the write lock).
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    for sql in pending_migrations(MIGRATIONS, version)? {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
    tx.commit()?;
    Ok(())
}
