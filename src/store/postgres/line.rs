//! FIFO hooks' lines: a new delivery of a FIFO hook is inserted without a due time and
//! then given its place here, under a lock on the hook's row held until its transaction
//! commits (so places follow commit order); only the head of a line is due, and the end
//! of a head makes the next one due.

use deadpool_postgres::GenericClient;

use super::{all, exec, one, opt};
use crate::domain::timestamp::Timestamp;
use crate::store::columns::{LINE_BUSY_QUERY, TAKE_PLACES, UNLINED_QUERY, places};
use crate::store::{HookId, StoreError};

/// Gives the new deliveries of FIFO hooks among `hook_ids` (inserted without a due time)
/// their places in their hooks' lines, in event order; the first is due at `now` when its
/// line was empty. Each hook's row is locked first and stays locked until the commit, so
/// places follow commit order whichever transaction drew its ids first. A hook that is no
/// longer FIFO gets them due at once, unless `in_order` (deliveries held while it was
/// disabled, which go in order whatever it is).
pub(super) async fn line_up(
    db: &impl GenericClient,
    hook_ids: &[HookId],
    now: Timestamp,
    in_order: bool,
) -> Result<(), StoreError> {
    let mut hooks = hook_ids.to_vec();
    hooks.sort_unstable();
    hooks.dedup();
    for hook_id in hooks {
        // This transaction's own rows: as good read before the hook's lock as after it.
        let new: Vec<i64> = all(db, &postgres_sql(UNLINED_QUERY), &[&hook_id])
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;
        if new.is_empty() {
            continue;
        }
        let last: Option<i64> = opt(
            db,
            &postgres_sql(TAKE_PLACES),
            &[&hook_id, &(new.len() as i64), &in_order],
        )
        .await?
        .map(|row| row.try_get(0))
        .transpose()?;
        let Some(last) = last else {
            exec(
                db,
                "UPDATE deliveries SET due_at = $2 WHERE id = ANY($1)",
                &[&new, &now.0],
            )
            .await?;
            continue;
        };
        let busy: bool = one(db, &postgres_sql(LINE_BUSY_QUERY), &[&hook_id])
            .await?
            .try_get(0)?;
        let mut seqs = Vec::with_capacity(new.len());
        let mut dues = Vec::with_capacity(new.len());
        for (_, seq, due_at) in places(&new, last, busy, now) {
            seqs.push(seq);
            dues.push(due_at);
        }
        exec(
            db,
            "UPDATE deliveries d SET fifo_seq = p.seq, due_at = p.due_at
             FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS p(id, seq, due_at)
             WHERE d.id = p.id",
            &[&new, &seqs, &dues],
        )
        .await?;
    }
    Ok(())
}

/// A statement shared with SQLite, with PostgreSQL's placeholders (`?1` → `$1`).
fn postgres_sql(sql: &str) -> String {
    sql.replace('?', "$")
}

/// Makes the head of each of `hooks`' lines due at `now` if it is waiting: called when a
/// delivery of those lines has ended. Under the hooks' row locks, so that a publish lining
/// up a delivery meanwhile either finds the line busy (and this makes its delivery due) or
/// finds it empty after this commit.
pub(super) async fn advance(
    db: &impl GenericClient,
    hooks: &mut Vec<HookId>,
    now: Timestamp,
) -> Result<(), StoreError> {
    if hooks.is_empty() {
        return Ok(());
    }
    hooks.sort_unstable();
    hooks.dedup();
    all(
        db,
        "SELECT 1 FROM hooks WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        &[&*hooks],
    )
    .await?;
    exec(
        db,
        "UPDATE deliveries d SET due_at = $2
         FROM (SELECT DISTINCT ON (hook_id) id FROM deliveries
               WHERE hook_id = ANY($1) AND state = 'pending' AND fifo_seq IS NOT NULL
               ORDER BY hook_id, fifo_seq) AS head
         WHERE d.id = head.id AND d.due_at IS NULL AND d.leased_by IS NULL",
        &[&*hooks, &now.0],
    )
    .await?;
    Ok(())
}
