//! Durable state behind narrow traits, one per concern ([`AccountStore`], [`HookStore`],
//! [`IngestStore`], [`QueueStore`], [`LogStore`]), which [`Store`] gathers, whatever the
//! database.
//!
//! The core and the delivery workers see `Arc<dyn Store>` (or the one trait they need): the
//! embedded SQLite implementation lives in [`sqlite`], the shared PostgreSQL one in
//! [`postgres`]; `tests/store` is the suite every implementation must pass. Every method is
//! one transaction: a caller never sees a half-applied change, and a method that
//! returns `Ok` has had its change committed and synced to disk.

mod columns;
mod header_sets;
mod ids;
mod packing;
pub mod postgres;
pub mod sqlite;
mod throttle;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use crate::domain::hook::{HookConfig, HookPatch, HookScope, HookSettings, LastResponse};
use crate::domain::names::{Login, RepoName};
use crate::domain::timestamp::Timestamp;

pub use crate::domain::ids::{AppId, AttemptId, DeliveryId, HookId, InstallationId};

/// SHA-256 digest of a token: the only form in which tokens are stored.
pub type TokenHash = [u8; 32];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The transaction that carried this write (with others) failed to commit.
    #[error("commit failed: {0}")]
    Commit(Arc<rusqlite::Error>),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// No connection could be had from the pool (the server is down or unreachable).
    #[error("PostgreSQL connection: {0}")]
    Connection(String),
    #[error("the store has been closed")]
    Closed,
    /// The database's directory could not be created.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("stored data is not what this version expects: {0}")]
    Corrupt(String),
    /// An attempt's delivery no longer exists (its hook was deleted meanwhile).
    #[error("an attempt of a delivery that no longer exists")]
    Gone,
}

impl StoreError {
    /// Whether the database could not be reached (down, restarting, unreachable, or locked
    /// past the busy timeout): a reason to retry later, not a fault of the request.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Connection(_) | StoreError::Closed => true,
            StoreError::Postgres(error) => {
                error.is_closed()
                    || error.code().is_some_and(|code| {
                        // Connection exceptions (08) and operator intervention (57P: shutdown,
                        // crash, cannot connect now).
                        let code = code.code();
                        code.starts_with("08") || code.starts_with("57P")
                    })
                    || std::error::Error::source(error)
                        .is_some_and(|source| source.is::<std::io::Error>())
            }
            StoreError::Sqlite(error) => sqlite_busy(error),
            StoreError::Commit(error) => sqlite_busy(error),
            StoreError::Io(_) | StoreError::Corrupt(_) | StoreError::Gone => false,
        }
    }

    /// Whether PostgreSQL aborted the transaction to break a deadlock (40P01) or for a
    /// serialization failure (40001): the same work run again normally succeeds.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Postgres(error) if error.code().is_some_and(|code| {
            matches!(code.code(), "40P01" | "40001")
        }))
    }
}

fn sqlite_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// A webhook as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub id: HookId,
    /// With names spelled as when the repository or organization was first seen.
    pub scope: HookScope,
    pub settings: HookSettings,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_response: LastResponse,
    /// Set while the hook is disabled by `--disable-after` (not by its owner): its events
    /// are held until it is re-activated.
    pub disabled: Option<Disabled>,
}

/// Why and since when a hook was disabled by `--disable-after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disabled {
    pub at: Timestamp,
    pub reason: String,
}

/// What an owner token may do for its owners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenScope {
    /// Manage their hooks and publish their events.
    #[default]
    Manage,
    /// Publish their events only (for a platform's publisher, which needs no more).
    Publish,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Manage => "manage",
            TokenScope::Publish => "publish",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "manage" => Some(TokenScope::Manage),
            "publish" => Some(TokenScope::Publish),
            _ => None,
        }
    }
}

/// What an update made of a hook.
#[derive(Debug)]
pub enum HookUpdate {
    Updated(Box<Hook>),
    /// No such hook in that scope.
    Missing,
    /// The patched settings would break this rule (e.g. a Standard Webhooks hook with a
    /// plain secret); the hook is as it was.
    Refused(&'static str),
}

/// An owner token's record (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: i64,
    /// Accounts whose repositories' and organizations' hooks this token manages.
    pub owners: Vec<Login>,
    pub scope: TokenScope,
    pub created_at: Timestamp,
    /// From this instant on the token is refused.
    pub expires_at: Option<Timestamp>,
    /// Revoked tokens are kept (their ids are never handed out again) and refused.
    pub revoked_at: Option<Timestamp>,
    /// Recorded at most once a minute per token, so it is up to a minute behind.
    pub last_used_at: Option<Timestamp>,
}

impl TokenRecord {
    /// Whether the token is accepted at `now`: neither revoked nor expired.
    pub fn is_valid_at(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expiry| now < expiry)
    }
}

/// A token to store: its digest and what it may do.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub hash: TokenHash,
    pub owners: Vec<Login>,
    pub scope: TokenScope,
    pub expires_at: Option<Timestamp>,
}

/// A 1-based page of a list ordered by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub number: u32,
    pub per_page: u32,
}

impl Page {
    fn offset(self) -> i64 {
        i64::from(self.number.saturating_sub(1)) * i64::from(self.per_page)
    }
}

/// One page of hooks and how many there are in all (for GitHub's `rel="last"` link).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookPage {
    pub hooks: Vec<Hook>,
    pub total: u64,
}

/// Objects remembered per repository and organization from what was published, for the
/// payloads Hookpost writes itself (`ping`). Each is a JSON document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatestObjects {
    pub repository: Option<String>,
    pub organization: Option<String>,
    pub sender: Option<String>,
}

/// What a scope's `ping` (and a dispatch) is built from: the objects last published for it,
/// and Hookpost's own ids for its repository and account (stable numbers for the minimal
/// objects a ping carries before anything was published).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeObjects {
    pub latest: LatestObjects,
    pub repository_id: Option<i64>,
    pub account_id: Option<i64>,
}

/// An event to store and fan out.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// `X-GitHub-Delivery`: one UUID per event.
    pub guid: String,
    pub name: String,
    pub action: Option<String>,
    pub repository: Option<(Login, RepoName)>,
    /// The organization whose hooks (and app installations) receive the event.
    pub organization: Option<Login>,
    /// `payload.repository.id` / `payload.organization.id` when the publisher gave them.
    pub target_repository_id: Option<i64>,
    pub target_organization_id: Option<i64>,
    /// The payload's JSON text, stored once.
    pub payload: Vec<u8>,
    pub latest: LatestObjects,
}

/// An `Idempotency-Key` presented with a publish, scoped to the token that sent it.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    /// 0 for the admin token.
    pub token_id: i64,
    pub key: String,
    /// SHA-256 of the request body: the same key with another body is refused.
    pub body_hash: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    Published {
        guid: String,
        deliveries: u64,
    },
    /// The key was used before with the same body: the first response, again.
    Replayed {
        guid: String,
        deliveries: u64,
    },
    /// The key was used before with another body.
    KeyReused,
}

/// A stored event as workers and the delivery log need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub id: i64,
    pub guid: String,
    pub name: String,
    pub action: Option<String>,
    pub payload: Arc<[u8]>,
    pub target_repository_id: Option<i64>,
    pub target_organization_id: Option<i64>,
}

/// Whose hook a delivery is for: the worker shares attempt slots fairly between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tenant {
    /// The account that owns the hook's repository, or the organization itself.
    Account(i64),
    /// An app's own hook.
    App(AppId),
}

impl Tenant {
    /// From a hook's app and the account its repository or organization belongs to.
    pub fn of(app_id: Option<AppId>, account_id: Option<i64>) -> Self {
        match (app_id, account_id) {
            (Some(app_id), _) => Tenant::App(app_id),
            (None, account_id) => Tenant::Account(account_id.unwrap_or(0)),
        }
    }
}

/// A hook whose due deliveries wait until its destination has room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Postponed {
    pub hook_id: HookId,
    pub from: Timestamp,
    pub until: Timestamp,
}

impl Postponed {
    /// The spread of the new due times, in milliseconds (at least 1).
    pub fn span_ms(&self) -> i64 {
        (self.until.0 - self.from.0).max(1)
    }
}

/// The hook a delivery goes to, with its *current* configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryTarget {
    pub hook_id: HookId,
    pub tenant: Tenant,
    /// `Some(app_id)` for an app's hook.
    pub app_id: Option<AppId>,
    /// An organization hook (else a repository hook, unless `app_id`).
    pub organization: bool,
    pub config: HookConfig,
}

/// A delivery a worker has leased.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: DeliveryId,
    /// Shared by every delivery of the same event in one claim.
    pub event: Arc<EventRecord>,
    /// Shared by every delivery to the same hook in one claim.
    pub target: Arc<DeliveryTarget>,
    pub installation_id: Option<InstallationId>,
    /// Attempts made before this one.
    pub attempts: u32,
    /// Follows the retry schedule (automatic delivery) or is tried once (redelivery, test).
    pub retry: bool,
    pub redelivery: bool,
    /// When this delivery was first put off to a slot of its hook's rate limit; it has
    /// that slot, and starts without taking another.
    pub throttled_at: Option<Timestamp>,
    /// Has a place in its FIFO hook's line.
    pub in_line: bool,
}

/// What a claim found: the leased deliveries and when the next one not yet due is due.
#[derive(Debug, Clone, Default)]
pub struct Claim {
    pub deliveries: Vec<ClaimedDelivery>,
    pub next_due: Option<Timestamp>,
    /// Deliveries claimed and put off to their hook's rate-limit slot at once (not in
    /// `deliveries`): with them, a full claim says more is due.
    pub throttled: usize,
}

/// One finished attempt and what follows from it.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub delivery_id: DeliveryId,
    pub hook_id: HookId,
    pub event_id: i64,
    /// The event's guid: headers that repeat it are not stored again.
    pub event_guid: String,
    pub installation_id: Option<InstallationId>,
    pub redelivery: bool,
    /// The delivery is the event's scheduled one, with automatic retries; the success of a
    /// once-only one (a redelivery, a recovery's) makes the retries still waiting moot.
    pub retry: bool,
    pub delivered_at: Timestamp,
    pub duration_ms: i64,
    /// GitHub's status text: `OK`, `Invalid HTTP Response: 503`, `timed out`, …
    pub status: String,
    /// 0 when there was no HTTP response.
    pub status_code: u16,
    pub url: String,
    pub request_headers: Vec<(String, String)>,
    pub response_headers: Vec<(String, String)>,
    pub response_body: Vec<u8>,
    pub throttled_at: Option<Timestamp>,
    /// The delivery has a place in its FIFO hook's line: once it ends, the next is due.
    pub in_line: bool,
    pub succeeded: bool,
    /// When to try again; `None` when this delivery gets no more automatic attempts.
    pub next_attempt: Option<Timestamp>,
}

/// GitHub's `status` filter of the delivery log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    /// `status_code` 200–399.
    Success,
    /// `status_code` 400–599, or 0 (no response).
    Failure,
    /// Hookpost's: deliveries held while `--disable-after` has the hook disabled, not yet
    /// attempted.
    Held,
}

/// What made an attempt: Hookpost's `trigger`, which tells apart what GitHub's
/// `redelivery` flag lumps together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The first attempt of a published event (or of a ping).
    Publish,
    /// An automatic retry on the retry schedule.
    Retry,
    /// A manual redelivery (or a test push, which redelivers the latest push).
    Redelivery,
    /// A redelivery queued by a bulk recovery.
    Recovery,
}

impl Trigger {
    pub const ALL: [Trigger; 4] = [
        Trigger::Publish,
        Trigger::Retry,
        Trigger::Redelivery,
        Trigger::Recovery,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Publish => "publish",
            Trigger::Retry => "retry",
            Trigger::Redelivery => "redelivery",
            Trigger::Recovery => "recovery",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Trigger::ALL
            .into_iter()
            .find(|trigger| trigger.as_str() == text)
    }

    /// Read from an attempt's `redelivery` flag (GitHub's: any attempt but the first of
    /// an automatic delivery), its delivery's (a manual redelivery) and whether a recovery
    /// queued that delivery.
    pub fn of(attempt_redelivery: bool, delivery_redelivery: bool, recovery: bool) -> Self {
        match (attempt_redelivery, delivery_redelivery, recovery) {
            (_, _, true) => Trigger::Recovery,
            (_, true, false) => Trigger::Redelivery,
            (true, false, false) => Trigger::Retry,
            (false, false, false) => Trigger::Publish,
        }
    }
}

/// Which attempts of a hook to list: newest first, below a cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttemptQuery {
    /// Only attempts with a smaller id (the cursor).
    pub before: Option<AttemptId>,
    /// Only attempts with a larger id (paging back towards the newest).
    pub after: Option<AttemptId>,
    /// Oldest first instead of newest first: with `after`, the page just newer than a
    /// cursor; alone, the log's oldest page.
    pub oldest_first: bool,
    pub limit: u32,
    pub status: Option<StatusClass>,
    pub redelivery: Option<bool>,
    pub trigger: Option<Trigger>,
    /// Only attempts of events with this name (`push`, not `push.opened`).
    pub event: Option<String>,
    /// Only attempts of the event with this `X-GitHub-Delivery`.
    pub guid: Option<String>,
    /// Only attempts made at or after this instant.
    pub since: Option<Timestamp>,
    /// Only attempts made at or before this instant.
    pub until: Option<Timestamp>,
}

/// A delivery-log item (GitHub's `hook-delivery-item`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptSummary {
    pub id: AttemptId,
    pub guid: String,
    pub delivered_at: Timestamp,
    pub redelivery: bool,
    pub duration_ms: i64,
    pub status: String,
    pub status_code: u16,
    pub event: String,
    pub action: Option<String>,
    pub installation_id: Option<InstallationId>,
    pub repository_id: Option<i64>,
    pub throttled_at: Option<Timestamp>,
    /// 1 for a delivery's first attempt, 2 for its first retry, …; a manual redelivery
    /// is a delivery of its own and counts from 1.
    pub attempt_number: u32,
    pub trigger: Trigger,
    /// When the automatic retry that follows this attempt is due; `None` once nothing more
    /// is scheduled (or the retry is under way).
    pub next_attempt_at: Option<Timestamp>,
}

/// One attempt in full (GitHub's `hook-delivery`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptDetail {
    pub summary: AttemptSummary,
    pub url: String,
    pub request_headers: Vec<(String, String)>,
    /// The event's stored payload (the request body is rebuilt from it).
    pub event_payload: Arc<[u8]>,
    pub response_headers: Vec<(String, String)>,
    pub response_body: Vec<u8>,
}

/// A bulk recovery of a hook: one more attempt (a redelivery) of each of its events
/// published in a window whose latest attempt failed and that had nothing pending, and its
/// progress, counted from the deliveries it queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    pub id: i64,
    pub since: Timestamp,
    pub until: Option<Timestamp>,
    pub created_at: Timestamp,
    /// Deliveries queued.
    pub queued: u64,
    /// Of those, attempted.
    pub done: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Queued or held and not yet attempted (what retention pruned with its event is
    /// neither).
    pub pending: u64,
}

impl Recovery {
    pub fn is_running(&self) -> bool {
        self.pending > 0
    }
}

/// What asking for a recovery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecoveryStart {
    /// No such hook in the scope.
    Missing,
    /// The hook's recovery with this id is still running: one at a time.
    Running(i64),
    Started(Recovery),
}

/// A GitHub App as stored: only the public half of its key is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRecord {
    pub id: AppId,
    pub slug: String,
    pub name: String,
    pub client_id: String,
    pub public_key_pem: String,
    pub events: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub installations_count: u64,
    /// The app's one webhook.
    pub hook_id: HookId,
}

/// An app to register, with its webhook.
#[derive(Debug, Clone)]
pub struct NewApp {
    pub name: String,
    pub slug: String,
    pub client_id: String,
    pub public_key_pem: String,
    pub events: Vec<String>,
    pub hook: HookSettings,
}

/// How a JWT names its app: GitHub takes the app id or the client id as `iss`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppKey {
    Id(AppId),
    ClientId(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installation {
    pub id: InstallationId,
    pub app_id: AppId,
    pub account: Login,
}

/// A signed-in browser's session as stored: digests only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Digest of the token the session was opened with; checked again on every request.
    pub token_hash: TokenHash,
    /// Echoed by every form of the session.
    pub csrf: String,
    pub expires_at: Timestamp,
}

/// The queue at one moment, for metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueStats {
    /// Pending deliveries due now (leased ones are not due until their lease ends).
    pub due: u64,
    /// Pending deliveries due later, leased ones included.
    pub scheduled: u64,
    /// How long the oldest due delivery has waited, in seconds (0 when none is due).
    pub oldest_due_age_seconds: f64,
    /// Deliveries held for hooks `--disable-after` disabled.
    pub held: u64,
    /// Deliveries waiting behind the head of a FIFO hook's line (no due time yet).
    pub in_line: u64,
    /// Request-header templates stored (`header_sets`): a few per hook and event type;
    /// retention deletes those no stored attempt uses.
    pub header_sets: u64,
    /// The [`BUSIEST_HOOKS`] hooks with the most due deliveries, most first.
    pub busiest_hooks: Vec<HookBacklog>,
}

/// How many hooks [`QueueStats::busiest_hooks`] names: per-hook metrics stay bounded
/// however many hooks there are.
pub const BUSIEST_HOOKS: u32 = 10;

/// One hook's due deliveries.
#[derive(Debug, Clone, PartialEq)]
pub struct HookBacklog {
    pub hook_id: HookId,
    pub due: u64,
    /// How long its oldest due delivery has waited, in seconds.
    pub oldest_due_age_seconds: f64,
}

/// Everything Hookpost keeps. Implementations batch concurrent writes into shared
/// transactions, so callers need not (and must not) batch themselves.
#[async_trait::async_trait]
pub trait Store: AccountStore + HookStore + IngestStore + QueueStore + LogStore {
    /// Succeeds when the database answers a query.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Finishes pending writes and stops background threads; later calls fail with
    /// [`StoreError::Closed`].
    async fn close(&self);
}

/// Owner tokens, the admin token's digest, GitHub Apps and their installations, and
/// the web UI's sessions.
#[async_trait::async_trait]
pub trait AccountStore: Send + Sync {
    /// Stores `candidate` as the admin token's digest unless one is stored already, and
    /// returns the digest in force (so concurrent first starts agree on one token).
    async fn init_admin_token(&self, candidate: TokenHash) -> Result<TokenHash, StoreError>;

    async fn create_token(
        &self,
        token: NewToken,
        now: Timestamp,
    ) -> Result<TokenRecord, StoreError>;

    /// The token with digest `hash`, revoked and expired ones included.
    async fn find_token(&self, hash: TokenHash) -> Result<Option<TokenRecord>, StoreError>;

    /// Every owner token's record (never a token), oldest first, revoked ones included.
    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// Marks token `id` revoked at `now` (a token revoked before keeps its first instant);
    /// `None` when there is no such token.
    async fn revoke_token(
        &self,
        id: i64,
        now: Timestamp,
    ) -> Result<Option<TokenRecord>, StoreError>;

    /// Records that token `id` was used at `at`.
    async fn token_used(&self, id: i64, at: Timestamp) -> Result<(), StoreError>;

    /// Registers an app and creates its webhook; `None` when the slug is taken.
    async fn create_app(&self, app: NewApp) -> Result<Option<(AppRecord, Hook)>, StoreError>;

    async fn find_app(&self, key: AppKey) -> Result<Option<AppRecord>, StoreError>;

    /// Every registered app, oldest first.
    async fn list_apps(&self) -> Result<Vec<AppRecord>, StoreError>;

    /// Installs the app on `account` (once: installing again returns the installation);
    /// `None` when there is no such app.
    async fn install_app(
        &self,
        app_id: AppId,
        account: Login,
    ) -> Result<Option<Installation>, StoreError>;

    /// Stores a web UI session under the digest of its id, and forgets expired ones.
    async fn create_session(
        &self,
        id_hash: TokenHash,
        session: SessionRecord,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// The session unless it is unknown or expired at `now`.
    async fn find_session(
        &self,
        id_hash: TokenHash,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError>;

    async fn delete_session(&self, id_hash: TokenHash) -> Result<(), StoreError>;
}

/// Repository, organization and app hooks, and what was last published for their scopes.
#[async_trait::async_trait]
pub trait HookStore: Send + Sync {
    /// Forgets the previous secrets of rotations whose overlap ended before `now` (they
    /// sign nothing any more); returns how many.
    async fn erase_expired_secrets(&self, now: Timestamp) -> Result<u64, StoreError>;

    /// Creates the repository or organization on first mention.
    async fn create_hook(
        &self,
        scope: HookScope,
        settings: HookSettings,
    ) -> Result<Hook, StoreError>;

    async fn list_hooks(&self, scope: &HookScope, page: Page) -> Result<HookPage, StoreError>;

    /// `None` when no hook `id` exists in `scope`.
    async fn get_hook(&self, scope: &HookScope, id: HookId) -> Result<Option<Hook>, StoreError>;

    /// Applies `patch` to the stored settings atomically, unless what it makes of them
    /// breaks a rule that depends on them (nothing is written then).
    async fn update_hook(
        &self,
        scope: &HookScope,
        id: HookId,
        patch: HookPatch,
    ) -> Result<HookUpdate, StoreError>;

    /// Every repository and organization hook, ordered by account, repository and id: the
    /// web UI's overview (which keeps those of the caller's owners).
    async fn list_all_hooks(&self) -> Result<Vec<Hook>, StoreError>;

    /// `false` when no such hook. Its deliveries and attempts go with it.
    async fn delete_hook(&self, scope: &HookScope, id: HookId) -> Result<bool, StoreError>;

    /// What was last published for the scope's repository and organization.
    async fn latest_objects(&self, scope: &HookScope) -> Result<ScopeObjects, StoreError>;
}

/// Work coming in: published events with their fan-out, and the deliveries Hookpost
/// queues itself (pings, test pushes, redeliveries).
#[async_trait::async_trait]
pub trait IngestStore: Send + Sync {
    /// Stores the event once and one delivery for every active hook subscribed to it
    /// (repository hooks, organization hooks, hooks of apps installed on the account), all
    /// in one transaction, together with the idempotency key if any.
    async fn publish(
        &self,
        event: NewEvent,
        key: Option<IdempotencyKey>,
        now: Timestamp,
    ) -> Result<PublishOutcome, StoreError>;

    /// Stores an event Hookpost made itself (a `ping`) and queues it for one hook, tried once.
    async fn publish_to_hook(
        &self,
        event: NewEvent,
        hook_id: HookId,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Queues the repository's latest `push` event again for the hook, tried once.
    /// `false` when there is none or the hook does not subscribe to `push`.
    async fn queue_test_push(
        &self,
        scope: &HookScope,
        hook_id: HookId,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Queues a new attempt, tried once and at once, of the delivery that attempt
    /// `attempt_id` of the hook belongs to. `false` when there is no such attempt.
    async fn redeliver(
        &self,
        scope: &HookScope,
        hook_id: HookId,
        attempt_id: AttemptId,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Starts a recovery of the hook's events published from `since` to `until` (both
    /// inclusive): each whose latest delivery failed and none of whose deliveries is pending
    /// gets one more, tried once, oldest event first; its held deliveries in the window
    /// (hook disabled by `--disable-after`) join the recovery and go, in order, when the
    /// hook is re-activated. One running recovery per hook.
    async fn start_recovery(
        &self,
        scope: &HookScope,
        hook_id: HookId,
        since: Timestamp,
        until: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<RecoveryStart, StoreError>;

    /// A recovery of the hook, with its progress; `None` when the scope has no such hook or
    /// the hook no such recovery.
    async fn get_recovery(
        &self,
        scope: &HookScope,
        hook_id: HookId,
        recovery_id: i64,
    ) -> Result<Option<Recovery>, StoreError>;
}

/// The delivery queue: claims and leases, attempts recorded, retention.
#[async_trait::async_trait]
pub trait QueueStore: Send + Sync {
    /// Leases up to `limit` due deliveries to `worker` until `lease_until`. Deliveries
    /// whose hook is no longer active are cancelled instead.
    async fn claim_due(
        &self,
        worker: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Claim, StoreError>;

    /// Records an attempt, moves its delivery on (done, retry later, or given up), releases
    /// the lease and updates the hook's `last_response`.
    async fn record_attempt(&self, attempt: AttemptRecord) -> Result<(), StoreError>;

    /// Called once at start-up, before any claim: leases that can only belong to a dead
    /// process are made due again at `now`; returns how many. An embedded database is
    /// served by this process alone, so all of its leases qualify; a database shared by
    /// several processes must leave them to expire.
    async fn recover_leases(&self, now: Timestamp) -> Result<u64, StoreError>;

    /// Says that `worker` is alive, and takes back the leases of workers silent for
    /// `silent_after` (their process died or was restarted; measured by the database's
    /// clock, so clocks that differ between machines do not matter): those deliveries
    /// become due at `now` and every node is woken. Returns how many were taken back. A
    /// store that one process serves alone has nothing to do (its leases are recovered at
    /// start).
    async fn heartbeat(
        &self,
        worker: &str,
        now: Timestamp,
        silent_after: std::time::Duration,
    ) -> Result<u64, StoreError>;

    /// Extends the leases `worker` still holds on `delivery_ids` to `lease_until`, so that
    /// a lease can be short (a dead process's work comes back soon) and yet never run out
    /// under a delivery that is merely waiting for a slot.
    async fn renew_leases(
        &self,
        worker: &str,
        delivery_ids: Vec<DeliveryId>,
        lease_until: Timestamp,
    ) -> Result<(), StoreError>;

    /// Pokes `wake` whenever another process sharing the database queues work, until the
    /// store is closed. An embedded database has no other process, so by default nothing.
    fn watch_for_work(&self, wake: Arc<tokio::sync::Notify>) {
        let _ = wake;
    }

    /// Gives leased deliveries back unattempted, each due again at its time: at shutdown
    /// (due at once, so others need not wait for the lease to expire), or when their
    /// destination cannot take them soon (due when it is expected to have room).
    async fn release(
        &self,
        worker: &str,
        deliveries: Vec<(DeliveryId, Timestamp)>,
    ) -> Result<(), StoreError>;

    /// Moves every delivery of each hook that is due at `now` and not leased to a time
    /// between `from` and `until` (spread by id), because the hook's destination cannot take
    /// them sooner: claims then reach other hooks' work without wading through this backlog.
    async fn postpone_hooks(&self, hooks: Vec<Postponed>, now: Timestamp)
    -> Result<(), StoreError>;

    async fn queue_stats(&self, now: Timestamp) -> Result<QueueStats, StoreError>;

    /// Disables every active hook whose attempts have all failed since `failing_since` or
    /// earlier, at least `min_failures` of them: `active` false, `disabled_at` = `now`,
    /// `reason`; its pending deliveries not under way are held. Returns those hooks.
    async fn disable_failing_hooks(
        &self,
        failing_since: Timestamp,
        min_failures: u32,
        reason: &str,
        now: Timestamp,
    ) -> Result<Vec<HookId>, StoreError>;

    /// Looks at the next `batch` events after `after` in the order they were stored (from
    /// the first without it) and deletes those older than `before`, with their deliveries
    /// and attempts; returns how many went and where the next batch starts. An event with
    /// a delivery still pending or held (queued, leased, waiting for a retry) stays,
    /// however old: retention never drops work. It is looked at and passed over, so that a
    /// batch costs `batch` events however many such events come before the rest, and a
    /// pass looks at each once. A pass ends with the log, or with a batch that holds no
    /// event older than `before` (an event stored later yet older, by a clock's skew, goes
    /// in the next pass); its last batch (`next` none) also deletes the request-header
    /// templates no stored attempt uses.
    async fn prune(
        &self,
        before: Timestamp,
        after: Option<PruneCursor>,
        batch: u32,
    ) -> Result<Pruned, StoreError>;
}

/// Where a pass of retention has got to: the id of the last event it looked at (ids follow
/// the order events were stored in, so the primary key bounds each batch exactly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneCursor(pub i64);

/// What one batch of retention did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    /// Events deleted.
    pub deleted: u64,
    /// Where the next batch starts; none once the pass is over.
    pub next: Option<PruneCursor>,
}

/// The delivery log: a hook's attempts, newest first, and one attempt in full.
#[async_trait::async_trait]
pub trait LogStore: Send + Sync {
    /// The hook's attempts, newest first; `None` when the hook does not exist.
    async fn list_attempts(
        &self,
        scope: &HookScope,
        hook_id: HookId,
        query: AttemptQuery,
    ) -> Result<Option<Vec<AttemptSummary>>, StoreError>;

    async fn get_attempt(
        &self,
        scope: &HookScope,
        hook_id: HookId,
        attempt_id: AttemptId,
    ) -> Result<Option<AttemptDetail>, StoreError>;

    /// How many of the hook's attempts `query` selects (its `limit` and order aside),
    /// counting no further than `cap` (so a count never reads more than `cap` rows);
    /// `None` when the hook does not exist.
    async fn count_attempts(
        &self,
        scope: &HookScope,
        hook_id: HookId,
        query: AttemptQuery,
        cap: u32,
    ) -> Result<Option<u64>, StoreError>;
}

/// Which database to use; shared by `serve` and the admin commands.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreConfig {
    /// Directory of the embedded database (and the generated admin token).
    #[arg(long, env = "HOOKPOST_DATA_DIR", default_value = "hookpost-data")]
    pub data_dir: PathBuf,

    /// A `postgres://` URL to use PostgreSQL instead of the embedded SQLite database.
    #[arg(long, env = "HOOKPOST_DATABASE")]
    pub database: Option<String>,
}

/// Opens (and migrates) the configured database.
///
/// # Errors
/// When the database cannot be opened or migrated, or names an unsupported backend.
pub async fn open(config: &StoreConfig) -> anyhow::Result<Arc<dyn Store>> {
    match &config.database {
        None => {
            let path = config.data_dir.join("hookpost.sqlite3");
            let store = sqlite::SqliteStore::open(&path)
                .await
                .with_context(|| format!("Failed to open the database {}", path.display()))?;
            Ok(Arc::new(store))
        }
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let store = postgres::PostgresStore::open(url)
                .await
                .context("Failed to open the PostgreSQL database")?;
            Ok(Arc::new(store))
        }
        Some(other) => anyhow::bail!("--database must be a postgres:// URL, not {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::hook::{HookInput, HookRules};
    use crate::domain::secret::Secret;

    #[test]
    fn no_debug_print_of_a_hook_a_claim_or_a_token_shows_a_secret() {
        let input = HookInput {
            active: true,
            events: vec!["push".to_owned()],
            url: "https://example.com/hook".to_owned(),
            content_type: "json".to_owned(),
            secret: Some(Secret::new("hook-secret-1")),
            insecure_ssl: false,
            headers: vec![
                (
                    "Authorization".to_owned(),
                    "Bearer header-secret-2".to_owned(),
                ),
                ("X-Trace".to_owned(), "trace-value-3".to_owned()),
            ],
            signature: None,
            retry_schedule: None,
            secret_overlap: None,
            rate_limit: None,
            ordering: None,
        };
        let mut settings = HookSettings::new(&input, &HookRules::default()).unwrap();
        settings.config.previous_secret = Some(crate::domain::signature::PreviousSecret {
            secret: Secret::new("hook-secret-rotated-1"),
            expires_at: Timestamp(1),
        });
        let hook = Hook {
            id: HookId(1),
            scope: HookScope::App { app_id: AppId(1) },
            settings: settings.clone(),
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
            last_response: LastResponse::Unused,
            disabled: None,
        };
        let claim = ClaimedDelivery {
            id: DeliveryId(1),
            event: Arc::new(EventRecord {
                id: 1,
                guid: "guid".to_owned(),
                name: "push".to_owned(),
                action: None,
                payload: Arc::from(&b"{}"[..]),
                target_repository_id: None,
                target_organization_id: None,
            }),
            target: Arc::new(DeliveryTarget {
                hook_id: HookId(1),
                tenant: Tenant::Account(1),
                app_id: None,
                organization: false,
                config: settings.config,
            }),
            installation_id: None,
            attempts: 0,
            retry: true,
            redelivery: false,
            throttled_at: None,
            in_line: false,
        };
        let token = Secret::new("hp_token-secret-4");
        let printed = format!("{hook:?} {claim:?} {token:?} {token}");
        for secret in [
            "hook-secret-1",
            "header-secret-2",
            "trace-value-3",
            "token-secret-4",
            "hook-secret-rotated-1",
        ] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        assert!(printed.contains("https://example.com/hook"), "{printed}");
    }
}
