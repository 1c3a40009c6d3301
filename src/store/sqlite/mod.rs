//! The embedded SQLite implementation of [`Store`].
//!
//! One file in the data directory, in WAL mode with `synchronous=FULL`: a write is
//! acknowledged only once it is on disk, so neither `kill -9` nor a power cut loses it.
//! Writes go through the group-commit [`writer`]; reads through a pool of [`readers`].

mod apps;
mod events;
mod hooks;
mod line;
mod log;
mod migrations;
mod queue;
mod readers;
mod recovery;
mod rows;
mod sessions;
mod tokens;
mod writer;

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use super::header_sets;
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
use readers::Readers;
use writer::Writer;

/// Read connections: enough for both cores plus requests waiting on disk.
const READERS: usize = 4;

/// The page size of a database this build creates (bytes).
const PAGE_SIZE: i64 = 16_384;

/// How long a connection waits for another process's lock (the CLI writing while `serve`
/// runs) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct SqliteStore {
    writer: Writer,
    readers: Readers,
}

/// Distinct statements a connection keeps prepared; more than the store has, so none is
/// ever parsed twice.
const STATEMENT_CACHE: usize = 128;

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(conn)
}

/// The database holds secrets: its directory is the owner's alone (0700), and the file is
/// 0600 before SQLite first opens it; SQLite gives its WAL and shared-memory files the
/// database's mode, and any left by an older build are narrowed too.
fn keep_private(path: &Path) -> std::io::Result<()> {
    use std::fs::Permissions;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
        std::fs::set_permissions(parent, Permissions::from_mode(0o700))?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        match std::fs::set_permissions(&file, Permissions::from_mode(0o600)) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
    }
    Ok(())
}

impl SqliteStore {
    /// Opens or creates the database at `path` and migrates it.
    ///
    /// # Errors
    /// When the file cannot be created or opened, or its schema is newer than this build.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || Self::open_blocking(&path))
            .await
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()))
    }

    fn open_blocking(path: &Path) -> Result<Self, StoreError> {
        keep_private(path)?;
        let mut conn = connect(path)?;
        // A new database gets 16 KiB pages: 4 KiB ones hold three ~1 KB events and leave a
        // quarter of each page empty. (A database that exists keeps its own page size.)
        conn.pragma_update(None, "page_size", PAGE_SIZE)?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt(format!(
                "journal mode is {mode}, not WAL"
            )));
        }
        // FULL syncs the WAL on every commit: acknowledged means on disk.
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Savepoint journals of the group commit stay in memory.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        migrations::migrate(&mut conn)?;
        let readers = (0..READERS)
            .map(|_| {
                let reader = connect(path)?;
                reader.pragma_update(None, "query_only", true)?;
                Ok(reader)
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(SqliteStore {
            writer: Writer::start(conn),
            readers: Readers::new(readers),
        })
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.readers
            .read(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    async fn close(&self) {
        self.readers.close();
        self.writer.close().await;
    }
}

#[async_trait::async_trait]
impl AccountStore for SqliteStore {
    async fn init_admin_token(&self, candidate: TokenHash) -> Result<TokenHash, StoreError> {
        self.writer
            .write(move |conn| tokens::init_admin_token(conn, &candidate))
            .await
    }

    async fn create_token(
        &self,
        token: NewToken,
        now: Timestamp,
    ) -> Result<TokenRecord, StoreError> {
        self.writer
            .write(move |conn| tokens::create_token(conn, &token, now))
            .await
    }

    async fn find_token(&self, hash: TokenHash) -> Result<Option<TokenRecord>, StoreError> {
        self.readers
            .read(move |conn| tokens::find_token(conn, &hash))
            .await
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.readers.read(tokens::list_tokens).await
    }

    async fn revoke_token(
        &self,
        id: i64,
        now: Timestamp,
    ) -> Result<Option<TokenRecord>, StoreError> {
        self.writer
            .write(move |conn| tokens::revoke_token(conn, id, now))
            .await
    }

    async fn token_used(&self, id: i64, at: Timestamp) -> Result<(), StoreError> {
        self.writer
            .write(move |conn| tokens::token_used(conn, id, at))
            .await
    }

    async fn create_app(&self, app: NewApp) -> Result<Option<(AppRecord, Hook)>, StoreError> {
        self.writer
            .write(move |conn| apps::create_app(conn, &app))
            .await
    }

    async fn find_app(&self, key: AppKey) -> Result<Option<AppRecord>, StoreError> {
        self.readers
            .read(move |conn| apps::find_app(conn, &key))
            .await
    }

    async fn list_apps(&self) -> Result<Vec<AppRecord>, StoreError> {
        self.readers.read(apps::list_apps).await
    }

    async fn install_app(
        &self,
        app_id: AppId,
        account: Login,
    ) -> Result<Option<Installation>, StoreError> {
        self.writer
            .write(move |conn| apps::install_app(conn, app_id, &account))
            .await
    }

    async fn create_session(
        &self,
        id_hash: TokenHash,
        session: SessionRecord,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.writer
            .write(move |conn| sessions::create(conn, &id_hash, &session, now))
            .await
    }

    async fn find_session(
        &self,
        id_hash: TokenHash,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.readers
            .read(move |conn| sessions::find(conn, &id_hash, now))
            .await
    }

    async fn delete_session(&self, id_hash: TokenHash) -> Result<(), StoreError> {
        self.writer
            .write(move |conn| sessions::delete(conn, &id_hash))
            .await
    }
}

#[async_trait::async_trait]
impl HookStore for SqliteStore {
    async fn create_hook(
        &self,
        scope: HookScope,
        settings: HookSettings,
    ) -> Result<Hook, StoreError> {
        self.writer
            .write(move |conn| hooks::create(conn, &scope, &settings))
            .await
    }

    async fn list_hooks(&self, scope: &HookScope, page: Page) -> Result<HookPage, StoreError> {
        let scope = scope.clone();
        self.readers
            .read(move |conn| hooks::list(conn, &scope, page))
            .await
    }

    async fn get_hook(&self, scope: &HookScope, id: HookId) -> Result<Option<Hook>, StoreError> {
        let scope = scope.clone();
        self.readers
            .read(move |conn| hooks::get(conn, &scope, id))
            .await
    }

    async fn update_hook(
        &self,
        scope: &HookScope,
        id: HookId,
        patch: HookPatch,
    ) -> Result<HookUpdate, StoreError> {
        let scope = scope.clone();
        self.writer
            .write(move |conn| hooks::update(conn, &scope, id, &patch))
            .await
    }

    async fn list_all_hooks(&self) -> Result<Vec<Hook>, StoreError> {
        self.readers.read(hooks::list_all).await
    }

    async fn erase_expired_secrets(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.writer
            .write(move |conn| hooks::erase_expired_secrets(conn, now))
            .await
    }

    async fn delete_hook(&self, scope: &HookScope, id: HookId) -> Result<bool, StoreError> {
        let scope = scope.clone();
        self.writer
            .write(move |conn| hooks::delete(conn, &scope, id))
            .await
    }

    async fn latest_objects(&self, scope: &HookScope) -> Result<ScopeObjects, StoreError> {
        let scope = scope.clone();
        self.readers
            .read(move |conn| events::latest_objects(conn, &scope))
            .await
    }
}

#[async_trait::async_trait]
impl IngestStore for SqliteStore {
    async fn publish(
        &self,
        event: NewEvent,
        key: Option<IdempotencyKey>,
        now: Timestamp,
    ) -> Result<PublishOutcome, StoreError> {
        let event = PackedEvent::new(event);
        self.writer
            .write(move |conn| events::publish(conn, &event, key.as_ref(), now))
            .await
    }

    async fn publish_to_hook(
        &self,
        event: NewEvent,
        hook_id: HookId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let event = PackedEvent::new(event);
        self.writer
            .write(move |conn| events::publish_to_hook(conn, &event, hook_id, now))
            .await
    }

    async fn queue_test_push(
        &self,
        scope: &HookScope,
        hook_id: HookId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let scope = scope.clone();
        self.writer
            .write(move |conn| events::queue_test_push(conn, &scope, hook_id, now))
            .await
    }

    async fn redeliver(
        &self,
        scope: &HookScope,
        hook_id: HookId,
        attempt_id: AttemptId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let scope = scope.clone();
        self.writer
            .write(move |conn| queue::redeliver(conn, &scope, hook_id, attempt_id, now))
            .await
    }

    async fn start_recovery(
        &self,
        scope: &HookScope,
        hook_id: HookId,
        since: Timestamp,
        until: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<RecoveryStart, StoreError> {
        let scope = scope.clone();
        self.writer
            .write(move |conn| recovery::start(conn, &scope, hook_id, (since, until), now))
            .await
    }

    async fn get_recovery(
        &self,
        scope: &HookScope,
        hook_id: HookId,
        recovery_id: i64,
    ) -> Result<Option<Recovery>, StoreError> {
        let scope = scope.clone();
        self.readers
            .read(move |conn| recovery::find(conn, &scope, hook_id, recovery_id))
            .await
    }
}

#[async_trait::async_trait]
impl QueueStore for SqliteStore {
    async fn claim_due(
        &self,
        worker: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Claim, StoreError> {
        let worker = worker.to_owned();
        self.writer
            .write_relaxed(move |conn| queue::claim_due(conn, &worker, now, lease_until, limit))
            .await
    }

    async fn record_attempt(&self, attempt: AttemptRecord) -> Result<(), StoreError> {
        // Split here, not on the writer's thread, which every write waits for.
        let request_headers = header_sets::split(&attempt.request_headers, &attempt.event_guid);
        self.writer
            .write_relaxed(move |conn| queue::record_attempt(conn, &attempt, &request_headers))
            .await
    }

    /// This process alone serves the file, so every lease in it is a dead process's.
    /// One process serves the database: nobody else's leases to take back.
    async fn heartbeat(
        &self,
        _worker: &str,
        _now: Timestamp,
        _silent_after: std::time::Duration,
    ) -> Result<u64, StoreError> {
        Ok(0)
    }

    async fn recover_leases(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.writer
            .write_relaxed(move |conn| queue::recover_leases(conn, now))
            .await
    }

    async fn renew_leases(
        &self,
        worker: &str,
        delivery_ids: Vec<DeliveryId>,
        lease_until: Timestamp,
    ) -> Result<(), StoreError> {
        let worker = worker.to_owned();
        self.writer
            .write_relaxed(move |conn| queue::renew(conn, &worker, &delivery_ids, lease_until))
            .await
    }

    async fn release(
        &self,
        worker: &str,
        deliveries: Vec<(DeliveryId, Timestamp)>,
    ) -> Result<(), StoreError> {
        let worker = worker.to_owned();
        self.writer
            .write_relaxed(move |conn| queue::release(conn, &worker, &deliveries))
            .await
    }

    async fn postpone_hooks(
        &self,
        hooks: Vec<Postponed>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.writer
            .write_relaxed(move |conn| queue::postpone_hooks(conn, &hooks, now))
            .await
    }

    async fn disable_failing_hooks(
        &self,
        failing_since: Timestamp,
        min_failures: u32,
        reason: &str,
        now: Timestamp,
    ) -> Result<Vec<HookId>, StoreError> {
        let reason = reason.to_owned();
        self.writer
            .write_relaxed(move |conn| {
                queue::disable_failing_hooks(conn, failing_since, min_failures, &reason, now)
            })
            .await
    }

    async fn queue_stats(&self, now: Timestamp) -> Result<QueueStats, StoreError> {
        self.readers.read(move |conn| queue::stats(conn, now)).await
    }

    async fn prune(
        &self,
        before: Timestamp,
        after: Option<PruneCursor>,
        batch: u32,
    ) -> Result<Pruned, StoreError> {
        self.writer
            .write_relaxed(move |conn| events::prune(conn, before, after, batch))
            .await
    }
}

#[async_trait::async_trait]
impl LogStore for SqliteStore {
    async fn list_attempts(
        &self,
        scope: &HookScope,
        hook_id: HookId,
        query: AttemptQuery,
    ) -> Result<Option<Vec<AttemptSummary>>, StoreError> {
        let scope = scope.clone();
        self.readers
            .read(move |conn| log::list_attempts(conn, &scope, hook_id, query))
            .await
    }

    async fn get_attempt(
        &self,
        scope: &HookScope,
        hook_id: HookId,
        attempt_id: AttemptId,
    ) -> Result<Option<AttemptDetail>, StoreError> {
        let scope = scope.clone();
        self.readers
            .read(move |conn| log::get_attempt(conn, &scope, hook_id, attempt_id))
            .await
    }

    async fn count_attempts(
        &self,
        scope: &HookScope,
        hook_id: HookId,
        query: AttemptQuery,
        cap: u32,
    ) -> Result<Option<u64>, StoreError> {
        let scope = scope.clone();
        self.readers
            .read(move |conn| log::count_attempts(conn, &scope, hook_id, &query, cap))
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[tokio::test]
    async fn a_new_database_gets_large_pages_and_an_existing_one_keeps_its_own() {
        let temporary = tempfile::tempdir().unwrap();
        let page_size = |path: &Path| -> i64 {
            rusqlite::Connection::open(path)
                .unwrap()
                .query_row("PRAGMA page_size", [], |row| row.get(0))
                .unwrap()
        };
        let new = temporary.path().join("new.db");
        SqliteStore::open(&new).await.unwrap().close().await;
        assert_eq!(page_size(&new), PAGE_SIZE);
        let existing = temporary.path().join("existing.db");
        rusqlite::Connection::open(&existing)
            .unwrap()
            .execute_batch("PRAGMA page_size = 4096; CREATE TABLE before_us (x)")
            .unwrap();
        SqliteStore::open(&existing).await.unwrap().close().await;
        assert_eq!(page_size(&existing), 4096);
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn the_data_directory_and_its_files_are_the_owners_alone() {
        let temporary = tempfile::tempdir().unwrap();
        let data = temporary.path().join("data");
        let store = SqliteStore::open(&data.join("hookpost.db")).await.unwrap();
        store.ping().await.unwrap();
        assert_eq!(mode(&data), 0o700);
        let files: Vec<_> = std::fs::read_dir(&data)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        assert!(
            files.len() >= 3,
            "the database, its WAL and its index: {files:?}"
        );
        for file in files {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        // A directory and files an older build left readable are narrowed at the next open.
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        let wal = data.join("hookpost.db-wal");
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o644)).unwrap();
        let again = SqliteStore::open(&data.join("hookpost.db")).await.unwrap();
        assert_eq!((mode(&data), mode(&wal)), (0o700, 0o600));
        again.close().await;
        store.close().await;
    }

    /// A ~1 KB JSON payload is stored packed (its `payload` left empty), a tiny one as
    /// published; `store::packing` and the conformance suite check they read back exactly.
    #[tokio::test]
    async fn small_json_payloads_are_stored_packed() {
        let temporary = tempfile::tempdir().unwrap();
        let path = temporary.path().join("hookpost.db");
        let store = SqliteStore::open(&path).await.unwrap();
        let json = format!(
            r#"{{"commits":[{}]}}"#,
            (0..12)
                .map(|n| format!(
                    r#"{{"url":"https://forge.example/acme/widgets/commit/{n:040x}"}}"#
                ))
                .collect::<Vec<_>>()
                .join(",")
        );
        for (guid, payload) in [("packed", json.as_bytes()), ("raw", b"{\"n\":1}")] {
            let event = NewEvent {
                guid: guid.to_owned(),
                name: "push".to_owned(),
                action: None,
                repository: Some((
                    Login::parse("acme").unwrap(),
                    crate::domain::names::RepoName::parse("widgets").unwrap(),
                )),
                organization: None,
                target_repository_id: None,
                target_organization_id: None,
                payload: payload.to_vec(),
                latest: crate::store::LatestObjects::default(),
            };
            store.publish(event, None, Timestamp(1)).await.unwrap();
        }
        store.close().await;
        let conn = Connection::open(&path).unwrap();
        let stored = |guid: &str| -> (i64, Option<i64>) {
            conn.query_row(
                "SELECT length(payload), length(payload_packed) FROM events WHERE guid = ?1",
                [guid],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap()
        };
        let (raw, packed) = stored("packed");
        assert_eq!(raw, 0);
        assert!(
            packed.unwrap() * 2 < json.len() as i64,
            "{packed:?} of {}",
            json.len()
        );
        assert_eq!(stored("raw"), (7, None));
    }
}
