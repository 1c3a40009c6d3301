//! The PostgreSQL implementation of [`Store`], for several Hookpost processes sharing one
//! database.
//!
//! Every process serves the API and delivers. Work is shared through the `deliveries`
//! table: a claim takes due rows with `FOR UPDATE SKIP LOCKED`, so two nodes never lease
//! the same row, and leases them by moving `due_at` to the lease's end, so a dead node's
//! rows come due again by themselves. Publishes and attempt records are group-committed by
//! [`ingest`]; a commit that queued work sends `NOTIFY hookpost_work`, which [`listen`]
//! turns into a wake-up of every node's worker.
//!
//! Two pools: *durable* connections commit with `synchronous_commit=on` (what is
//! acknowledged is on disk); *relaxed* ones with it off, for the queue's own bookkeeping,
//! whose loss in a crash only makes a delivery happen again, and with generic plans.

mod apps;
mod events;
mod header_sets;
mod hooks;
mod ingest;
mod line;
mod listen;
mod log;
mod migrations;
mod queue;
mod recovery;
mod rows;
mod sessions;
mod statistics;
mod tokens;

use std::sync::Arc;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::sync::Notify;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};
use tokio_util::sync::CancellationToken;

use super::packing::PackedEvent;
use super::{
    AccountStore, AppKey, AppRecord, AttemptDetail, AttemptQuery, AttemptRecord, AttemptSummary,
    Claim, Hook, HookId, HookPage, HookStore, HookUpdate, IdempotencyKey, IngestStore,
    Installation, LogStore, NewApp, NewEvent, NewToken, Page, Postponed, PruneCursor, Pruned,
    PublishOutcome, QueueStats, QueueStore, Recovery, RecoveryStart, ScopeObjects, SessionRecord,
    Store, StoreError, TokenHash, TokenRecord,
};
use crate::domain::hook::{HookPatch, HookScope, HookSettings};
use crate::domain::ids::AppId;
use crate::domain::ids::{AttemptId, DeliveryId};
use crate::domain::names::Login;
use crate::domain::timestamp::Timestamp;
use ingest::Ingest;

/// Connections per pool: enough for both cores' requests plus those waiting on the server.
const POOL_SIZE: usize = 16;

/// Sent in a transaction that queued work: PostgreSQL delivers it on commit. Its payload
/// says which store sent it (`PostgresStore::origin`), or is [`EVERY_NODE`].
const NOTIFY_WORK: &str = "SELECT pg_notify('hookpost_work', $1)";
/// The payload that wakes every node, the sender's too: work handed back or taken over
/// by the worker, which the core does not poke its own worker for.
const EVERY_NODE: &str = "";
/// Run by each node's listening connection.
const LISTEN_WORK: &str = "LISTEN hookpost_work";

pub struct PostgresStore {
    durable: Pool,
    relaxed: Pool,
    ingest: Ingest,
    config: tokio_postgres::Config,
    /// This store's name in its notifications. The core wakes its own process's worker
    /// when it queues work, so this store's listener skips its own: otherwise each
    /// publish would cost a second, empty claim.
    origin: Arc<str>,
    /// Stops the LISTEN task.
    closed: CancellationToken,
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Runs `sql` (prepared once per connection) and returns its one row.
async fn one(db: &impl GenericClient, sql: &str, params: Params<'_>) -> Result<Row, StoreError> {
    let statement = db.prepare_cached(sql).await?;
    Ok(db.query_one(&statement, params).await?)
}

/// Runs `sql` and returns its row, if any.
async fn opt(
    db: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> Result<Option<Row>, StoreError> {
    let statement = db.prepare_cached(sql).await?;
    Ok(db.query_opt(&statement, params).await?)
}

/// Runs `sql` and returns every row.
async fn all(
    db: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> Result<Vec<Row>, StoreError> {
    let statement = db.prepare_cached(sql).await?;
    Ok(db.query(&statement, params).await?)
}

/// Runs `sql` and returns how many rows it changed.
async fn exec(db: &impl GenericClient, sql: &str, params: Params<'_>) -> Result<u64, StoreError> {
    let statement = db.prepare_cached(sql).await?;
    Ok(db.execute(&statement, params).await?)
}

/// Tells the workers of every node but `origin`'s (of every node, for [`EVERY_NODE`])
/// that work was queued; sent on commit.
async fn notify_work(db: &impl GenericClient, origin: &str) -> Result<(), StoreError> {
    exec(db, NOTIFY_WORK, &[&origin]).await?;
    Ok(())
}

/// What is acknowledged is on disk before the answer.
const DURABLE_SETTINGS: &str = "-c synchronous_commit=on";
/// The queue's own bookkeeping, which a crash may lose (the delivery is made again). Its
/// statements take their plans once per connection: the claim, planned afresh for each
/// call, spent a third of its time planning under load (0.26 ms a claim), and its
/// statements find rows through the same indexes whatever their parameters.
const RELAXED_SETTINGS: &str = "-c synchronous_commit=off -c plan_cache_mode=force_generic_plan";

fn pool(config: &tokio_postgres::Config, settings: &str) -> Result<Pool, StoreError> {
    let mut config = config.clone();
    config.options(format!("{settings} -c client_min_messages=warning"));
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(POOL_SIZE)
        // The connection used last is taken first: at a modest rate one backend, its
        // caches warm, serves most statements, where taking turns woke a cold one for each.
        .queue_mode(deadpool_postgres::QueueMode::Lifo)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|error| StoreError::Connection(error.to_string()))
}

impl PostgresStore {
    /// Connects to the database at `url` and migrates it (safely, should several nodes
    /// start at once).
    ///
    /// # Errors
    /// When the URL is malformed, the server cannot be reached, or the schema is newer
    /// than this build.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let config: tokio_postgres::Config = url.parse()?;
        let durable = pool(&config, DURABLE_SETTINGS)?;
        let relaxed = pool(&config, RELAXED_SETTINGS)?;
        let origin: Arc<str> = uuid::Uuid::new_v4().simple().to_string().into();
        let store = PostgresStore {
            ingest: Ingest::start(durable.clone(), relaxed.clone(), origin.clone()),
            durable,
            relaxed,
            config,
            origin,
            closed: CancellationToken::new(),
        };
        let mut client = store.client(&store.durable).await?;
        migrations::migrate(&mut client).await?;
        Ok(store)
    }

    async fn client(&self, pool: &Pool) -> Result<deadpool_postgres::Client, StoreError> {
        if self.closed.is_cancelled() {
            return Err(StoreError::Closed);
        }
        pool.get()
            .await
            .map_err(|error| StoreError::Connection(error.to_string()))
    }
}

/// Runs `$body` with `$db` bound to a transaction on a connection of `$pool`, and commits
/// it when the body succeeds.
macro_rules! in_transaction {
    ($store:expr, $pool:ident, |$db:ident| $body:expr) => {{
        let mut client = $store.client(&$store.$pool).await?;
        let $db = client.transaction().await?;
        let value = $body;
        $db.commit().await?;
        Ok(value)
    }};
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        let client = self.client(&self.durable).await?;
        one(&client, "SELECT 1", &[]).await?;
        Ok(())
    }

    async fn close(&self) {
        self.ingest.close().await;
        self.closed.cancel();
        self.durable.close();
        self.relaxed.close();
    }
}

#[async_trait::async_trait]
impl AccountStore for PostgresStore {
    async fn init_admin_token(&self, candidate: TokenHash) -> Result<TokenHash, StoreError> {
        in_transaction!(self, durable, |db| tokens::init_admin_token(
            &db, &candidate
        )
        .await?)
    }

    async fn create_token(
        &self,
        token: NewToken,
        now: Timestamp,
    ) -> Result<TokenRecord, StoreError> {
        in_transaction!(self, durable, |db| tokens::create_token(&db, &token, now)
            .await?)
    }

    async fn find_token(&self, hash: TokenHash) -> Result<Option<TokenRecord>, StoreError> {
        let client = self.client(&self.durable).await?;
        tokens::find_token(&client, &hash).await
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let client = self.client(&self.durable).await?;
        tokens::list_tokens(&client).await
    }

    async fn revoke_token(
        &self,
        id: i64,
        now: Timestamp,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let client = self.client(&self.durable).await?;
        tokens::revoke_token(&client, id, now).await
    }

    async fn token_used(&self, id: i64, at: Timestamp) -> Result<(), StoreError> {
        // Bookkeeping: losing the last instant in a crash costs nothing.
        let client = self.client(&self.relaxed).await?;
        tokens::token_used(&client, id, at).await
    }

    async fn create_app(&self, app: NewApp) -> Result<Option<(AppRecord, Hook)>, StoreError> {
        in_transaction!(self, durable, |db| apps::create_app(&db, &app).await?)
    }

    async fn find_app(&self, key: AppKey) -> Result<Option<AppRecord>, StoreError> {
        let client = self.client(&self.durable).await?;
        apps::find_app(&client, &key).await
    }

    async fn list_apps(&self) -> Result<Vec<AppRecord>, StoreError> {
        let client = self.client(&self.durable).await?;
        apps::list_apps(&client).await
    }

    async fn install_app(
        &self,
        app_id: AppId,
        account: Login,
    ) -> Result<Option<Installation>, StoreError> {
        in_transaction!(self, durable, |db| apps::install_app(&db, app_id, &account)
            .await?)
    }

    async fn create_session(
        &self,
        id_hash: TokenHash,
        session: SessionRecord,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        in_transaction!(self, durable, |db| sessions::create(
            &db, &id_hash, &session, now
        )
        .await?)
    }

    async fn find_session(
        &self,
        id_hash: TokenHash,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let client = self.client(&self.durable).await?;
        sessions::find(&client, &id_hash, now).await
    }

    async fn delete_session(&self, id_hash: TokenHash) -> Result<(), StoreError> {
        let client = self.client(&self.durable).await?;
        sessions::delete(&client, &id_hash).await
    }
}

#[async_trait::async_trait]
impl HookStore for PostgresStore {
    async fn create_hook(
        &self,
        scope: HookScope,
        settings: HookSettings,
    ) -> Result<Hook, StoreError> {
        in_transaction!(self, durable, |db| hooks::create(&db, &scope, &settings)
            .await?)
    }

    async fn list_hooks(&self, scope: &HookScope, page: Page) -> Result<HookPage, StoreError> {
        let mut client = self.client(&self.durable).await?;
        // Count and page from one snapshot.
        let db = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let page = hooks::list(&db, scope, page).await?;
        db.commit().await?;
        Ok(page)
    }

    async fn get_hook(&self, scope: &HookScope, id: HookId) -> Result<Option<Hook>, StoreError> {
        let client = self.client(&self.durable).await?;
        hooks::get(&client, scope, id).await
    }

    async fn update_hook(
        &self,
        scope: &HookScope,
        id: HookId,
        patch: HookPatch,
    ) -> Result<HookUpdate, StoreError> {
        in_transaction!(self, durable, |db| hooks::update(&db, scope, id, &patch)
            .await?)
    }

    async fn list_all_hooks(&self) -> Result<Vec<Hook>, StoreError> {
        let client = self.client(&self.durable).await?;
        hooks::list_all(&client).await
    }

    async fn erase_expired_secrets(&self, now: Timestamp) -> Result<u64, StoreError> {
        let client = self.client(&self.durable).await?;
        hooks::erase_expired_secrets(&client, now).await
    }

    async fn delete_hook(&self, scope: &HookScope, id: HookId) -> Result<bool, StoreError> {
        in_transaction!(self, durable, |db| hooks::delete(&db, scope, id).await?)
    }

    async fn latest_objects(&self, scope: &HookScope) -> Result<ScopeObjects, StoreError> {
        let client = self.client(&self.durable).await?;
        events::latest_objects(&client, scope).await
    }
}

#[async_trait::async_trait]
impl IngestStore for PostgresStore {
    async fn publish(
        &self,
        event: NewEvent,
        key: Option<IdempotencyKey>,
        now: Timestamp,
    ) -> Result<PublishOutcome, StoreError> {
        self.ingest.publish(event, key, now).await
    }

    async fn publish_to_hook(
        &self,
        event: NewEvent,
        hook_id: HookId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let event = PackedEvent::new(event);
        in_transaction!(self, durable, |db| {
            events::publish_to_hook(&db, &event, hook_id, now).await?;
            notify_work(&db, &self.origin).await?;
        })
    }

    async fn queue_test_push(
        &self,
        scope: &HookScope,
        hook_id: HookId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        in_transaction!(self, durable, |db| {
            let queued = events::queue_test_push(&db, scope, hook_id, now).await?;
            if queued {
                notify_work(&db, &self.origin).await?;
            }
            queued
        })
    }

    async fn redeliver(
        &self,
        scope: &HookScope,
        hook_id: HookId,
        attempt_id: AttemptId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        in_transaction!(self, durable, |db| {
            let queued = queue::redeliver(&db, scope, hook_id, attempt_id, now).await?;
            if queued {
                notify_work(&db, &self.origin).await?;
            }
            queued
        })
    }

    async fn start_recovery(
        &self,
        scope: &HookScope,
        hook_id: HookId,
        since: Timestamp,
        until: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<RecoveryStart, StoreError> {
        in_transaction!(self, durable, |db| {
            let started = recovery::start(&db, scope, hook_id, (since, until), now).await?;
            if matches!(&started, RecoveryStart::Started(recovery) if recovery.queued > 0) {
                notify_work(&db, &self.origin).await?;
            }
            started
        })
    }

    async fn get_recovery(
        &self,
        scope: &HookScope,
        hook_id: HookId,
        recovery_id: i64,
    ) -> Result<Option<Recovery>, StoreError> {
        let client = self.client(&self.durable).await?;
        recovery::find(&client, scope, hook_id, recovery_id).await
    }
}

#[async_trait::async_trait]
impl QueueStore for PostgresStore {
    async fn claim_due(
        &self,
        worker: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Claim, StoreError> {
        let client = self.client(&self.relaxed).await?;
        queue::claim_due(&client, worker, now, lease_until, limit).await
    }

    async fn record_attempt(&self, attempt: AttemptRecord) -> Result<(), StoreError> {
        self.ingest.record_attempt(attempt).await
    }

    /// Other processes may hold leases in a shared database: none is taken back here; a
    /// dead process's leases come back through the live nodes' heartbeats.
    async fn recover_leases(&self, _now: Timestamp) -> Result<u64, StoreError> {
        Ok(0)
    }

    async fn heartbeat(
        &self,
        worker: &str,
        now: Timestamp,
        silent_after: std::time::Duration,
    ) -> Result<u64, StoreError> {
        let silent_ms = i64::try_from(silent_after.as_millis()).unwrap_or(i64::MAX);
        // Bookkeeping: a heartbeat lost in a crash is the crash's own signal.
        let resumed: Result<u64, StoreError> = in_transaction!(self, relaxed, |db| {
            queue::heartbeat(&db, worker, now, silent_ms).await?
        });
        // At every heartbeat (a cheap look at pg_stat_user_tables); a failure here is the
        // statistics' own, not the heartbeat's.
        let refreshed = match self.client(&self.relaxed).await {
            Ok(client) => statistics::refresh(&client).await,
            Err(error) => Err(error),
        };
        match refreshed {
            Ok(0) => {}
            Ok(analyzed) => tracing::debug!(analyzed, "took the statistics of changed tables"),
            Err(error) => tracing::debug!(%error, "could not take the tables' statistics"),
        }
        resumed
    }

    async fn renew_leases(
        &self,
        worker: &str,
        delivery_ids: Vec<DeliveryId>,
        lease_until: Timestamp,
    ) -> Result<(), StoreError> {
        let client = self.client(&self.relaxed).await?;
        queue::renew(&client, worker, &delivery_ids, lease_until).await
    }

    fn watch_for_work(&self, wake: Arc<Notify>) {
        tokio::spawn(listen::run(
            self.config.clone(),
            wake,
            self.origin.clone(),
            self.closed.clone(),
        ));
    }

    async fn release(
        &self,
        worker: &str,
        deliveries: Vec<(DeliveryId, Timestamp)>,
    ) -> Result<(), StoreError> {
        in_transaction!(self, relaxed, |db| {
            queue::release(&db, worker, &deliveries).await?;
            // Others need to hear only of work due now; a deferral's time is found by
            // every claim's `next_due`.
            let now = Timestamp::now();
            if deliveries.iter().any(|(_, due_at)| *due_at <= now) {
                notify_work(&db, EVERY_NODE).await?;
            }
        })
    }

    async fn postpone_hooks(
        &self,
        hooks: Vec<Postponed>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let client = self.client(&self.relaxed).await?;
        queue::postpone_hooks(&client, &hooks, now).await
    }

    async fn disable_failing_hooks(
        &self,
        failing_since: Timestamp,
        min_failures: u32,
        reason: &str,
        now: Timestamp,
    ) -> Result<Vec<HookId>, StoreError> {
        // Not one transaction: a claim holds what a crash between the two leaves pending.
        let client = self.client(&self.relaxed).await?;
        queue::disable_failing_hooks(&client, failing_since, min_failures, reason, now).await
    }

    async fn queue_stats(&self, now: Timestamp) -> Result<QueueStats, StoreError> {
        let client = self.client(&self.relaxed).await?;
        queue::stats(&client, now).await
    }

    async fn prune(
        &self,
        before: Timestamp,
        after: Option<PruneCursor>,
        batch: u32,
    ) -> Result<Pruned, StoreError> {
        let client = self.client(&self.relaxed).await?;
        events::prune(&client, before, after, batch).await
    }
}

#[async_trait::async_trait]
impl LogStore for PostgresStore {
    async fn list_attempts(
        &self,
        scope: &HookScope,
        hook_id: HookId,
        query: AttemptQuery,
    ) -> Result<Option<Vec<AttemptSummary>>, StoreError> {
        let client = self.client(&self.durable).await?;
        log::list_attempts(&client, scope, hook_id, query).await
    }

    async fn get_attempt(
        &self,
        scope: &HookScope,
        hook_id: HookId,
        attempt_id: AttemptId,
    ) -> Result<Option<AttemptDetail>, StoreError> {
        let client = self.client(&self.durable).await?;
        log::get_attempt(&client, scope, hook_id, attempt_id).await
    }

    async fn count_attempts(
        &self,
        scope: &HookScope,
        hook_id: HookId,
        query: AttemptQuery,
        cap: u32,
    ) -> Result<Option<u64>, StoreError> {
        let client = self.client(&self.durable).await?;
        log::count_attempts(&client, scope, hook_id, &query, cap).await
    }
}
