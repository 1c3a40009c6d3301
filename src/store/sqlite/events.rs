//! Publishing: an event stored once and fanned out to deliveries in the same transaction.

use rusqlite::{Connection, OptionalExtension, params};

use super::hooks::{ensure_account, find_scope};
use super::line::line_up;
use crate::domain::hook::HookScope;
use crate::domain::ids::InstallationId;
use crate::domain::names::{Login, RepoName};
use crate::domain::timestamp::Timestamp;
use crate::store::columns::{
    IDEMPOTENCY_WINDOW_MS, ORGANIZATION_OBJECTS, PruneBatch, REPOSITORY_OBJECTS, idempotent_reply,
    parse_idempotent_reply, prunable_events, prune_batch, read_scope_objects,
};
use crate::store::header_sets;
use crate::store::packing::PackedEvent;
use crate::store::{
    HookId, IdempotencyKey, NewEvent, PruneCursor, Pruned, PublishOutcome, ScopeObjects, StoreError,
};

/// The repository's row id and its owner's account id, creating both on first mention.
fn ensure_repository(
    conn: &Connection,
    owner: &Login,
    name: &RepoName,
) -> Result<(i64, i64), StoreError> {
    let account_id = ensure_account(conn, owner)?;
    let found = conn
        .prepare_cached("SELECT id FROM repositories WHERE account_id = ?1 AND name_key = ?2")?
        .query_row(params![account_id, name.key()], |row| row.get(0))
        .optional()?;
    let id = match found {
        Some(id) => id,
        None => conn
            .prepare_cached(
                "INSERT INTO repositories (account_id, name, name_key) VALUES (?1, ?2, ?3)
                 RETURNING id",
            )?
            .query_row(params![account_id, name.as_str(), name.key()], |row| {
                row.get(0)
            })?,
    };
    Ok((id, account_id))
}

/// Row ids of the event's repository and organization, created on first mention.
struct EventScope {
    repository_id: Option<i64>,
    account_id: Option<i64>,
}

fn resolve(conn: &Connection, event: &NewEvent) -> Result<EventScope, StoreError> {
    let repository_id = match &event.repository {
        Some((owner, name)) => Some(ensure_repository(conn, owner, name)?.0),
        None => None,
    };
    let account_id = match &event.organization {
        Some(org) => Some(ensure_account(conn, org)?),
        None => None,
    };
    Ok(EventScope {
        repository_id,
        account_id,
    })
}

fn insert_event(
    conn: &Connection,
    event: &PackedEvent,
    scope: &EventScope,
    now: Timestamp,
) -> Result<i64, StoreError> {
    let latest = &event.latest;
    // Rows are rewritten only when the publisher sent something new.
    if let Some(repository_id) = scope.repository_id
        && (latest.repository.is_some() || latest.sender.is_some())
    {
        conn.prepare_cached(
            "UPDATE repositories SET latest_repository = coalesce(?2, latest_repository),
                                     latest_sender = coalesce(?3, latest_sender)
             WHERE id = ?1 AND (latest_repository IS NOT coalesce(?2, latest_repository)
                                OR latest_sender IS NOT coalesce(?3, latest_sender))",
        )?
        .execute(params![repository_id, latest.repository, latest.sender])?;
    }
    if let Some(account_id) = scope.account_id
        && (latest.organization.is_some() || latest.sender.is_some())
    {
        conn.prepare_cached(
            "UPDATE accounts SET latest_organization = coalesce(?2, latest_organization),
                                 latest_sender = coalesce(?3, latest_sender)
             WHERE id = ?1 AND (latest_organization IS NOT coalesce(?2, latest_organization)
                                OR latest_sender IS NOT coalesce(?3, latest_sender))",
        )?
        .execute(params![account_id, latest.organization, latest.sender])?;
    }
    let event_id: i64 = conn
        .prepare_cached(
            "INSERT INTO events (guid, name, action, repository_id, account_id,
                                 target_repository_id, target_organization_id, payload,
                                 payload_packed, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id",
        )?
        .query_row(
            params![
                event.guid,
                event.name,
                event.action,
                scope.repository_id,
                scope.account_id,
                event.target_repository_id.or(scope.repository_id),
                event.target_organization_id.or(scope.account_id),
                event.payload_column(),
                event.packed(),
                now.0,
            ],
            |row| row.get(0),
        )?;
    Ok(event_id)
}

/// Queues the automatic delivery of the event to every active, subscribed hook; a FIFO
/// hook's delivery then takes its place in the hook's line.
fn fan_out(
    conn: &Connection,
    event_id: i64,
    name: &str,
    scope: &EventScope,
    now: Timestamp,
) -> Result<u64, StoreError> {
    // `events` is a JSON array of names made of [a-z_] or `*`, so a quoted name occurs in
    // its text exactly when the hook subscribes to it. (A `json_each` test with a bound
    // parameter made SQLite re-prepare the statement on every run.)
    // A hook disabled by `--disable-after` (not by its owner) gets its deliveries held.
    const SUBSCRIBED: &str = "(h.active OR h.disabled_at IS NOT NULL)
                              AND (instr(h.events, char(34) || ?3 || char(34)) > 0
                                   OR instr(h.events, char(34, 42, 34)) > 0)";
    const STATE: &str = "CASE WHEN h.active THEN 'pending' ELSE 'held' END";
    // A FIFO hook's delivery waits without a due time until it has its place in line.
    const DUE: &str = "CASE WHEN NOT h.active OR h.ordering = 'fifo' THEN NULL ELSE ?2 END";
    const QUEUED: &str = "RETURNING hook_id, state = 'pending' AND due_at IS NULL";
    let mut queued = 0;
    let mut fifo_hooks: Vec<HookId> = Vec::new();
    let mut collect = |row: &rusqlite::Row<'_>| -> rusqlite::Result<()> {
        queued += 1;
        if row.get::<_, bool>(1)? {
            fifo_hooks.push(row.get(0)?);
        }
        Ok(())
    };
    if let Some(repository_id) = scope.repository_id {
        let mut statement = conn.prepare_cached(&format!(
            "INSERT INTO deliveries (event_id, hook_id, retry, redelivery, state, due_at)
             SELECT ?1, h.id, 1, 0, {STATE}, {DUE} FROM hooks h
             WHERE h.repository_id = ?4 AND {SUBSCRIBED} {QUEUED}"
        ))?;
        let mut rows = statement.query(params![event_id, now.0, name, repository_id])?;
        while let Some(row) = rows.next()? {
            collect(row)?;
        }
    }
    if let Some(account_id) = scope.account_id {
        let mut statement = conn.prepare_cached(&format!(
            "INSERT INTO deliveries (event_id, hook_id, retry, redelivery, state, due_at)
             SELECT ?1, h.id, 1, 0, {STATE}, {DUE} FROM hooks h
             WHERE h.organization_id = ?4 AND {SUBSCRIBED} {QUEUED}"
        ))?;
        let mut rows = statement.query(params![event_id, now.0, name, account_id])?;
        while let Some(row) = rows.next()? {
            collect(row)?;
        }
        // Installations first, then each app's hook: the same in one joined statement made
        // SQLite re-prepare it on every run.
        let installations: Vec<(i64, i64)> = conn
            .prepare_cached("SELECT id, app_id FROM installations WHERE account_id = ?1")?
            .query_map([account_id], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (installation_id, app_id) in installations {
            let mut statement = conn.prepare_cached(&format!(
                "INSERT INTO deliveries (event_id, hook_id, installation_id, retry,
                                         redelivery, state, due_at)
                 SELECT ?1, h.id, ?5, 1, 0, {STATE}, {DUE} FROM hooks h
                 WHERE h.app_id = ?4 AND {SUBSCRIBED} {QUEUED}"
            ))?;
            let mut rows =
                statement.query(params![event_id, now.0, name, app_id, installation_id])?;
            while let Some(row) = rows.next()? {
                collect(row)?;
            }
        }
    }
    line_up(conn, &fifo_hooks, now, false)?;
    Ok(queued)
}

pub(super) fn publish(
    conn: &Connection,
    event: &PackedEvent,
    key: Option<&IdempotencyKey>,
    now: Timestamp,
) -> Result<PublishOutcome, StoreError> {
    if let Some(key) = key {
        let seen: Option<(Vec<u8>, String)> = conn
            .prepare_cached(
                "SELECT body_hash, response FROM idempotency_keys
                 WHERE token_id = ?1 AND key = ?2 AND created_at > ?3",
            )?
            .query_row(
                params![key.token_id, key.key, now.0 - IDEMPOTENCY_WINDOW_MS],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        if let Some((hash, response)) = seen {
            if hash != key.body_hash {
                return Ok(PublishOutcome::KeyReused);
            }
            let (guid, deliveries) = parse_idempotent_reply(&response)?;
            return Ok(PublishOutcome::Replayed { guid, deliveries });
        }
    }
    let scope = resolve(conn, event)?;
    let event_id = insert_event(conn, event, &scope, now)?;
    if event.name == "push"
        && let Some(repository_id) = scope.repository_id
    {
        conn.prepare_cached("UPDATE repositories SET latest_push_event_id = ?2 WHERE id = ?1")?
            .execute(params![repository_id, event_id])?;
    }
    let deliveries = fan_out(conn, event_id, &event.name, &scope, now)?;
    if let Some(key) = key {
        conn.prepare_cached(
            "INSERT OR REPLACE INTO idempotency_keys (token_id, key, body_hash, status, response, created_at)
             VALUES (?1, ?2, ?3, 202, ?4, ?5)",
        )?
        .execute(params![
            key.token_id,
            key.key,
            key.body_hash.as_slice(),
            idempotent_reply(&event.guid, deliveries),
            now.0
        ])?;
    }
    Ok(PublishOutcome::Published {
        guid: event.guid.clone(),
        deliveries,
    })
}

/// Inserts a delivery of an existing event to one hook, tried once.
pub(super) fn queue_once(
    conn: &Connection,
    event_id: i64,
    hook_id: HookId,
    installation_id: Option<InstallationId>,
    redelivery: bool,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO deliveries (event_id, hook_id, installation_id, retry, redelivery, state, due_at)
         SELECT ?1, ?2, ?3, 0, ?4, 'pending', CASE WHEN ordering = 'fifo' THEN NULL ELSE ?5 END
         FROM hooks WHERE id = ?2",
    )?
    .execute(params![event_id, hook_id, installation_id, redelivery, now.0])?;
    line_up(conn, &[hook_id], now, false)
}

pub(super) fn publish_to_hook(
    conn: &Connection,
    event: &PackedEvent,
    hook_id: HookId,
    now: Timestamp,
) -> Result<(), StoreError> {
    let scope = resolve(conn, event)?;
    let event_id = insert_event(conn, event, &scope, now)?;
    queue_once(conn, event_id, hook_id, None, false, now)
}

pub(super) fn latest_objects(
    conn: &Connection,
    scope: &HookScope,
) -> Result<ScopeObjects, StoreError> {
    let found = match scope {
        HookScope::Repository { owner, repo } => conn
            .prepare_cached(&REPOSITORY_OBJECTS.replace("{1}", "?1").replace("{2}", "?2"))?
            .query_row(params![owner.key(), repo.key()], |row| {
                read_scope_objects(row)
            })
            .optional()?,
        HookScope::Organization { org } => conn
            .prepare_cached(&ORGANIZATION_OBJECTS.replace("{1}", "?1"))?
            .query_row([org.key()], |row| read_scope_objects(row))
            .optional()?,
        HookScope::App { .. } => None,
    };
    Ok(found.unwrap_or_default())
}

pub(super) fn queue_test_push(
    conn: &Connection,
    scope: &HookScope,
    hook_id: HookId,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let Some(scope_row) = find_scope(conn, scope)? else {
        return Ok(false);
    };
    if scope_row.column != "repository_id" {
        return Ok(false);
    }
    let event_id: Option<i64> = conn
        .prepare_cached(
            "SELECT e.id FROM repositories r
             JOIN events e ON e.id = r.latest_push_event_id
             JOIN hooks h ON h.repository_id = r.id
             WHERE r.id = ?1 AND h.id = ?2
               AND EXISTS (SELECT 1 FROM json_each(h.events) WHERE value IN ('push', '*'))",
        )?
        .query_row(params![scope_row.id, hook_id], |row| row.get(0))
        .optional()?;
    match event_id {
        Some(event_id) => {
            queue_once(conn, event_id, hook_id, None, true, now)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

pub(super) fn prune(
    conn: &Connection,
    before: Timestamp,
    after: Option<PruneCursor>,
    batch: u32,
) -> Result<Pruned, StoreError> {
    let placeholder = |n| format!("?{n}");
    let from = after.map_or(0, |cursor| cursor.0);
    let found =
        conn.prepare_cached(&prune_batch(placeholder))?
            .query_row(params![from, batch], |row| {
                Ok(PruneBatch {
                    last: row.get(0)?,
                    oldest: row.get(1)?,
                    looked: row.get(2)?,
                })
            })?;
    let mut deleted = 0;
    if let Some(last) = found.last_to_prune(before) {
        // Deliveries and attempts go with their events (foreign keys that cascade).
        deleted = conn
            .prepare_cached(&format!(
                "DELETE FROM events WHERE id IN ({})",
                prunable_events(placeholder)
            ))?
            .execute(params![before.0, from, last])?;
    }
    let next = found.next(batch, before);
    if next.is_none() {
        // The pass's end: the request-header templates left unused go too.
        conn.prepare_cached(&header_sets::prune_unused("?1"))?
            .execute([before.0])?;
    }
    Ok(Pruned {
        deleted: deleted as u64,
        next,
    })
}
