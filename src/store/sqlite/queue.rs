//! The delivery queue: claiming due deliveries under a lease, recording attempts, and
//! queueing redeliveries.
//!
//! A claim moves a delivery's `due_at` to the end of its lease, so a leased delivery is
//! simply not due; if its worker dies, it becomes due again when the lease runs out, and
//! any worker picks it up. No separate sweep is needed.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};

use super::events::queue_once;
use super::hooks::{find_scope, get_in};
use super::line;
use crate::domain::hook::HookScope;
use crate::domain::ids::{AppId, InstallationId};
use crate::domain::ids::{AttemptId, DeliveryId};
use crate::domain::timestamp::Timestamp;
use crate::store::columns::{
    BUSIEST_HOOKS_QUERY, CANCEL_FOR_INACTIVE_HOOK, CONFIG_COLUMNS, HOLD_PENDING, WAITING_QUERY,
    age_seconds, disable_failing, headers_json, hook_backlog, last_response_columns, read_config,
    state_after,
};
use crate::store::header_sets::{self, SplitHeaders};
use crate::store::{
    AttemptRecord, BUSIEST_HOOKS, Claim, ClaimedDelivery, DeliveryTarget, EventRecord, HookId,
    Postponed, QueueStats, StoreError, Tenant,
};
use crate::store::{packing, throttle};

struct Leased {
    id: i64,
    event_id: i64,
    hook_id: HookId,
    installation_id: Option<InstallationId>,
    attempts: u32,
    retry: bool,
    redelivery: bool,
    throttled_at: Option<i64>,
    in_line: bool,
}

/// A hook's current delivery settings, or `None` when it is inactive.
fn load_target(conn: &Connection, hook_id: HookId) -> Result<Option<DeliveryTarget>, StoreError> {
    let target = conn
        .prepare_cached(&format!(
            "SELECT h.active, h.app_id, h.organization_id IS NOT NULL,
                    coalesce(h.organization_id,
                             (SELECT account_id FROM repositories WHERE id = h.repository_id)),
                    {CONFIG_COLUMNS}
             FROM hooks h WHERE h.id = ?1"
        ))?
        .query_row([hook_id], |row| {
            let app_id: Option<AppId> = row.get(1)?;
            Ok(row.get::<_, bool>(0)?.then_some(DeliveryTarget {
                hook_id,
                tenant: Tenant::of(app_id, row.get(3)?),
                app_id,
                organization: row.get(2)?,
                config: read_config(row, 4)?,
            }))
        })
        .optional()?;
    Ok(target.flatten())
}

fn load_event(conn: &Connection, event_id: i64) -> Result<EventRecord, StoreError> {
    let (event, raw, packed): (_, Option<Vec<u8>>, Option<Vec<u8>>) = conn
        .prepare_cached(
            "SELECT guid, name, action, CASE WHEN payload_packed IS NULL THEN payload END,
                    target_repository_id, target_organization_id, payload_packed
             FROM events WHERE id = ?1",
        )?
        .query_row([event_id], |row| {
            let event = EventRecord {
                id: event_id,
                guid: row.get(0)?,
                name: row.get(1)?,
                action: row.get(2)?,
                payload: Arc::from([]),
                target_repository_id: row.get(4)?,
                target_organization_id: row.get(5)?,
            };
            Ok((event, row.get(3)?, row.get(6)?))
        })?;
    Ok(EventRecord {
        payload: packing::stored(raw.as_deref(), packed.as_deref())?,
        ..event
    })
}

pub(super) fn claim_due(
    conn: &Connection,
    worker: &str,
    now: Timestamp,
    lease_until: Timestamp,
    limit: u32,
) -> Result<Claim, StoreError> {
    let leased: Vec<Leased> = conn
        .prepare_cached(
            "UPDATE deliveries SET due_at = ?3, leased_by = ?4, lease_until = ?3
             WHERE id IN (SELECT id FROM deliveries WHERE due_at <= ?1 ORDER BY due_at LIMIT ?2)
             RETURNING id, event_id, hook_id, installation_id, attempts, retry, redelivery,
                       throttled_at, fifo_seq IS NOT NULL",
        )?
        .query_map(params![now.0, limit, lease_until.0, worker], |row| {
            Ok(Leased {
                id: row.get(0)?,
                event_id: row.get(1)?,
                hook_id: row.get(2)?,
                installation_id: row.get(3)?,
                attempts: row.get(4)?,
                retry: row.get(5)?,
                redelivery: row.get(6)?,
                throttled_at: row.get(7)?,
                in_line: row.get(8)?,
            })
        })?
        .collect::<Result<_, _>>()?;

    let mut events: HashMap<i64, Arc<EventRecord>> = HashMap::new();
    let mut targets: HashMap<HookId, Option<Arc<DeliveryTarget>>> = HashMap::new();
    let mut deliveries = Vec::with_capacity(leased.len());
    for row in leased {
        let target = match targets.get(&row.hook_id) {
            Some(target) => target.clone(),
            None => {
                let target = load_target(conn, row.hook_id)?.map(Arc::new);
                targets.insert(row.hook_id, target.clone());
                target
            }
        };
        let Some(target) = target else {
            // The hook was deactivated after the event was queued: nothing to send, or,
            // if `--disable-after` disabled it, held until it is re-activated.
            conn.prepare_cached(CANCEL_FOR_INACTIVE_HOOK)?
                .execute([row.id])?;
            continue;
        };
        let event = match events.get(&row.event_id) {
            Some(event) => event.clone(),
            None => {
                let event = Arc::new(load_event(conn, row.event_id)?);
                events.insert(row.event_id, event.clone());
                event
            }
        };
        deliveries.push(ClaimedDelivery {
            id: DeliveryId(row.id),
            event,
            target,
            installation_id: row.installation_id,
            attempts: row.attempts,
            retry: row.retry,
            redelivery: row.redelivery,
            throttled_at: row.throttled_at.map(Timestamp),
            in_line: row.in_line,
        });
    }
    let (deliveries, throttled) = take_rate_slots(conn, deliveries, now)?;
    let next_due: Option<i64> = conn
        .prepare_cached("SELECT min(due_at) FROM deliveries WHERE due_at IS NOT NULL")?
        .query_row([], |row| row.get(0))?;
    Ok(Claim {
        deliveries,
        next_due: next_due.map(Timestamp),
        throttled,
    })
}

/// Rate-limited hooks' deliveries take their slots; those whose slot is later are put off
/// to it. Returns what may start now and how many waited.
fn take_rate_slots(
    conn: &Connection,
    deliveries: Vec<ClaimedDelivery>,
    now: Timestamp,
) -> Result<(Vec<ClaimedDelivery>, usize), StoreError> {
    let needed = throttle::slots_needed(&deliveries);
    if needed.is_empty() {
        return Ok((deliveries, 0));
    }
    let mut advanced = HashMap::with_capacity(needed.len());
    {
        // As `RateLimit::advance`: from now if the hook was idle, else from where it was.
        let mut take = conn.prepare_cached(
            "UPDATE hooks SET rate_tat = max(rate_tat, ?2) + ?3 WHERE id = ?1 RETURNING rate_tat",
        )?;
        for need in &needed {
            let tat: Option<i64> = take
                .query_row(params![need.hook_id, now.0 * 1000, need.span_us()], |row| {
                    row.get(0)
                })
                .optional()?;
            if let Some(tat) = tat {
                advanced.insert(need.hook_id, tat);
            }
        }
    }
    let (ready, put_off) = throttle::split(deliveries, &needed, &advanced, now);
    let mut wait = conn.prepare_cached(
        "UPDATE deliveries SET due_at = ?2, leased_by = NULL, lease_until = NULL,
                               throttled_at = coalesce(throttled_at, ?3)
         WHERE id = ?1",
    )?;
    for (id, slot) in &put_off {
        wait.execute(params![id, slot.0, now.0])?;
    }
    Ok((ready, put_off.len()))
}

/// The id of the stored template of `headers` used `now`, stored now if it is new, its use
/// noted if the last was over [`header_sets::TOUCH_EVERY_MS`] ago.
fn header_set(
    conn: &Connection,
    headers: &SplitHeaders,
    now: Timestamp,
) -> Result<i64, StoreError> {
    let known: Option<(i64, i64)> = conn
        .prepare_cached("SELECT id, used_at FROM header_sets WHERE digest = ?1")?
        .query_row([&headers.digest[..]], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    match known {
        Some((id, used_at)) => {
            if used_at < now.0 - header_sets::TOUCH_EVERY_MS {
                conn.prepare_cached("UPDATE header_sets SET used_at = ?2 WHERE id = ?1")?
                    .execute(params![id, now.0])?;
            }
            Ok(id)
        }
        None => Ok(conn
            .prepare_cached(
                "INSERT INTO header_sets (digest, template, used_at) VALUES (?1, ?2, ?3)
                 RETURNING id",
            )?
            .query_row(
                params![&headers.digest[..], headers.template, now.0],
                |row| row.get(0),
            )?),
    }
}

/// Records `attempt`, whose request headers are `request_headers` split for storage.
pub(super) fn record_attempt(
    conn: &Connection,
    attempt: &AttemptRecord,
    request_headers: &SplitHeaders,
) -> Result<(), StoreError> {
    let header_set_id = header_set(conn, request_headers, attempt.delivered_at)?;
    conn.prepare_cached(
        "INSERT INTO attempts (delivery_id, hook_id, event_id, installation_id, redelivery,
                               delivered_at, duration_ms, status, status_code, url,
                               request_headers, response_headers, response_body, throttled_at,
                               header_set_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        attempt.delivery_id,
        attempt.hook_id,
        attempt.event_id,
        attempt.installation_id,
        attempt.redelivery,
        attempt.delivered_at.0,
        attempt.duration_ms,
        attempt.status,
        attempt.status_code,
        attempt.url,
        request_headers.values,
        headers_json(&attempt.response_headers),
        attempt.response_body,
        attempt.throttled_at.map(|at| at.0),
        header_set_id,
    ])?;
    let state = state_after(attempt);
    conn.prepare_cached(
        "UPDATE deliveries SET state = ?2, attempts = attempts + 1, due_at = ?3,
                               leased_by = NULL, lease_until = NULL, throttled_at = NULL
         WHERE id = ?1",
    )?
    .execute(params![
        attempt.delivery_id,
        state,
        attempt.next_attempt.map(|at| at.0)
    ])?;
    if attempt.succeeded && !attempt.retry {
        // The event reached the hook through a once-only delivery: automatic retries still
        // waiting are moot (the scheduled delivery's own success leaves none).
        conn.prepare_cached(
            "UPDATE deliveries SET state = 'succeeded', due_at = NULL
             WHERE event_id = ?1 AND hook_id = ?2 AND retry AND state = 'pending'
               AND leased_by IS NULL",
        )?
        .execute(params![attempt.event_id, attempt.hook_id])?;
    }
    if attempt.in_line && attempt.next_attempt.is_none() {
        line::advance(conn, attempt.hook_id, attempt.delivered_at)?;
    }
    let (status, code, message) = last_response_columns(attempt);
    // Most attempts repeat the previous outcome: then the hook's row is left unwritten,
    // unless a failure is counted (or a success ends a failing spell).
    conn.prepare_cached(
        "UPDATE hooks SET last_status = ?2, last_code = ?3, last_message = ?4,
                          failing_since = CASE WHEN ?5 THEN NULL
                                               ELSE coalesce(failing_since, ?6) END,
                          failures = CASE WHEN ?5 THEN 0 ELSE failures + 1 END
         WHERE id = ?1
           AND (last_status IS NOT ?2 OR last_code IS NOT ?3 OR last_message IS NOT ?4
                OR NOT ?5 OR failing_since IS NOT NULL)",
    )?
    .execute(params![
        attempt.hook_id,
        status,
        code,
        message,
        attempt.succeeded,
        attempt.delivered_at.0
    ])?;
    Ok(())
}

pub(super) fn stats(conn: &Connection, now: Timestamp) -> Result<QueueStats, StoreError> {
    let (due, scheduled, oldest): (i64, i64, Option<i64>) = conn
        .prepare_cached(
            "SELECT count(*) FILTER (WHERE due_at <= ?1), count(*) FILTER (WHERE due_at > ?1),
                    min(due_at) FILTER (WHERE due_at <= ?1)
             FROM deliveries WHERE due_at IS NOT NULL",
        )?
        .query_row([now.0], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
    let busiest_hooks = conn
        .prepare_cached(BUSIEST_HOOKS_QUERY)?
        .query_map(params![now.0, BUSIEST_HOOKS], |row| {
            Ok(hook_backlog(row.get(0)?, row.get(1)?, row.get(2)?, now))
        })?
        .collect::<Result<_, _>>()?;
    let (held, in_line, header_sets): (i64, i64, i64) = conn
        .prepare_cached(WAITING_QUERY)?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
    Ok(QueueStats {
        due: due.unsigned_abs(),
        scheduled: scheduled.unsigned_abs(),
        oldest_due_age_seconds: age_seconds(oldest, now),
        held: held.unsigned_abs(),
        in_line: in_line.unsigned_abs(),
        header_sets: header_sets.unsigned_abs(),
        busiest_hooks,
    })
}

pub(super) fn recover_leases(conn: &Connection, now: Timestamp) -> Result<u64, StoreError> {
    let recovered = conn
        .prepare_cached(
            "UPDATE deliveries SET due_at = ?1, leased_by = NULL, lease_until = NULL
             WHERE leased_by IS NOT NULL AND state = 'pending'",
        )?
        .execute([now.0])?;
    Ok(recovered as u64)
}

pub(super) fn renew(
    conn: &Connection,
    worker: &str,
    delivery_ids: &[DeliveryId],
    lease_until: Timestamp,
) -> Result<(), StoreError> {
    let mut statement = conn.prepare_cached(
        "UPDATE deliveries SET due_at = ?3, lease_until = ?3
         WHERE id = ?1 AND leased_by = ?2 AND state = 'pending'",
    )?;
    for id in delivery_ids {
        statement.execute(params![id, worker, lease_until.0])?;
    }
    Ok(())
}

pub(super) fn release(
    conn: &Connection,
    worker: &str,
    deliveries: &[(DeliveryId, Timestamp)],
) -> Result<(), StoreError> {
    let mut statement = conn.prepare_cached(
        "UPDATE deliveries SET due_at = ?3, leased_by = NULL, lease_until = NULL
         WHERE id = ?1 AND leased_by = ?2 AND state = 'pending'",
    )?;
    for (id, due_at) in deliveries {
        statement.execute(params![id, worker, due_at.0])?;
    }
    Ok(())
}

pub(super) fn disable_failing_hooks(
    conn: &Connection,
    failing_since: Timestamp,
    min_failures: u32,
    reason: &str,
    now: Timestamp,
) -> Result<Vec<HookId>, StoreError> {
    let disabled: Vec<HookId> = conn
        .prepare_cached(&disable_failing(|n| format!("?{n}"), "0"))?
        .query_map(
            params![failing_since.0, min_failures, reason, now.0],
            |row| row.get(0),
        )?
        .collect::<Result<_, _>>()?;
    let mut hold = conn.prepare_cached(&HOLD_PENDING.replace("{hook}", "?1"))?;
    for hook_id in &disabled {
        hold.execute([hook_id])?;
    }
    Ok(disabled)
}

pub(super) fn postpone_hooks(
    conn: &Connection,
    hooks: &[Postponed],
    now: Timestamp,
) -> Result<(), StoreError> {
    let mut statement = conn.prepare_cached(
        "UPDATE deliveries SET due_at = ?2 + (id * 7919) % ?3
         WHERE hook_id = ?1 AND due_at <= ?4",
    )?;
    for hook in hooks {
        statement.execute(params![hook.hook_id, hook.from.0, hook.span_ms(), now.0])?;
    }
    Ok(())
}

pub(super) fn redeliver(
    conn: &Connection,
    scope: &HookScope,
    hook_id: HookId,
    attempt_id: AttemptId,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let Some(scope_row) = find_scope(conn, scope)? else {
        return Ok(false);
    };
    if get_in(conn, &scope_row, hook_id)?.is_none() {
        return Ok(false);
    }
    let found: Option<(i64, Option<InstallationId>)> = conn
        .prepare_cached(
            "SELECT event_id, installation_id FROM attempts WHERE id = ?1 AND hook_id = ?2",
        )?
        .query_row(params![attempt_id, hook_id], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    match found {
        Some((event_id, installation_id)) => {
            queue_once(conn, event_id, hook_id, installation_id, true, now)?;
            Ok(true)
        }
        None => Ok(false),
    }
}
