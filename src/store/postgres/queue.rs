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
use super::{all, exec, one, opt};
use crate::domain::hook::{ContentType, CustomHeaders, HookConfig, HookScope};
use crate::domain::timestamp::Timestamp;
use crate::store::columns::{headers_json, last_response_columns, state_after};
use crate::store::{
    AttemptRecord, Claim, ClaimedDelivery, DeliveryTarget, EventRecord, HookId, QueueStats,
    StoreError,
};

/// The current delivery settings of the active hooks among `hook_ids`.
async fn load_targets(
    db: &impl GenericClient,
    hook_ids: &[i64],
) -> Result<HashMap<HookId, Arc<DeliveryTarget>>, StoreError> {
    let rows = all(
        db,
        "SELECT id, app_id, organization_id IS NOT NULL, url, content_type, secret,
                insecure_ssl, headers
         FROM hooks WHERE id = ANY($1) AND active",
        &[&hook_ids],
    )
    .await?;
    rows.iter()
        .map(|row| {
            let hook_id: HookId = row.get(0);
            let headers: serde_json::Value = serde_json::from_str(row.get(7))
                .map_err(|error| StoreError::Corrupt(format!("hook {hook_id} headers: {error}")))?;
            let target = DeliveryTarget {
                hook_id,
                app_id: row.get(1),
                organization: row.get(2),
                config: HookConfig {
                    url: row.get(3),
                    content_type: ContentType::parse(row.get(4)).unwrap_or(ContentType::Form),
                    secret: row.get(5),
                    insecure_ssl: row.get(6),
                    headers: CustomHeaders::from_json(&headers),
                },
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
    Ok(rows
        .iter()
        .map(|row| {
            let event = EventRecord {
                id: row.get(0),
                guid: row.get(1),
                name: row.get(2),
                action: row.get(3),
                payload: Arc::from(row.get::<_, &[u8]>(4)),
                target_repository_id: row.get(5),
                target_organization_id: row.get(6),
            };
            (event.id, Arc::new(event))
        })
        .collect())
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
                   d.redelivery",
        &[&now.0, &i64::from(limit), &lease_until.0, &worker],
    )
    .await?;
    let mut hook_ids: Vec<i64> = leased.iter().map(|row| row.get(2)).collect();
    hook_ids.sort_unstable();
    hook_ids.dedup();
    let targets = load_targets(db, &hook_ids).await?;
    let mut event_ids: Vec<i64> = leased.iter().map(|row| row.get(1)).collect();
    event_ids.sort_unstable();
    event_ids.dedup();
    let events = load_events(db, &event_ids).await?;

    let mut deliveries = Vec::with_capacity(leased.len());
    let mut cancelled = Vec::new();
    for row in &leased {
        let id: i64 = row.get(0);
        let hook_id: HookId = row.get(2);
        let event_id: i64 = row.get(1);
        // A hook deactivated after the event was queued gets nothing; an event pruned
        // meanwhile has nothing to send.
        let (Some(target), Some(event)) = (targets.get(&hook_id), events.get(&event_id)) else {
            cancelled.push(id);
            continue;
        };
        let attempts: i64 = row.get(4);
        deliveries.push(ClaimedDelivery {
            id,
            event: event.clone(),
            target: target.clone(),
            installation_id: row.get(3),
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            retry: row.get(5),
            redelivery: row.get(6),
        });
    }
    if !cancelled.is_empty() {
        exec(
            db,
            "UPDATE deliveries SET state = 'failed', due_at = NULL, leased_by = NULL,
                                   lease_until = NULL
             WHERE id = ANY($1)",
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
    .get(0);
    Ok(Claim {
        deliveries,
        next_due: next_due.map(Timestamp),
    })
}

pub(super) async fn record_attempt(
    db: &impl GenericClient,
    attempt: &AttemptRecord,
) -> Result<(), StoreError> {
    exec(
        db,
        "INSERT INTO attempts (delivery_id, hook_id, event_id, installation_id, redelivery,
                               delivered_at, duration_ms, status, status_code, url,
                               request_headers, response_headers, response_body, throttled_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        &[
            &attempt.delivery_id,
            &attempt.hook_id,
            &attempt.event_id,
            &attempt.installation_id,
            &attempt.redelivery,
            &attempt.delivered_at.0,
            &attempt.duration_ms,
            &attempt.status,
            &i64::from(attempt.status_code),
            &attempt.url,
            &headers_json(&attempt.request_headers),
            &headers_json(&attempt.response_headers),
            &attempt.response_body,
            &attempt.throttled_at.map(|at| at.0),
        ],
    )
    .await?;
    exec(
        db,
        "UPDATE deliveries SET state = $2, attempts = attempts + 1, due_at = $3,
                               leased_by = NULL, lease_until = NULL
         WHERE id = $1",
        &[
            &attempt.delivery_id,
            &state_after(attempt),
            &attempt.next_attempt.map(|at| at.0),
        ],
    )
    .await?;
    if attempt.succeeded {
        // The event reached the hook: automatic retries still waiting are moot.
        exec(
            db,
            "UPDATE deliveries SET state = 'succeeded', due_at = NULL
             WHERE event_id = $1 AND hook_id = $2 AND state = 'pending' AND leased_by IS NULL",
            &[&attempt.event_id, &attempt.hook_id],
        )
        .await?;
    }
    let (status, code, message) = last_response_columns(attempt);
    // Most attempts repeat the previous outcome: then the hook's row is left unwritten
    // (and unlocked, so that concurrent batches do not queue behind it).
    exec(
        db,
        "UPDATE hooks SET last_status = $2, last_code = $3, last_message = $4
         WHERE id = $1
           AND (last_status IS DISTINCT FROM $2 OR last_code IS DISTINCT FROM $3
                OR last_message IS DISTINCT FROM $4)",
        &[&attempt.hook_id, &status, &code.map(i64::from), &message],
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
    let (due, scheduled, oldest): (i64, i64, Option<i64>) = (row.get(0), row.get(1), row.get(2));
    Ok(QueueStats {
        due: due.unsigned_abs(),
        scheduled: scheduled.unsigned_abs(),
        oldest_due_age_seconds: oldest.map_or(0.0, |at| (now.0 - at).max(0) as f64 / 1000.0),
    })
}

pub(super) async fn renew(
    db: &impl GenericClient,
    worker: &str,
    delivery_ids: &[i64],
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
    delivery_ids: &[i64],
    now: Timestamp,
) -> Result<(), StoreError> {
    exec(
        db,
        "UPDATE deliveries SET due_at = $3, leased_by = NULL, lease_until = NULL
         WHERE id = ANY($1) AND leased_by = $2 AND state = 'pending'",
        &[&delivery_ids, &worker, &now.0],
    )
    .await?;
    Ok(())
}

pub(super) async fn redeliver(
    db: &impl GenericClient,
    scope: &HookScope,
    hook_id: HookId,
    attempt_id: i64,
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
            queue_once(db, row.get(0), hook_id, row.get(1), true, now).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}
