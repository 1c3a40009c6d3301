//! FIFO hooks' lines: a new delivery of a FIFO hook is inserted without a due time and
//! then given its place here, in the transaction that commits it (SQLite's single writer
//! makes that commit order); only the head of a line is due, and the end of a head makes
//! the next one due.

use rusqlite::{Connection, OptionalExtension, params};

use crate::domain::timestamp::Timestamp;
use crate::store::columns::{LINE_BUSY_QUERY, TAKE_PLACES, UNLINED_QUERY, places};
use crate::store::{HookId, StoreError};

/// Gives the new deliveries of FIFO hooks among `hook_ids` (inserted without a due time)
/// their places in their hooks' lines, in event order; the first is due at `now` when its
/// line was empty. A hook that is no longer FIFO gets them due at once, unless
/// `in_order` (deliveries held while it was disabled, which go in order whatever it is).
pub(super) fn line_up(
    conn: &Connection,
    hook_ids: &[HookId],
    now: Timestamp,
    in_order: bool,
) -> Result<(), StoreError> {
    let mut hooks = hook_ids.to_vec();
    hooks.sort_unstable();
    hooks.dedup();
    for hook_id in hooks {
        let new: Vec<i64> = conn
            .prepare_cached(UNLINED_QUERY)?
            .query_map([hook_id], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        if new.is_empty() {
            continue;
        }
        let last: Option<i64> = conn
            .prepare_cached(TAKE_PLACES)?
            .query_row(params![hook_id, new.len() as i64, in_order], |row| {
                row.get(0)
            })
            .optional()?;
        let Some(last) = last else {
            let mut due = conn.prepare_cached("UPDATE deliveries SET due_at = ?2 WHERE id = ?1")?;
            for id in new {
                due.execute(params![id, now.0])?;
            }
            continue;
        };
        let busy: bool = conn
            .prepare_cached(LINE_BUSY_QUERY)?
            .query_row([hook_id], |row| row.get(0))?;
        let mut place =
            conn.prepare_cached("UPDATE deliveries SET fifo_seq = ?2, due_at = ?3 WHERE id = ?1")?;
        for (id, seq, due_at) in places(&new, last, busy, now) {
            place.execute(params![id, seq, due_at])?;
        }
    }
    Ok(())
}

/// Makes the head of `hook_id`'s line due at `now` if it is waiting: called when a
/// delivery of the line has ended.
pub(super) fn advance(
    conn: &Connection,
    hook_id: HookId,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE deliveries SET due_at = ?2
         WHERE id = (SELECT id FROM deliveries
                     WHERE hook_id = ?1 AND state = 'pending' AND fifo_seq IS NOT NULL
                     ORDER BY fifo_seq LIMIT 1)
           AND due_at IS NULL AND leased_by IS NULL",
    )?
    .execute(params![hook_id, now.0])?;
    Ok(())
}
