//! FIFO hooks' lines: a new delivery of a FIFO hook is inserted without a due time and
//! then given its place here, under a lock on the hook's row held until its transaction
//! commits (so places follow commit order); only the head of a line is due, and the end
//! of a head makes the next one due.

use deadpool_postgres::GenericClient;

use super::{all, exec, one, opt};
use crate::domain::timestamp::Timestamp;
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
        let last: Option<i64> = opt(
            db,
            "SELECT fifo_next FROM hooks WHERE id = $1 AND (ordering = 'fifo' OR $2) FOR UPDATE",
            &[&hook_id, &in_order],
        )
        .await?
        .map(|row| row.try_get(0))
        .transpose()?;
        let new: Vec<i64> = all(
            db,
            "SELECT id FROM deliveries
             WHERE hook_id = $1 AND state = 'pending' AND due_at IS NULL AND fifo_seq IS NULL
             ORDER BY event_id, id",
            &[&hook_id],
        )
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
        if new.is_empty() {
            continue;
        }
        let Some(last) = last else {
            exec(
                db,
                "UPDATE deliveries SET due_at = $2 WHERE id = ANY($1)",
                &[&new, &now.0],
            )
            .await?;
            continue;
        };
        let waiting: bool = one(
            db,
            "SELECT EXISTS (SELECT 1 FROM deliveries
                            WHERE hook_id = $1 AND state = 'pending' AND fifo_seq IS NOT NULL)",
            &[&hook_id],
        )
        .await?
        .try_get(0)?;
        let places: Vec<i64> = (1..=new.len() as i64).map(|n| last + n).collect();
        let due: Vec<Option<i64>> = (0..new.len())
            .map(|index| (index == 0 && !waiting).then_some(now.0))
            .collect();
        exec(
            db,
            "UPDATE hooks SET fifo_next = $2 WHERE id = $1",
            &[&hook_id, &(last + new.len() as i64)],
        )
        .await?;
        exec(
            db,
            "UPDATE deliveries d SET fifo_seq = p.seq, due_at = p.due_at
             FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS p(id, seq, due_at)
             WHERE d.id = p.id",
            &[&new, &places, &due],
        )
        .await?;
    }
    Ok(())
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
