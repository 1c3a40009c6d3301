//! The delivery queue shared by every node: claiming with `FOR UPDATE SKIP LOCKED` under a
//! lease, renewing and releasing leases, recording attempts, queueing redeliveries.
//!
//! As on SQLite, a claim moves a delivery's `due_at` to the end of its lease, so a leased
//! delivery is simply not due; if its node dies, it comes due again when the lease runs
//! out, and any node picks it up.

use std::collections::HashMap;
use std::sync::Arc;

use deadpool_postgres::GenericClient;

use super::events::queue_once;
use super::hooks::exists;
use super::line;
use super::{all, exec, notify_work, one, opt};
use crate::domain::hook::HookScope;
use crate::domain::ids::{AttemptId, DeliveryId};
use crate::domain::timestamp::Timestamp;
use crate::store::columns::{
    BUSIEST_HOOKS_QUERY, CANCEL_FOR_INACTIVE_HOOK, CONFIG_COLUMNS, HOLD_PENDING, WAITING_QUERY,
    age_seconds, disable_failing, headers_json, hook_backlog, last_response_columns, read_config,
    state_after,
};
use crate::store::throttle;
use crate::store::{
    AttemptRecord, BUSIEST_HOOKS, Claim, ClaimedDelivery, DeliveryTarget, EventRecord, HookId,
    Postponed, QueueStats, StoreError, Tenant,
};

/// The current delivery settings of the active hooks among `hook_ids`.
async fn load_targets(
    db: &impl GenericClient,
    hook_ids: &[i64],
) -> Result<HashMap<HookId, Arc<DeliveryTarget>>, StoreError> {
    let rows = all(
        db,
        &format!(
            "SELECT h.id, h.app_id, h.organization_id IS NOT NULL,
                    coalesce(h.organization_id,
                             (SELECT account_id FROM repositories r WHERE r.id = h.repository_id)),
                    {CONFIG_COLUMNS}
             FROM hooks h WHERE h.id = ANY($1) AND h.active"
        ),
        &[&hook_ids],
    )
    .await?;
    rows.iter()
        .map(|row| {
            let hook_id: HookId = row.try_get(0)?;
            let app_id = row.try_get(1)?;
            let target = DeliveryTarget {
                hook_id,
                tenant: Tenant::of(app_id, row.try_get(3)?),
                app_id,
                organization: row.try_get(2)?,
                config: read_config(row, 4)?,
            };
            Ok((hook_id, Arc::new(target)))
        })
        .collect()
}

async fn load_events(
    db: &impl GenericClient,
    event_ids: &[i64],
) -> Result<HashMap<i64, Arc<EventRecord>>, StoreError> {
    let rows = all(
        db,
        "SELECT id, guid, name, action, payload, target_repository_id, target_organization_id
         FROM events WHERE id = ANY($1)",
        &[&event_ids],
    )
    .await?;
    rows.iter()
        .map(|row| {
            let event = EventRecord {
                id: row.try_get(0)?,
                guid: row.try_get(1)?,
                name: row.try_get(2)?,
                action: row.try_get(3)?,
                payload: Arc::from(row.try_get::<_, &[u8]>(4)?),
                target_repository_id: row.try_get(5)?,
                target_organization_id: row.try_get(6)?,
            };
            Ok((event.id, Arc::new(event)))
        })
        .collect()
}

pub(super) async fn claim_due(
    db: &impl GenericClient,
    worker: &str,
    now: Timestamp,
    lease_until: Timestamp,
    limit: u32,
) -> Result<Claim, StoreError> {
    // Rows another node is claiming at this moment are skipped, not waited for.
    let leased = all(
        db,
        "WITH due AS (
             SELECT id FROM deliveries WHERE due_at <= $1 ORDER BY due_at LIMIT $2
             FOR UPDATE SKIP LOCKED)
         UPDATE deliveries d SET due_at = $3, leased_by = $4, lease_until = $3
         FROM due WHERE d.id = due.id
         RETURNING d.id, d.event_id, d.hook_id, d.installation_id, d.attempts, d.retry,
                   d.redelivery, d.throttled_at, d.fifo_seq IS NOT NULL",
        &[&now.0, &i64::from(limit), &lease_until.0, &worker],
    )
    .await?;
    let mut hook_ids: Vec<i64> = leased
        .iter()
        .map(|row| row.try_get(2))
        .collect::<Result<_, _>>()?;
    hook_ids.sort_unstable();
    hook_ids.dedup();
    let targets = load_targets(db, &hook_ids).await?;
    let mut event_ids: Vec<i64> = leased
        .iter()
        .map(|row| row.try_get(1))
        .collect::<Result<_, _>>()?;
    event_ids.sort_unstable();
    event_ids.dedup();
    let events = load_events(db, &event_ids).await?;

    let mut deliveries = Vec::with_capacity(leased.len());
    let mut cancelled = Vec::new();
    for row in &leased {
        let id: i64 = row.try_get(0)?;
        let hook_id: HookId = row.try_get(2)?;
        let event_id: i64 = row.try_get(1)?;
        // A hook deactivated after the event was queued gets nothing; an event pruned
        // meanwhile has nothing to send.
        let (Some(target), Some(event)) = (targets.get(&hook_id), events.get(&event_id)) else {
            cancelled.push(id);
            continue;
        };
        let attempts: i64 = row.try_get(4)?;
        deliveries.push(ClaimedDelivery {
            id: DeliveryId(id),
            event: event.clone(),
            target: target.clone(),
            installation_id: row.try_get(3)?,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            retry: row.try_get(5)?,
            redelivery: row.try_get(6)?,
            throttled_at: row.try_get::<_, Option<i64>>(7)?.map(Timestamp),
            in_line: row.try_get(8)?,
        });
    }
    let (deliveries, throttled) = take_rate_slots(db, deliveries, now).await?;
    if !cancelled.is_empty() {
        exec(
            db,
            &CANCEL_FOR_INACTIVE_HOOK.replace("id = ?1", "id = ANY($1)"),
            &[&cancelled],
        )
        .await?;
    }
    let next_due: Option<i64> = one(
        db,
        "SELECT min(due_at) FROM deliveries WHERE due_at IS NOT NULL",
        &[],
    )
    .await?
    .try_get(0)?;
    Ok(Claim {
        deliveries,
        next_due: next_due.map(Timestamp),
        throttled,
    })
}

/// Rate-limited hooks' deliveries take their slots (one statement for every hook); those
/// whose slot is later are put off to it. Returns what may start now and how many waited.
async fn take_rate_slots(
    db: &impl GenericClient,
    deliveries: Vec<ClaimedDelivery>,
    now: Timestamp,
) -> Result<(Vec<ClaimedDelivery>, usize), StoreError> {
    let needed = throttle::slots_needed(&deliveries);
    if needed.is_empty() {
        return Ok((deliveries, 0));
    }
    let hooks: Vec<HookId> = needed.iter().map(|need| need.hook_id).collect();
    let spans: Vec<i64> = needed.iter().map(throttle::SlotsNeeded::span_us).collect();
    // As `RateLimit::advance`: from now if the hook was idle, else from where it was.
    let advanced: HashMap<HookId, i64> = all(
        db,
        "UPDATE hooks h SET rate_tat = greatest(h.rate_tat, $2) + s.span_us
         FROM unnest($1::bigint[], $3::bigint[]) AS s(id, span_us)
         WHERE h.id = s.id
         RETURNING h.id, h.rate_tat",
        &[&hooks, &(now.0 * 1000), &spans],
    )
    .await?
    .iter()
    .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
    .collect::<Result<_, StoreError>>()?;
    let (ready, put_off) = throttle::split(deliveries, &needed, &advanced, now);
    if !put_off.is_empty() {
        let (ids, due): (Vec<DeliveryId>, Vec<i64>) =
            put_off.iter().map(|(id, slot)| (*id, slot.0)).unzip();
        exec(
            db,
            "UPDATE deliveries SET due_at = slot.due_at, leased_by = NULL, lease_until = NULL,
                                   throttled_at = coalesce(throttled_at, $3)
             FROM unnest($1::bigint[], $2::bigint[]) AS slot (id, due_at)
             WHERE deliveries.id = slot.id",
            &[&ids, &due, &now.0],
        )
        .await?;
    }
    Ok((ready, put_off.len()))
}

/// Records `attempts` (of distinct deliveries) with a handful of statements however many
/// there are: the attempts, their deliveries' next state, retries made moot by a success,
/// and each hook's `last_response` (from its latest attempt in the batch).
pub(super) async fn record_attempts(
    db: &impl GenericClient,
    attempts: &[&AttemptRecord],
) -> Result<(), StoreError> {
    if attempts.is_empty() {
        return Ok(());
    }
    let column =
        |f: fn(&AttemptRecord) -> i64| -> Vec<i64> { attempts.iter().map(|a| f(a)).collect() };
    let delivery_ids = column(|a| a.delivery_id.0);
    let hook_ids = column(|a| a.hook_id.0);
    let event_ids = column(|a| a.event_id);
    let installation_ids: Vec<Option<i64>> = attempts
        .iter()
        .map(|a| a.installation_id.map(|id| id.0))
        .collect();
    let redeliveries: Vec<bool> = attempts.iter().map(|a| a.redelivery).collect();
    let delivered_at = column(|a| a.delivered_at.0);
    let durations = column(|a| a.duration_ms);
    let statuses: Vec<&str> = attempts.iter().map(|a| a.status.as_str()).collect();
    let status_codes = column(|a| i64::from(a.status_code));
    let urls: Vec<&str> = attempts.iter().map(|a| a.url.as_str()).collect();
    let request_headers: Vec<String> = attempts
        .iter()
        .map(|a| headers_json(&a.request_headers))
        .collect();
    let response_headers: Vec<String> = attempts
        .iter()
        .map(|a| headers_json(&a.response_headers))
        .collect();
    let bodies: Vec<&[u8]> = attempts
        .iter()
        .map(|a| a.response_body.as_slice())
        .collect();
    let throttled: Vec<Option<i64>> = attempts
        .iter()
        .map(|a| a.throttled_at.map(|at| at.0))
        .collect();
    exec(
        db,
        "INSERT INTO attempts (delivery_id, hook_id, event_id, installation_id, redelivery,
                               delivered_at, duration_ms, status, status_code, url,
                               request_headers, response_headers, response_body, throttled_at)
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[],
                              $5::boolean[], $6::bigint[], $7::bigint[], $8::text[],
                              $9::bigint[], $10::text[], $11::text[], $12::text[],
                              $13::bytea[], $14::bigint[])",
        &[
            &delivery_ids,
            &hook_ids,
            &event_ids,
            &installation_ids,
            &redeliveries,
            &delivered_at,
            &durations,
            &statuses,
            &status_codes,
            &urls,
            &request_headers,
            &response_headers,
            &bodies,
            &throttled,
        ],
    )
    .await?;
    let states: Vec<&str> = attempts.iter().map(|a| state_after(a)).collect();
    let next_attempts: Vec<Option<i64>> = attempts
        .iter()
        .map(|a| a.next_attempt.map(|at| at.0))
        .collect();
    exec(
        db,
        "UPDATE deliveries d SET state = u.state, attempts = d.attempts + 1, due_at = u.due_at,
                                 leased_by = NULL, lease_until = NULL, throttled_at = NULL
         FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS u(id, state, due_at)
         WHERE d.id = u.id",
        &[&delivery_ids, &states, &next_attempts],
    )
    .await?;
    // An event that reached its hook needs no automatic retry still waiting.
    let (reached_events, reached_hooks): (Vec<i64>, Vec<i64>) = attempts
        .iter()
        .filter(|a| a.succeeded)
        .map(|a| (a.event_id, a.hook_id.0))
        .unzip();
    if !reached_events.is_empty() {
        exec(
            db,
            "UPDATE deliveries d SET state = 'succeeded', due_at = NULL
             FROM unnest($1::bigint[], $2::bigint[]) AS s(event_id, hook_id)
             WHERE d.event_id = s.event_id AND d.hook_id = s.hook_id
               AND d.state = 'pending' AND d.leased_by IS NULL",
            &[&reached_events, &reached_hooks],
        )
        .await?;
    }
    // A FIFO hook whose delivery ended: the next in its line is due.
    let mut ended: Vec<HookId> = attempts
        .iter()
        .filter(|a| a.in_line && a.next_attempt.is_none())
        .map(|a| a.hook_id)
        .collect();
    if let Some(now) = attempts.iter().map(|a| a.delivered_at).min() {
        line::advance(db, &mut ended, now).await?;
    }
    // Each hook's latest attempt in the batch sets its last_response; most repeat the
    // previous outcome, and then the hook's row is neither written nor locked.
    // Each hook's failing spell: its failed attempts after its last success in the batch,
    // and whether a success ended the spell it had.
    #[derive(Default)]
    struct Spell {
        reset: bool,
        first_failure: Option<i64>,
        failures: i64,
    }
    let mut spells: HashMap<HookId, Spell> = HashMap::new();
    for attempt in attempts {
        let spell = spells.entry(attempt.hook_id).or_default();
        if attempt.succeeded {
            *spell = Spell {
                reset: true,
                ..Spell::default()
            };
        } else {
            spell.first_failure.get_or_insert(attempt.delivered_at.0);
            spell.failures += 1;
        }
    }
    let mut latest: HashMap<HookId, &AttemptRecord> = HashMap::new();
    for attempt in attempts {
        latest.insert(attempt.hook_id, attempt);
    }
    let mut hooks = Vec::with_capacity(latest.len());
    let mut last_statuses = Vec::with_capacity(latest.len());
    let mut last_codes: Vec<Option<i64>> = Vec::with_capacity(latest.len());
    let mut last_messages = Vec::with_capacity(latest.len());
    let mut resets = Vec::with_capacity(latest.len());
    let mut first_failures: Vec<Option<i64>> = Vec::with_capacity(latest.len());
    let mut failures = Vec::with_capacity(latest.len());
    for (hook_id, attempt) in &latest {
        let (status, code, message) = last_response_columns(attempt);
        let spell = &spells[hook_id];
        hooks.push(*hook_id);
        last_statuses.push(status);
        last_codes.push(code.map(i64::from));
        last_messages.push(message);
        resets.push(spell.reset);
        first_failures.push(spell.first_failure);
        failures.push(spell.failures);
    }
    // Most batches repeat each hook's previous outcome: then its row is neither written nor
    // locked, unless a failure is counted (or a success ends a failing spell).
    exec(
        db,
        "UPDATE hooks h SET last_status = l.status, last_code = l.code, last_message = l.message,
                            failing_since = CASE WHEN l.reset THEN l.first_failure
                                                 ELSE coalesce(h.failing_since, l.first_failure) END,
                            failures = CASE WHEN l.reset THEN l.failures
                                            ELSE h.failures + l.failures END
         FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::boolean[],
                     $6::bigint[], $7::bigint[])
              AS l(id, status, code, message, reset, first_failure, failures)
         WHERE h.id = l.id
           AND (h.last_status IS DISTINCT FROM l.status OR h.last_code IS DISTINCT FROM l.code
                OR h.last_message IS DISTINCT FROM l.message OR l.failures > 0
                OR (l.reset AND h.failing_since IS NOT NULL))",
        &[
            &hooks,
            &last_statuses,
            &last_codes,
            &last_messages,
            &resets,
            &first_failures,
            &failures,
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn stats(
    db: &impl GenericClient,
    now: Timestamp,
) -> Result<QueueStats, StoreError> {
    let row = one(
        db,
        "SELECT count(*) FILTER (WHERE due_at <= $1), count(*) FILTER (WHERE due_at > $1),
                min(due_at) FILTER (WHERE due_at <= $1)
         FROM deliveries WHERE due_at IS NOT NULL",
        &[&now.0],
    )
    .await?;
    let (due, scheduled, oldest): (i64, i64, Option<i64>) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    let limit = i64::from(BUSIEST_HOOKS);
    let busiest_hooks = all(
        db,
        &BUSIEST_HOOKS_QUERY.replace("?1", "$1").replace("?2", "$2"),
        &[&now.0, &limit],
    )
    .await?
    .iter()
    .map(|row| {
        Ok(hook_backlog(
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
            now,
        ))
    })
    .collect::<Result<_, StoreError>>()?;
    let waiting = one(db, WAITING_QUERY, &[]).await?;
    let (held, in_line): (i64, i64) = (waiting.try_get(0)?, waiting.try_get(1)?);
    Ok(QueueStats {
        due: due.unsigned_abs(),
        scheduled: scheduled.unsigned_abs(),
        oldest_due_age_seconds: age_seconds(oldest, now),
        held: held.unsigned_abs(),
        in_line: in_line.unsigned_abs(),
        busiest_hooks,
    })
}

/// Touches `worker`'s heartbeat; forgets the nodes silent for `silent_ms` (by the
/// database's clock) and makes their leased deliveries due at `now` (one transaction, so
/// two live nodes never both take the same dead node's work, and a crash between the two
/// steps loses nothing).
pub(super) async fn heartbeat(
    db: &impl GenericClient,
    worker: &str,
    now: Timestamp,
    silent_ms: i64,
) -> Result<u64, StoreError> {
    exec(
        db,
        "INSERT INTO nodes (id, heartbeat_at)
         VALUES ($1, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
        &[&worker],
    )
    .await?;
    let dead: Vec<String> = all(
        db,
        "DELETE FROM nodes
         WHERE heartbeat_at < (extract(epoch FROM clock_timestamp()) * 1000)::bigint - $1
         RETURNING id",
        &[&silent_ms],
    )
    .await?
    .iter()
    .map(|row| row.try_get(0))
    .collect::<Result<_, _>>()?;
    if dead.is_empty() {
        return Ok(0);
    }
    let taken = exec(
        db,
        "UPDATE deliveries SET due_at = $2, leased_by = NULL, lease_until = NULL
         WHERE leased_by = ANY($1) AND state = 'pending'",
        &[&dead, &now.0],
    )
    .await?;
    if taken > 0 {
        notify_work(db).await?;
    }
    Ok(taken)
}

pub(super) async fn renew(
    db: &impl GenericClient,
    worker: &str,
    delivery_ids: &[DeliveryId],
    lease_until: Timestamp,
) -> Result<(), StoreError> {
    exec(
        db,
        "UPDATE deliveries SET due_at = $3, lease_until = $3
         WHERE id = ANY($1) AND leased_by = $2 AND state = 'pending'",
        &[&delivery_ids, &worker, &lease_until.0],
    )
    .await?;
    Ok(())
}

pub(super) async fn release(
    db: &impl GenericClient,
    worker: &str,
    deliveries: &[(DeliveryId, Timestamp)],
) -> Result<(), StoreError> {
    let (ids, due): (Vec<DeliveryId>, Vec<i64>) = deliveries
        .iter()
        .map(|(id, due_at)| (*id, due_at.0))
        .unzip();
    exec(
        db,
        "UPDATE deliveries SET due_at = released.due_at, leased_by = NULL, lease_until = NULL
         FROM unnest($1::bigint[], $3::bigint[]) AS released (id, due_at)
         WHERE deliveries.id = released.id AND leased_by = $2 AND state = 'pending'",
        &[&ids, &worker, &due],
    )
    .await?;
    Ok(())
}

pub(super) async fn disable_failing_hooks(
    db: &impl GenericClient,
    failing_since: Timestamp,
    min_failures: u32,
    reason: &str,
    now: Timestamp,
) -> Result<Vec<HookId>, StoreError> {
    let disabled: Vec<HookId> = all(
        db,
        &disable_failing(|n| format!("${n}"), "false"),
        &[&failing_since.0, &i64::from(min_failures), &reason, &now.0],
    )
    .await?
    .iter()
    .map(|row| row.try_get(0))
    .collect::<Result<_, _>>()?;
    if !disabled.is_empty() {
        exec(db, &HOLD_PENDING.replace("{hook}", "ANY($1)"), &[&disabled]).await?;
    }
    Ok(disabled)
}

pub(super) async fn postpone_hooks(
    db: &impl GenericClient,
    hooks: &[Postponed],
    now: Timestamp,
) -> Result<(), StoreError> {
    let ids: Vec<HookId> = hooks.iter().map(|hook| hook.hook_id).collect();
    let from: Vec<i64> = hooks.iter().map(|hook| hook.from.0).collect();
    let span: Vec<i64> = hooks.iter().map(Postponed::span_ms).collect();
    exec(
        db,
        "UPDATE deliveries SET due_at = postponed.from_ms + (deliveries.id * 7919) % postponed.span_ms
         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS postponed (hook_id, from_ms, span_ms)
         WHERE deliveries.hook_id = postponed.hook_id AND deliveries.due_at <= $4",
        &[&ids, &from, &span, &now.0],
    )
    .await?;
    Ok(())
}

pub(super) async fn redeliver(
    db: &impl GenericClient,
    scope: &HookScope,
    hook_id: HookId,
    attempt_id: AttemptId,
    now: Timestamp,
) -> Result<bool, StoreError> {
    if !exists(db, scope, hook_id).await? {
        return Ok(false);
    }
    let found = opt(
        db,
        "SELECT event_id, installation_id FROM attempts WHERE id = $1 AND hook_id = $2",
        &[&attempt_id, &hook_id],
    )
    .await?;
    match found {
        Some(row) => {
            queue_once(db, row.try_get(0)?, hook_id, row.try_get(1)?, true, now).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}
