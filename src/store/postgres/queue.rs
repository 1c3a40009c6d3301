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
use super::header_sets::{KnownHeaderSets, header_set_ids};
use super::hooks::exists;
use super::line;
use super::{EVERY_NODE, all, exec, notify_work, one, opt};
use crate::domain::hook::HookScope;
use crate::domain::ids::{AttemptId, DeliveryId};
use crate::domain::timestamp::Timestamp;
use crate::store::columns::{
    BUSIEST_HOOKS_QUERY, CANCEL_FOR_INACTIVE_HOOK, CONFIG_COLUMNS, HOLD_PENDING, WAITING_QUERY,
    age_seconds, corrupt, disable_failing, headers_json, hook_backlog, last_response_columns,
    read_config, state_after,
};
use crate::store::header_sets::{self, SplitHeaders};
use crate::store::{
    AttemptRecord, BUSIEST_HOOKS, Claim, ClaimedDelivery, DeliveryTarget, EventRecord, HookId,
    Postponed, QueueStats, StoreError, Tenant,
};
use crate::store::{packing, throttle};

/// A claim in one statement: the due deliveries leased (rows another node is claiming at
/// this moment are skipped, not waited for), each with its event (the payload on one row
/// per event only, so a fan-out does not carry it once per hook) and its hook's delivery
/// settings (none when the hook is no longer active), and the earliest due time of the
/// rest. Each event's first delivery (the row with the payload) is found by a narrow
/// aggregate, not a window over the wide rows, whose sort by event cost more than the rest
/// of the claim. Rows are found by id through their primary keys whatever the statistics
/// say (`= ANY(ARRAY(…))`, lateral subqueries the planner cannot flatten): planned as a
/// join, the claim hashed all of `deliveries` and `events` whenever the planner expected as
/// many due rows as the limit, also when one was due. Columns: the delivery's 0–8, the
/// event's 9–15 and its packed payload 17 (payloads 13 and 17 on the row of each event's
/// first delivery only), the next due time 16, the hook's from [`CLAIM_HOOK_AT`].
fn claim_statement() -> String {
    format!(
        "WITH due AS (
             SELECT id FROM deliveries WHERE due_at <= $1 ORDER BY due_at LIMIT $2
             FOR UPDATE SKIP LOCKED),
         leased AS (
             UPDATE deliveries d SET due_at = $3, leased_by = $4, lease_until = $3
             WHERE d.id = ANY(ARRAY(SELECT id FROM due))
             RETURNING d.id, d.event_id, d.hook_id, d.installation_id, d.attempts, d.retry,
                       d.redelivery, d.throttled_at, d.fifo_seq IS NOT NULL AS in_line),
         first AS (SELECT event_id, min(id) AS id FROM leased GROUP BY event_id)
         SELECT l.id, l.event_id, l.hook_id, l.installation_id, l.attempts, l.retry,
                l.redelivery, l.throttled_at, l.in_line,
                e.id, e.guid, e.name, e.action,
                CASE WHEN l.id = f.id THEN e.payload END,
                e.target_repository_id, e.target_organization_id,
                (SELECT min(due_at) FROM deliveries
                 WHERE due_at IS NOT NULL AND id NOT IN (SELECT id FROM due)),
                CASE WHEN l.id = f.id THEN e.payload_packed END,
                h.id, h.app_id, h.organization_id IS NOT NULL,
                coalesce(h.organization_id,
                         (SELECT account_id FROM repositories r WHERE r.id = h.repository_id)),
                {CONFIG_COLUMNS}
         FROM leased l
         JOIN first f ON f.event_id = l.event_id
         LEFT JOIN LATERAL (SELECT * FROM events WHERE id = l.event_id OFFSET 0) e ON TRUE
         LEFT JOIN LATERAL (SELECT * FROM hooks WHERE id = l.hook_id AND active OFFSET 0) h
           ON TRUE"
    )
}

/// Where the hook's columns start in [`claim_statement`]'s rows.
const CLAIM_HOOK_AT: usize = 18;

/// The hook of a claimed row, if it is still active.
fn claimed_target(row: &tokio_postgres::Row) -> Result<Option<DeliveryTarget>, StoreError> {
    let Some(hook_id) = row.try_get::<_, Option<HookId>>(CLAIM_HOOK_AT)? else {
        return Ok(None);
    };
    let app_id = row.try_get(CLAIM_HOOK_AT + 1)?;
    Ok(Some(DeliveryTarget {
        hook_id,
        tenant: Tenant::of(app_id, row.try_get(CLAIM_HOOK_AT + 3)?),
        app_id,
        organization: row.try_get(CLAIM_HOOK_AT + 2)?,
        config: read_config(row, CLAIM_HOOK_AT + 4)?,
    }))
}

/// The event of a claimed row, from the row that carries its payload.
fn claimed_event(row: &tokio_postgres::Row) -> Result<Option<EventRecord>, StoreError> {
    let (raw, packed): (Option<&[u8]>, Option<&[u8]>) = (row.try_get(13)?, row.try_get(17)?);
    if raw.is_none() && packed.is_none() {
        return Ok(None);
    }
    Ok(Some(EventRecord {
        id: row.try_get(9)?,
        guid: row.try_get(10)?,
        name: row.try_get(11)?,
        action: row.try_get(12)?,
        payload: packing::stored(raw, packed)?,
        target_repository_id: row.try_get(14)?,
        target_organization_id: row.try_get(15)?,
    }))
}

pub(super) async fn claim_due(
    db: &impl GenericClient,
    worker: &str,
    now: Timestamp,
    lease_until: Timestamp,
    limit: u32,
) -> Result<Claim, StoreError> {
    let leased = all(
        db,
        &claim_statement(),
        &[&now.0, &i64::from(limit), &lease_until.0, &worker],
    )
    .await?;
    if leased.is_empty() {
        let next_due: Option<i64> = one(
            db,
            "SELECT min(due_at) FROM deliveries WHERE due_at IS NOT NULL",
            &[],
        )
        .await?
        .try_get(0)?;
        return Ok(Claim {
            deliveries: Vec::new(),
            next_due: next_due.map(Timestamp),
            throttled: 0,
        });
    }
    let mut events: HashMap<i64, Arc<EventRecord>> = HashMap::new();
    for row in &leased {
        if let Some(event) = claimed_event(row)? {
            events.insert(event.id, Arc::new(event));
        }
    }
    let mut targets: HashMap<HookId, Option<Arc<DeliveryTarget>>> = HashMap::new();
    let mut deliveries = Vec::with_capacity(leased.len());
    let mut cancelled = Vec::new();
    for row in &leased {
        let id: i64 = row.try_get(0)?;
        let hook_id: HookId = row.try_get(2)?;
        let event_id: i64 = row.try_get(1)?;
        let target = match targets.get(&hook_id) {
            Some(target) => target.clone(),
            None => {
                let target = claimed_target(row)?.map(Arc::new);
                targets.insert(hook_id, target.clone());
                target
            }
        };
        // A hook deactivated after the event was queued gets nothing; an event pruned
        // meanwhile has nothing to send.
        let (Some(target), Some(event)) = (target, events.get(&event_id)) else {
            cancelled.push(id);
            continue;
        };
        let attempts: i64 = row.try_get(4)?;
        deliveries.push(ClaimedDelivery {
            id: DeliveryId(id),
            event: event.clone(),
            target,
            installation_id: row.try_get(3)?,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            retry: row.try_get(5)?,
            redelivery: row.try_get(6)?,
            throttled_at: row.try_get::<_, Option<i64>>(7)?.map(Timestamp),
            in_line: row.try_get(8)?,
        });
    }
    let others_due: Option<i64> = leased[0].try_get(16)?;
    let (deliveries, throttled, first_put_off) = take_rate_slots(db, deliveries, now).await?;
    // What this claim leased is due again when its lease runs out; what it put off, at
    // its slot.
    let next_due = [
        others_due,
        (!deliveries.is_empty()).then_some(lease_until.0),
        first_put_off.map(|slot| slot.0),
    ]
    .into_iter()
    .flatten()
    .min();
    if !cancelled.is_empty() {
        exec(
            db,
            &CANCEL_FOR_INACTIVE_HOOK.replace("id = ?1", "id = ANY($1)"),
            &[&cancelled],
        )
        .await?;
    }
    Ok(Claim {
        deliveries,
        next_due: next_due.map(Timestamp),
        throttled,
    })
}

/// Rate-limited hooks' deliveries take their slots (one statement for every hook); those
/// whose slot is later are put off to it. Returns what may start now, how many waited and
/// the earliest slot they wait for.
async fn take_rate_slots(
    db: &impl GenericClient,
    deliveries: Vec<ClaimedDelivery>,
    now: Timestamp,
) -> Result<(Vec<ClaimedDelivery>, usize, Option<Timestamp>), StoreError> {
    let needed = throttle::slots_needed(&deliveries);
    if needed.is_empty() {
        return Ok((deliveries, 0, None));
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
    let first_put_off = put_off.iter().map(|(_, slot)| *slot).min();
    Ok((ready, put_off.len(), first_put_off))
}

/// Records `attempts` (of distinct deliveries) with a handful of statements however many
/// there are: the attempts, their deliveries' next state, retries made moot by a success,
/// and each hook's `last_response` (from its latest attempt in the batch).
pub(super) async fn record_attempts(
    db: &impl GenericClient,
    attempts: &[&AttemptRecord],
    known: &KnownHeaderSets,
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
    let split: Vec<SplitHeaders> = attempts
        .iter()
        .map(|a| header_sets::split(&a.request_headers, &a.event_guid))
        .collect();
    let latest = attempts.iter().map(|a| a.delivered_at).max();
    let set_ids = header_set_ids(db, &split, latest.unwrap_or_else(Timestamp::now), known).await?;
    let set_id_column = split
        .iter()
        .map(|s| set_ids.get(&s.digest).copied())
        .collect::<Option<Vec<i64>>>()
        .ok_or_else(|| corrupt("header set"))?;
    let request_headers: Vec<String> = split.into_iter().map(|s| s.values).collect();
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
    let states: Vec<&str> = attempts.iter().map(|a| state_after(a)).collect();
    let next_attempts: Vec<Option<i64>> = attempts
        .iter()
        .map(|a| a.next_attempt.map(|at| at.0))
        .collect();
    // Each delivery moves on, and its attempt is stored only if its row was there to move:
    // with no foreign key (migration 0015), a delivery deleted with its hook meanwhile
    // gets no attempt, and a deletion waits for a record updating its rows.
    let record = async {
        let stored = exec(
            db,
            "WITH moved AS (
                 UPDATE deliveries d
                 SET state = u.state, attempts = d.attempts + 1, due_at = u.due_at,
                     leased_by = NULL, lease_until = NULL, throttled_at = NULL
                 FROM unnest($1::bigint[], $16::text[], $17::bigint[]) AS u(id, state, due_at)
                 WHERE d.id = u.id
                 RETURNING d.id)
             INSERT INTO attempts (delivery_id, hook_id, event_id, installation_id, redelivery,
                                   delivered_at, duration_ms, status, status_code, url,
                                   request_headers, response_headers, response_body, throttled_at,
                                   header_set_id)
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[],
                                  $5::boolean[], $6::bigint[], $7::bigint[], $8::text[],
                                  $9::bigint[], $10::text[], $11::text[], $12::text[],
                                  $13::bytea[], $14::bigint[], $15::bigint[])
                  AS a(delivery_id, hook_id, event_id, installation_id, redelivery,
                       delivered_at, duration_ms, status, status_code, url, request_headers,
                       response_headers, response_body, throttled_at, header_set_id)
             WHERE a.delivery_id IN (SELECT id FROM moved)",
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
                &set_id_column,
                &states,
                &next_attempts,
            ],
        )
        .await?;
        if stored < delivery_ids.len() as u64 {
            return Err(StoreError::Gone);
        }
        Ok(stored)
    };
    // An event that reached its hook through a once-only delivery needs no automatic retry
    // still waiting (the scheduled delivery's own success leaves none).
    let (reached_events, reached_hooks): (Vec<i64>, Vec<i64>) = attempts
        .iter()
        .filter(|a| a.succeeded && !a.retry)
        .map(|a| (a.event_id, a.hook_id.0))
        .unzip();
    let end_moot_retries = async {
        if reached_events.is_empty() {
            return Ok(0);
        }
        exec(
            db,
            "UPDATE deliveries d SET state = 'succeeded', due_at = NULL
             FROM unnest($1::bigint[], $2::bigint[]) AS s(event_id, hook_id)
             WHERE d.event_id = s.event_id AND d.hook_id = s.hook_id AND d.retry
               AND d.state = 'pending' AND d.leased_by IS NULL",
            &[&reached_events, &reached_hooks],
        )
        .await
    };
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
    let update_hooks = async {
        exec(
            db,
            "UPDATE hooks h
             SET last_status = l.status, last_code = l.code, last_message = l.message,
                 failing_since = CASE WHEN l.reset THEN l.first_failure
                                      ELSE coalesce(h.failing_since, l.first_failure) END,
                 failures = CASE WHEN l.reset THEN l.failures ELSE h.failures + l.failures END
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
        .await
    };
    // A FIFO hook whose delivery ended: the next in its line is due.
    let mut ended: Vec<HookId> = attempts
        .iter()
        .filter(|a| a.in_line && a.next_attempt.is_none())
        .map(|a| a.hook_id)
        .collect();
    // Sent together: pipelined on the connection, they run in this order and cost the
    // batch one round trip instead of three. A line's advance locks its hook `FOR UPDATE`
    // before the hook's row is written, as a publish to the hook locks it for its line.
    if ended.is_empty() {
        tokio::try_join!(record, end_moot_retries, update_hooks)?;
    } else {
        tokio::try_join!(record, end_moot_retries)?;
        let now = attempts.iter().map(|a| a.delivered_at).min();
        line::advance(db, &mut ended, now.unwrap_or_else(Timestamp::now)).await?;
        update_hooks.await?;
    }
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
    let (held, in_line, header_sets): (i64, i64, i64) = (
        waiting.try_get(0)?,
        waiting.try_get(1)?,
        waiting.try_get(2)?,
    );
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
        notify_work(db, EVERY_NODE).await?;
    }
    Ok(taken)
}

pub(super) async fn renew(
    db: &impl GenericClient,
    worker: &str,
    delivery_ids: &[DeliveryId],
    lease_until: Timestamp,
) -> Result<(), StoreError> {
    // A row locked at this moment is being recorded (which ends its lease) or handed back
    // by this node: it is skipped, never waited for. Waiting deadlocked with a record
    // batch locking the same rows in another order (seen in the scale benchmark).
    exec(
        db,
        "UPDATE deliveries SET due_at = $3, lease_until = $3
         WHERE id IN (SELECT id FROM deliveries
                      WHERE id = ANY($1) AND leased_by = $2 AND state = 'pending'
                      FOR UPDATE SKIP LOCKED)",
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
