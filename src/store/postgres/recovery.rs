//! Bulk recoveries: queueing one more attempt of a hook's failed deliveries in a window,
//! and their progress (the SQL is shared with SQLite in `columns`).

use deadpool_postgres::GenericClient;

use super::hooks::exists;
use super::line::line_up;
use super::{exec, one, opt};
use crate::domain::hook::HookScope;
use crate::domain::timestamp::Timestamp;
use crate::store::columns::{
    RUNNING_RECOVERY_QUERY, read_recovery, recovery_adopt_held, recovery_insert, recovery_query,
};
use crate::store::{HookId, Recovery, RecoveryStart, StoreError};

fn placeholder(n: usize) -> String {
    format!("${n}::bigint")
}

/// Runs in the caller's transaction; the hook's row is locked first, so two requests for
/// the same hook cannot both find no recovery running.
pub(super) async fn start(
    db: &impl GenericClient,
    scope: &HookScope,
    hook_id: HookId,
    (since, until): (Timestamp, Option<Timestamp>),
    now: Timestamp,
) -> Result<RecoveryStart, StoreError> {
    if !exists(db, scope, hook_id).await? {
        return Ok(RecoveryStart::Missing);
    }
    one(
        db,
        "SELECT id FROM hooks WHERE id = $1 FOR UPDATE",
        &[&hook_id],
    )
    .await?;
    let running = opt(
        db,
        &RUNNING_RECOVERY_QUERY.replace("{hook}", "$1"),
        &[&hook_id],
    )
    .await?;
    if let Some(row) = running {
        return Ok(RecoveryStart::Running(row.try_get(0)?));
    }
    let id: i64 = one(
        db,
        "INSERT INTO recoveries (hook_id, since, until, created_at, queued)
         VALUES ($1, $2, $3, $4, 0) RETURNING id",
        &[&hook_id, &since.0, &until.map(|at| at.0), &now.0],
    )
    .await?
    .try_get(0)?;
    let until = until.map_or(i64::MAX, |at| at.0);
    let queued = exec(
        db,
        &recovery_insert(placeholder, ("false", "true")),
        &[&hook_id, &since.0, &until, &now.0, &id],
    )
    .await?
        + exec(
            db,
            &recovery_adopt_held(placeholder),
            &[&hook_id, &since.0, &until, &id],
        )
        .await?;
    // A FIFO hook's redeliveries join the back of its line.
    line_up(db, &[hook_id], now, false).await?;
    exec(
        db,
        "UPDATE recoveries SET queued = $2 WHERE id = $1",
        &[&id, &i64::try_from(queued).unwrap_or(i64::MAX)],
    )
    .await?;
    Ok(match get(db, hook_id, id).await? {
        Some(recovery) => RecoveryStart::Started(recovery),
        None => RecoveryStart::Missing,
    })
}

async fn get(
    db: &impl GenericClient,
    hook_id: HookId,
    id: i64,
) -> Result<Option<Recovery>, StoreError> {
    opt(db, &recovery_query(|n| format!("${n}")), &[&id, &hook_id])
        .await?
        .map(|row| read_recovery(&row))
        .transpose()
}

pub(super) async fn find(
    db: &impl GenericClient,
    scope: &HookScope,
    hook_id: HookId,
    id: i64,
) -> Result<Option<Recovery>, StoreError> {
    if !exists(db, scope, hook_id).await? {
        return Ok(None);
    }
    get(db, hook_id, id).await
}
