//! Publishing: an event stored once and fanned out to deliveries in the same transaction.

use deadpool_postgres::GenericClient;

use super::hooks::{ensure_account, ensure_repository, find_scope};
use super::{exec, one, opt};
use crate::domain::hook::HookScope;
use crate::domain::timestamp::Timestamp;
use crate::store::columns::{IDEMPOTENCY_WINDOW_MS, idempotent_reply, parse_idempotent_reply};
use crate::store::{HookId, IdempotencyKey, LatestObjects, NewEvent, PublishOutcome, StoreError};

/// Row ids of the event's repository and organization, created on first mention.
struct EventScope {
    repository_id: Option<i64>,
    account_id: Option<i64>,
}

async fn resolve(db: &impl GenericClient, event: &NewEvent) -> Result<EventScope, StoreError> {
    let repository_id = match &event.repository {
        Some((owner, name)) => Some(ensure_repository(db, owner, name).await?),
        None => None,
    };
    let account_id = match &event.organization {
        Some(org) => Some(ensure_account(db, org).await?),
        None => None,
    };
    Ok(EventScope {
        repository_id,
        account_id,
    })
}

async fn insert_event(
    db: &impl GenericClient,
    event: &NewEvent,
    scope: &EventScope,
    now: Timestamp,
) -> Result<i64, StoreError> {
    let latest = &event.latest;
    // Rows are rewritten only when the publisher sent something new.
    if let Some(repository_id) = scope.repository_id
        && (latest.repository.is_some() || latest.sender.is_some())
    {
        exec(
            db,
            "UPDATE repositories SET latest_repository = coalesce($2, latest_repository),
                                     latest_sender = coalesce($3, latest_sender)
             WHERE id = $1
               AND (latest_repository IS DISTINCT FROM coalesce($2, latest_repository)
                    OR latest_sender IS DISTINCT FROM coalesce($3, latest_sender))",
            &[&repository_id, &latest.repository, &latest.sender],
        )
        .await?;
    }
    if let Some(account_id) = scope.account_id
        && (latest.organization.is_some() || latest.sender.is_some())
    {
        exec(
            db,
            "UPDATE accounts SET latest_organization = coalesce($2, latest_organization),
                                 latest_sender = coalesce($3, latest_sender)
             WHERE id = $1
               AND (latest_organization IS DISTINCT FROM coalesce($2, latest_organization)
                    OR latest_sender IS DISTINCT FROM coalesce($3, latest_sender))",
            &[&account_id, &latest.organization, &latest.sender],
        )
        .await?;
    }
    let row = one(
        db,
        "INSERT INTO events (guid, name, action, repository_id, account_id,
                             target_repository_id, target_organization_id, payload, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        &[
            &event.guid,
            &event.name,
            &event.action,
            &scope.repository_id,
            &scope.account_id,
            &event.target_repository_id.or(scope.repository_id),
            &event.target_organization_id.or(scope.account_id),
            &event.payload,
            &now.0,
        ],
    )
    .await?;
    Ok(row.get(0))
}

/// Queues the automatic delivery of the event to every active, subscribed hook of the
/// repository, the organization, and the apps installed on the organization.
async fn fan_out(
    db: &impl GenericClient,
    event_id: i64,
    name: &str,
    scope: &EventScope,
    now: Timestamp,
) -> Result<u64, StoreError> {
    let queued = exec(
        db,
        "INSERT INTO deliveries (event_id, hook_id, installation_id, retry, redelivery, state,
                                 due_at)
         SELECT $1::bigint, h.id, NULL::bigint, TRUE, FALSE, 'pending', $2::bigint FROM hooks h
         WHERE (h.repository_id = $4::bigint OR h.organization_id = $5::bigint)
           AND h.active AND h.events ?| ARRAY[$3::text, '*']
         UNION ALL
         SELECT $1, h.id, i.id, TRUE, FALSE, 'pending', $2
         FROM installations i JOIN hooks h ON h.app_id = i.app_id
         WHERE i.account_id = $5 AND h.active AND h.events ?| ARRAY[$3, '*']",
        &[
            &event_id,
            &now.0,
            &name,
            &scope.repository_id,
            &scope.account_id,
        ],
    )
    .await?;
    Ok(queued)
}

pub(super) async fn publish(
    db: &impl GenericClient,
    event: &NewEvent,
    key: Option<&IdempotencyKey>,
    now: Timestamp,
) -> Result<PublishOutcome, StoreError> {
    if let Some(key) = key {
        let seen = opt(
            db,
            "SELECT body_hash, response FROM idempotency_keys
             WHERE token_id = $1 AND key = $2 AND created_at > $3",
            &[&key.token_id, &key.key, &(now.0 - IDEMPOTENCY_WINDOW_MS)],
        )
        .await?;
        if let Some(row) = seen {
            let hash: &[u8] = row.get(0);
            if hash != key.body_hash {
                return Ok(PublishOutcome::KeyReused);
            }
            let (guid, deliveries) = parse_idempotent_reply(row.get(1))?;
            return Ok(PublishOutcome::Replayed { guid, deliveries });
        }
    }
    let scope = resolve(db, event).await?;
    let event_id = insert_event(db, event, &scope, now).await?;
    if event.name == "push"
        && let Some(repository_id) = scope.repository_id
    {
        exec(
            db,
            "UPDATE repositories SET latest_push_event_id = $2 WHERE id = $1",
            &[&repository_id, &event_id],
        )
        .await?;
    }
    let deliveries = fan_out(db, event_id, &event.name, &scope, now).await?;
    if let Some(key) = key {
        exec(
            db,
            "INSERT INTO idempotency_keys (token_id, key, body_hash, status, response, created_at)
             VALUES ($1, $2, $3, 202, $4, $5)
             ON CONFLICT (token_id, key) DO UPDATE
               SET body_hash = excluded.body_hash, status = excluded.status,
                   response = excluded.response, created_at = excluded.created_at",
            &[
                &key.token_id,
                &key.key,
                &key.body_hash.as_slice(),
                &idempotent_reply(&event.guid, deliveries),
                &now.0,
            ],
        )
        .await?;
    }
    Ok(PublishOutcome::Published {
        guid: event.guid.clone(),
        deliveries,
    })
}

/// Inserts a delivery of an existing event to one hook, tried once.
pub(super) async fn queue_once(
    db: &impl GenericClient,
    event_id: i64,
    hook_id: HookId,
    installation_id: Option<i64>,
    redelivery: bool,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec(
        db,
        "INSERT INTO deliveries (event_id, hook_id, installation_id, retry, redelivery, state,
                                 due_at)
         VALUES ($1, $2, $3, FALSE, $4, 'pending', $5)",
        &[&event_id, &hook_id, &installation_id, &redelivery, &now.0],
    )
    .await?;
    Ok(())
}

pub(super) async fn publish_to_hook(
    db: &impl GenericClient,
    event: &NewEvent,
    hook_id: HookId,
    now: Timestamp,
) -> Result<(), StoreError> {
    let scope = resolve(db, event).await?;
    let event_id = insert_event(db, event, &scope, now).await?;
    queue_once(db, event_id, hook_id, None, false, now).await
}

pub(super) async fn latest_objects(
    db: &impl GenericClient,
    scope: &HookScope,
) -> Result<LatestObjects, StoreError> {
    let latest = match scope {
        HookScope::Repository { owner, repo } => opt(
            db,
            "SELECT r.latest_repository, a.latest_organization,
                    coalesce(r.latest_sender, a.latest_sender)
             FROM repositories r JOIN accounts a ON a.id = r.account_id
             WHERE a.login_key = $1 AND r.name_key = $2",
            &[&owner.key(), &repo.key()],
        )
        .await?
        .map(|row| LatestObjects {
            repository: row.get(0),
            organization: row.get(1),
            sender: row.get(2),
        }),
        HookScope::Organization { org } => opt(
            db,
            "SELECT latest_organization, latest_sender FROM accounts WHERE login_key = $1",
            &[&org.key()],
        )
        .await?
        .map(|row| LatestObjects {
            repository: None,
            organization: row.get(0),
            sender: row.get(1),
        }),
        HookScope::App { .. } => None,
    };
    Ok(latest.unwrap_or_default())
}

pub(super) async fn queue_test_push(
    db: &impl GenericClient,
    scope: &HookScope,
    hook_id: HookId,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let Some(scope_row) = find_scope(db, scope).await? else {
        return Ok(false);
    };
    if scope_row.column != "repository_id" {
        return Ok(false);
    }
    let found = opt(
        db,
        "SELECT e.id FROM repositories r
         JOIN events e ON e.id = r.latest_push_event_id
         JOIN hooks h ON h.repository_id = r.id
         WHERE r.id = $1 AND h.id = $2 AND h.events ?| ARRAY['push', '*']",
        &[&scope_row.id, &hook_id],
    )
    .await?;
    match found {
        Some(row) => {
            queue_once(db, row.get(0), hook_id, None, true, now).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

pub(super) async fn prune(
    db: &impl GenericClient,
    before: Timestamp,
    batch: u32,
) -> Result<u64, StoreError> {
    exec(
        db,
        "DELETE FROM events WHERE id IN
           (SELECT id FROM events WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
        &[&before.0, &i64::from(batch)],
    )
    .await
}
