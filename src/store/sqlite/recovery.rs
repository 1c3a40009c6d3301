//! Bulk recoveries: queueing one more attempt of a hook's failed deliveries in a window,
//! and their progress (the SQL is shared with PostgreSQL in `columns`).

use rusqlite::{Connection, OptionalExtension, params};

use super::hooks::exists as hook_exists;
use super::line::line_up;
use crate::domain::hook::HookScope;
use crate::domain::timestamp::Timestamp;
use crate::store::columns::{
    RUNNING_RECOVERY_QUERY, read_recovery, recovery_adopt_held, recovery_insert, recovery_query,
};
use crate::store::{HookId, Recovery, RecoveryStart, StoreError};

fn placeholder(n: usize) -> String {
    format!("?{n}")
}

pub(super) fn start(
    conn: &Connection,
    scope: &HookScope,
    hook_id: HookId,
    (since, until): (Timestamp, Option<Timestamp>),
    now: Timestamp,
) -> Result<RecoveryStart, StoreError> {
    if !hook_exists(conn, scope, hook_id)? {
        return Ok(RecoveryStart::Missing);
    }
    let running: Option<i64> = conn
        .prepare_cached(&RUNNING_RECOVERY_QUERY.replace("{hook}", "?1"))?
        .query_row([hook_id], |row| row.get(0))
        .optional()?;
    if let Some(id) = running {
        return Ok(RecoveryStart::Running(id));
    }
    let id: i64 = conn
        .prepare_cached(
            "INSERT INTO recoveries (hook_id, since, until, created_at, queued)
             VALUES (?1, ?2, ?3, ?4, 0) RETURNING id",
        )?
        .query_row(
            params![hook_id, since.0, until.map(|at| at.0), now.0],
            |row| row.get(0),
        )?;
    let until = until.map_or(i64::MAX, |at| at.0);
    let queued = conn
        .prepare_cached(&recovery_insert(placeholder, ("0", "1")))?
        .execute(params![hook_id, since.0, until, now.0, id])?
        + conn
            .prepare_cached(&recovery_adopt_held(placeholder))?
            .execute(params![hook_id, since.0, until, id])?;
    // A FIFO hook's redeliveries join the back of its line.
    line_up(conn, &[hook_id], now, false)?;
    conn.prepare_cached("UPDATE recoveries SET queued = ?2 WHERE id = ?1")?
        .execute(params![id, i64::try_from(queued).unwrap_or(i64::MAX)])?;
    Ok(match get(conn, hook_id, id)? {
        Some(recovery) => RecoveryStart::Started(recovery),
        None => RecoveryStart::Missing,
    })
}

fn get(conn: &Connection, hook_id: HookId, id: i64) -> Result<Option<Recovery>, StoreError> {
    Ok(conn
        .prepare_cached(&recovery_query(placeholder))?
        .query_row(params![id, hook_id], |row| read_recovery(row))
        .optional()?)
}

pub(super) fn find(
    conn: &Connection,
    scope: &HookScope,
    hook_id: HookId,
    id: i64,
) -> Result<Option<Recovery>, StoreError> {
    if !hook_exists(conn, scope, hook_id)? {
        return Ok(None);
    }
    get(conn, hook_id, id)
}
