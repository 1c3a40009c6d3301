//! Publishing: an event stored once and fanned out to deliveries in the same transaction.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use super::hooks::{ensure_account, ensure_repository, find_scope};
use super::line::line_up;
use super::{all, exec, one, opt};
use crate::domain::hook::HookScope;
use crate::domain::ids::InstallationId;
use crate::domain::names::Login;
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

/// Row ids of the event's repository and organization, created on first mention.
#[derive(Debug, Clone, Copy)]
struct EventScope {
    repository_id: Option<i64>,
    account_id: Option<i64>,
}

/// Scopes remembered at most; beyond, memory starts again.
const REMEMBERED_SCOPES: usize = 4096;

/// How long a batch trusts what this process last wrote as a row's latest objects: another
/// node may have written others since, so a write skipped because memory says it would
/// change nothing leaves them stale for at most this long.
const TRUST_LATEST: Duration = Duration::from_secs(1);

/// What committed batches of this process found and wrote ([`Publishing::commit`]).
#[derive(Default)]
pub(super) struct KnownScopes {
    /// The scopes of events published: repositories and accounts are never deleted or
    /// renamed, so ids found once stay right, and a publish need not look them up again.
    ids: Mutex<HashMap<ScopeKey, EventScope>>,
    /// The latest objects written to a row, and when: a forge's events of one repository
    /// nearly always carry the same repository and sender objects, and a publish need not
    /// write them again (a round trip per batch).
    latest: Mutex<HashMap<LatestRow, (HeldLatest, Instant)>>,
}

/// A row that keeps the latest objects published for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum LatestRow {
    /// A repository: its repository object and sender.
    Repository(i64),
    /// An account: its organization object and sender.
    Account(i64),
}

/// A row's latest objects (JSON text) as an event carries them: its own and the sender's,
/// `None` where not published. Borrowed from the event: a batch copies only what it writes.
#[derive(Debug, Clone, Copy)]
struct LatestPair<'e> {
    object: Option<&'e str>,
    sender: Option<&'e str>,
}

impl LatestPair<'_> {
    /// Writes `newer` over `self`: an object it lacks keeps the one before, as in the row.
    fn overwrite(&mut self, newer: Self) {
        self.object = newer.object.or(self.object);
        self.sender = newer.sender.or(self.sender);
    }
}

/// A row's latest objects as this process wrote them, `None` where unknown.
#[derive(Debug, Clone, Default)]
struct HeldLatest {
    object: Option<String>,
    sender: Option<String>,
}

impl HeldLatest {
    fn of(pair: LatestPair<'_>) -> Self {
        HeldLatest {
            object: pair.object.map(str::to_owned),
            sender: pair.sender.map(str::to_owned),
        }
    }

    /// Writes `newer` over `self`: an object it lacks keeps the one before, as in the row.
    fn overwrite(&mut self, newer: HeldLatest) {
        self.object = newer.object.or(self.object.take());
        self.sender = newer.sender.or(self.sender.take());
    }

    /// Whether writing `newer` over `self` would change nothing.
    fn holds(&self, newer: LatestPair<'_>) -> bool {
        let same = |old: &Option<String>, new: Option<&str>| new.is_none() || old.as_deref() == new;
        same(&self.object, newer.object) && same(&self.sender, newer.sender)
    }
}

/// What a batch's publishes share: the origin their notification names, what committed
/// batches found and wrote, and the scopes and latest objects the batch found and wrote.
pub(super) struct Publishing<'a> {
    origin: &'a str,
    known: &'a KnownScopes,
    resolved: HashMap<ScopeKey, EventScope>,
    written: Vec<(LatestRow, HeldLatest)>,
}

impl<'a> Publishing<'a> {
    pub(super) fn new(origin: &'a str, known: &'a KnownScopes) -> Self {
        Publishing {
            origin,
            known,
            resolved: HashMap::new(),
            written: Vec::new(),
        }
    }

    /// The scope of `key`, resolved by this batch or by a committed one.
    fn scope(&self, key: &ScopeKey) -> Option<EventScope> {
        self.resolved.get(key).copied().or_else(|| {
            self.known
                .ids
                .lock()
                .expect("not poisoned")
                .get(key)
                .copied()
        })
    }

    /// Whether a committed batch wrote `pair`'s objects to `row` less than
    /// [`TRUST_LATEST`] ago, so writing them again would change nothing.
    fn holds(&self, row: LatestRow, pair: LatestPair<'_>) -> bool {
        let latest = self.known.latest.lock().expect("not poisoned");
        latest
            .get(&row)
            .is_some_and(|(held, at)| at.elapsed() < TRUST_LATEST && held.holds(pair))
    }

    /// Remembers the scopes the batch resolved and the latest objects it wrote; call once
    /// its transaction committed (a repository created by a batch that rolled back does
    /// not exist).
    pub(super) fn commit(self) {
        {
            let mut known = self.known.ids.lock().expect("not poisoned");
            if known.len() + self.resolved.len() > REMEMBERED_SCOPES {
                known.clear();
            }
            known.extend(self.resolved);
        }
        let now = Instant::now();
        let mut latest = self.known.latest.lock().expect("not poisoned");
        if latest.len() + self.written.len() > REMEMBERED_SCOPES {
            latest.clear();
        }
        for (row, pair) in self.written {
            let held = latest
                .entry(row)
                .or_insert_with(|| (HeldLatest::default(), now));
            if held.1.elapsed() >= TRUST_LATEST {
                held.0 = HeldLatest::default();
            }
            held.0.overwrite(pair);
            held.1 = now;
        }
    }
}

async fn resolve(db: &impl GenericClient, event: &NewEvent) -> Result<EventScope, StoreError> {
    // Nearly always both exist already: one round trip finds them.
    if let (Some((owner, name)), Some(org)) = (&event.repository, &event.organization) {
        let found = opt(
            db,
            "SELECT r.id, o.id FROM accounts a
             JOIN repositories r ON r.account_id = a.id AND r.name_key = $2
             JOIN accounts o ON o.login_key = $3
             WHERE a.login_key = $1",
            &[&owner.key(), &name.key(), &org.key()],
        )
        .await?;
        if let Some(row) = found {
            return Ok(EventScope {
                repository_id: row.try_get(0)?,
                account_id: row.try_get(1)?,
            });
        }
    }
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

/// The rows `event` keeps its latest objects in, with the objects it carries for each.
fn latest_of<'e>(event: &'e NewEvent, scope: &EventScope) -> Vec<(LatestRow, LatestPair<'e>)> {
    let latest = &event.latest;
    let sender = latest.sender.as_deref();
    [
        (
            scope.repository_id.map(LatestRow::Repository),
            latest.repository.as_deref(),
        ),
        (
            scope.account_id.map(LatestRow::Account),
            latest.organization.as_deref(),
        ),
    ]
    .into_iter()
    .filter_map(|(row, object)| {
        let row = row.filter(|_| object.is_some() || sender.is_some())?;
        Some((row, LatestPair { object, sender }))
    })
    .collect()
}

/// Writes `pair` as `row`'s latest objects, for the payloads Hookpost writes itself. The
/// row is rewritten only when something is new.
async fn write_latest(
    db: &impl GenericClient,
    row: LatestRow,
    pair: LatestPair<'_>,
) -> Result<(), StoreError> {
    let (table, column, id) = match row {
        LatestRow::Repository(id) => ("repositories", "latest_repository", id),
        LatestRow::Account(id) => ("accounts", "latest_organization", id),
    };
    exec(
        db,
        &format!(
            "UPDATE {table} SET {column} = coalesce($2, {column}),
                                latest_sender = coalesce($3, latest_sender)
             WHERE id = $1
               AND ({column} IS DISTINCT FROM coalesce($2, {column})
                    OR latest_sender IS DISTINCT FROM coalesce($3, latest_sender))"
        ),
        &[&id, &pair.object, &pair.sender],
    )
    .await?;
    Ok(())
}

/// A batch of events as the statements that store them take them: `$1`–`$8` of
/// [`INSERT_EVENTS`], in the events' order.
struct EventColumns<'e> {
    guids: Vec<&'e str>,
    names: Vec<&'e str>,
    actions: Vec<Option<&'e str>>,
    repository_ids: Vec<Option<i64>>,
    account_ids: Vec<Option<i64>>,
    target_repository_ids: Vec<Option<i64>>,
    target_organization_ids: Vec<Option<i64>>,
    /// Each payload as published, or `None` where it is in `packed`.
    payloads: Vec<Option<&'e [u8]>>,
    /// Each payload packed (`store::packing`), or `None` where it is stored as published.
    packed: Vec<Option<&'e [u8]>>,
}

impl<'e> EventColumns<'e> {
    fn of(events: &[(&'e PackedEvent, EventScope)]) -> Self {
        let column = |f: fn(&'e NewEvent, &EventScope) -> Option<i64>| {
            events
                .iter()
                .map(|(event, scope)| f(event, scope))
                .collect()
        };
        EventColumns {
            guids: events
                .iter()
                .map(|(event, _)| event.guid.as_str())
                .collect(),
            names: events
                .iter()
                .map(|(event, _)| event.name.as_str())
                .collect(),
            actions: events
                .iter()
                .map(|(event, _)| event.action.as_deref())
                .collect(),
            repository_ids: column(|_, scope| scope.repository_id),
            account_ids: column(|_, scope| scope.account_id),
            target_repository_ids: column(|event, scope| {
                event.target_repository_id.or(scope.repository_id)
            }),
            target_organization_ids: column(|event, scope| {
                event.target_organization_id.or(scope.account_id)
            }),
            payloads: events
                .iter()
                .map(|(event, _)| event.packed().is_none().then_some(event.payload.as_slice()))
                .collect(),
            packed: events.iter().map(|(event, _)| event.packed()).collect(),
        }
    }

    /// The parameters of [`INSERT_EVENTS`], `created_at` the ninth.
    fn params<'a>(&'a self, created_at: &'a i64) -> Vec<&'a (dyn ToSql + Sync)> {
        vec![
            &self.guids,
            &self.names,
            &self.actions,
            &self.repository_ids,
            &self.account_ids,
            &self.target_repository_ids,
            &self.target_organization_ids,
            &self.payloads,
            created_at,
            &self.packed,
        ]
    }

    /// Each event's row id from `(guid, id)` pairs, in the events' order.
    fn ids_in_order(&self, ids: &HashMap<&str, i64>) -> Result<Vec<i64>, StoreError> {
        self.guids
            .iter()
            .map(|guid| {
                ids.get(guid).copied().ok_or_else(|| {
                    StoreError::Corrupt("an event just inserted is missing".to_owned())
                })
            })
            .collect()
    }
}

/// Inserts a batch of events ([`EventColumns::params`]), all created at `$9`; a statement
/// adds what it returns.
const INSERT_EVENTS: &str =
    "INSERT INTO events (guid, name, action, repository_id, account_id, target_repository_id,
                         target_organization_id, payload, payload_packed, created_at)
     SELECT guid, name, action, repository_id, account_id, target_repository_id,
            target_organization_id, payload, payload_packed, $9
     FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[],
                 $6::bigint[], $7::bigint[], $8::bytea[], $10::bytea[])
          AS e(guid, name, action, repository_id, account_id, target_repository_id,
               target_organization_id, payload, payload_packed)";

/// Inserts `events` (all published at `now`) with one statement; returns their row ids in
/// the same order.
async fn insert_events(
    db: &impl GenericClient,
    columns: &EventColumns<'_>,
    now: Timestamp,
) -> Result<Vec<i64>, StoreError> {
    let rows = all(
        db,
        &format!("{INSERT_EVENTS} RETURNING guid, id"),
        &columns.params(&now.0),
    )
    .await?;
    let ids: HashMap<&str, i64> = rows
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<_, StoreError>>()?;
    columns.ids_in_order(&ids)
}

/// Stores `events` and queues the automatic delivery of each to every active, subscribed
/// hook of its repository, its organization, and the apps installed on the organization,
/// in one statement (one round trip for the batch: the deliveries' insert reads the events'
/// ids from the events' insert), which also notifies the other nodes (as `origin`) when it
/// queued anything; returns how many deliveries each event got, in order.
async fn insert_and_fan_out(
    db: &impl GenericClient,
    columns: &EventColumns<'_>,
    now: Timestamp,
    origin: &str,
) -> Result<Vec<u64>, StoreError> {
    // A hook disabled by `--disable-after` (not by its owner) gets its deliveries held.
    const SUBSCRIBED: &str = "(h.active OR h.disabled_at IS NOT NULL)
                              AND h.events ?| ARRAY[e.name, '*']";
    const STATE: &str = "CASE WHEN h.active THEN 'pending' ELSE 'held' END";
    // A FIFO hook's delivery waits without a due time until it has its place in line.
    const DUE: &str = "CASE WHEN NOT h.active OR h.ordering = 'fifo' THEN NULL ELSE $9::bigint END";
    // Each event's row (`hook_id` null), then each delivery's (`lined`: a FIFO hook's).
    let rows = all(
        db,
        &format!(
            "WITH e AS ({INSERT_EVENTS}
                 RETURNING id AS event_id, guid, name, repository_id, account_id),
             d AS (
                 INSERT INTO deliveries (event_id, hook_id, installation_id, retry, redelivery,
                                         state, due_at)
                 SELECT e.event_id, h.id, NULL::bigint, TRUE, FALSE, {STATE}, {DUE}
                 FROM e JOIN hooks h ON h.repository_id = e.repository_id
                 WHERE {SUBSCRIBED}
                 UNION ALL
                 SELECT e.event_id, h.id, NULL::bigint, TRUE, FALSE, {STATE}, {DUE}
                 FROM e JOIN hooks h ON h.organization_id = e.account_id
                 WHERE {SUBSCRIBED}
                 UNION ALL
                 SELECT e.event_id, h.id, i.id, TRUE, FALSE, {STATE}, {DUE}
                 FROM e JOIN installations i ON i.account_id = e.account_id
                        JOIN hooks h ON h.app_id = i.app_id
                 WHERE {SUBSCRIBED}
                 RETURNING event_id, hook_id, state = 'pending' AND due_at IS NULL AS lined),
             n AS (
                 SELECT pg_notify('hookpost_work', $11) FROM (SELECT 1 FROM d LIMIT 1) AS queued)
             SELECT event_id, guid, NULL::bigint, FALSE FROM e
             UNION ALL
             SELECT event_id, NULL, hook_id, lined FROM d
             UNION ALL
             SELECT NULL, NULL, NULL, FALSE FROM n"
        ),
        &[columns.params(&now.0), vec![&origin]].concat(),
    )
    .await?;
    let mut ids: HashMap<&str, i64> = HashMap::with_capacity(columns.guids.len());
    let mut counts: HashMap<i64, u64> = HashMap::new();
    let mut fifo_hooks: Vec<HookId> = Vec::new();
    for row in &rows {
        // The notification's row has no event.
        let Some(event_id) = row.try_get::<_, Option<i64>>(0)? else {
            continue;
        };
        match row.try_get::<_, Option<&str>>(1)? {
            Some(guid) => {
                ids.insert(guid, event_id);
            }
            None => {
                *counts.entry(event_id).or_default() += 1;
                if row.try_get(3)? {
                    fifo_hooks.push(row.try_get(2)?);
                }
            }
        }
    }
    line_up(db, &fifo_hooks, now, false).await?;
    Ok(columns
        .ids_in_order(&ids)?
        .iter()
        .map(|id| counts.get(id).copied().unwrap_or(0))
        .collect())
}

/// The names an event is published under, compared as GitHub compares them: the
/// repository's owner and name, and the organization.
type ScopeKey = (Option<(String, String)>, Option<String>);

/// Stores `events` and their fan-out with a handful of statements however many there are;
/// returns how many deliveries each got, in order.
pub(super) async fn publish_all(
    db: &impl GenericClient,
    events: &[&PackedEvent],
    now: Timestamp,
    publishing: &mut Publishing<'_>,
) -> Result<Vec<u64>, StoreError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    // Events of one batch nearly always share a repository: each is looked up once, and
    // not at all once a committed batch found it.
    let mut resolved = Vec::with_capacity(events.len());
    let mut latest: Vec<(LatestRow, LatestPair<'_>)> = Vec::new();
    for event in events {
        let key = (
            event
                .repository
                .as_ref()
                .map(|(owner, name)| (owner.key(), name.key())),
            event.organization.as_ref().map(Login::key),
        );
        let scope = match publishing.scope(&key) {
            Some(scope) => scope,
            None => {
                let scope = resolve(db, event).await?;
                publishing.resolved.insert(key, scope);
                scope
            }
        };
        for (row, pair) in latest_of(event, &scope) {
            match latest.iter_mut().find(|(seen, _)| *seen == row) {
                Some((_, merged)) => merged.overwrite(pair),
                None => latest.push((row, pair)),
            }
        }
        resolved.push((*event, scope));
    }
    // Each row's latest objects once for the batch (a later event's over an earlier's),
    // and not at all when this process has just written the same.
    for (row, pair) in latest {
        if !publishing.holds(row, pair) {
            write_latest(db, row, pair).await?;
            publishing.written.push((row, HeldLatest::of(pair)));
        }
    }
    insert_and_fan_out(db, &EventColumns::of(&resolved), now, publishing.origin).await
}

pub(super) async fn publish(
    db: &impl GenericClient,
    event: &PackedEvent,
    key: &IdempotencyKey,
    now: Timestamp,
    publishing: &mut Publishing<'_>,
) -> Result<PublishOutcome, StoreError> {
    let seen = opt(
        db,
        "SELECT body_hash, response FROM idempotency_keys
         WHERE token_id = $1 AND key = $2 AND created_at > $3",
        &[&key.token_id, &key.key, &(now.0 - IDEMPOTENCY_WINDOW_MS)],
    )
    .await?;
    if let Some(row) = seen {
        let hash: &[u8] = row.try_get(0)?;
        if hash != key.body_hash {
            return Ok(PublishOutcome::KeyReused);
        }
        let (guid, deliveries) = parse_idempotent_reply(row.try_get(1)?)?;
        return Ok(PublishOutcome::Replayed { guid, deliveries });
    }
    let deliveries = publish_all(db, &[event], now, publishing).await?[0];
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
    installation_id: Option<InstallationId>,
    redelivery: bool,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec(
        db,
        "INSERT INTO deliveries (event_id, hook_id, installation_id, retry, redelivery, state,
                                 due_at)
         SELECT $1, $2, $3, FALSE, $4, 'pending',
                CASE WHEN ordering = 'fifo' THEN NULL ELSE $5::bigint END
         FROM hooks WHERE id = $2",
        &[&event_id, &hook_id, &installation_id, &redelivery, &now.0],
    )
    .await?;
    line_up(db, &[hook_id], now, false).await
}

pub(super) async fn publish_to_hook(
    db: &impl GenericClient,
    event: &PackedEvent,
    hook_id: HookId,
    now: Timestamp,
) -> Result<(), StoreError> {
    let scope = resolve(db, event).await?;
    for (row, pair) in latest_of(event, &scope) {
        write_latest(db, row, pair).await?;
    }
    let one = [(event, scope)];
    let event_id = insert_events(db, &EventColumns::of(&one), now).await?[0];
    queue_once(db, event_id, hook_id, None, false, now).await
}

pub(super) async fn latest_objects(
    db: &impl GenericClient,
    scope: &HookScope,
) -> Result<ScopeObjects, StoreError> {
    let found = match scope {
        HookScope::Repository { owner, repo } => {
            let sql = REPOSITORY_OBJECTS.replace("{1}", "$1").replace("{2}", "$2");
            opt(db, &sql, &[&owner.key(), &repo.key()]).await?
        }
        HookScope::Organization { org } => {
            let sql = ORGANIZATION_OBJECTS.replace("{1}", "$1");
            opt(db, &sql, &[&org.key()]).await?
        }
        HookScope::App { .. } => None,
    };
    found
        .map(|row| read_scope_objects(&row))
        .transpose()
        .map(Option::unwrap_or_default)
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
        "SELECT e.id FROM events e JOIN hooks h ON h.repository_id = e.repository_id
         WHERE e.repository_id = $1 AND e.name = 'push'
           AND h.id = $2 AND h.events ?| ARRAY['push', '*']
         ORDER BY e.id DESC LIMIT 1",
        &[&scope_row.id, &hook_id],
    )
    .await?;
    match found {
        Some(row) => {
            queue_once(db, row.try_get(0)?, hook_id, None, true, now).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

pub(super) async fn prune(
    db: &impl GenericClient,
    before: Timestamp,
    after: Option<PruneCursor>,
    batch: u32,
) -> Result<Pruned, StoreError> {
    let placeholder = |n| format!("${n}::bigint");
    let from = after.map_or(0, |cursor| cursor.0);
    let row = one(db, &prune_batch(placeholder), &[&from, &i64::from(batch)]).await?;
    let found = PruneBatch {
        last: row.try_get(0)?,
        oldest: row.try_get(1)?,
        looked: row.try_get(2)?,
    };
    let mut deleted = 0;
    if let Some(last) = found.last_to_prune(before) {
        // The events' deliveries go with them (`deliveries.event_id` cascades); their
        // attempts are deleted here (migration 0015 dropped that key).
        deleted = exec(
            db,
            &format!(
                "WITH old AS ({}),
                 attempts_gone AS (
                     DELETE FROM attempts a USING deliveries d
                     WHERE d.event_id IN (SELECT id FROM old) AND a.delivery_id = d.id)
                 DELETE FROM events WHERE id IN (SELECT id FROM old)",
                prunable_events(placeholder)
            ),
            &[&before.0, &from, &last],
        )
        .await?;
    }
    let next = found.next(batch, before);
    if next.is_none() {
        // The pass's end: the request-header templates left unused go too.
        exec(db, &header_sets::prune_unused("$1::bigint"), &[&before.0]).await?;
    }
    Ok(Pruned { deleted, next })
}
