//! Durable state behind one interface, [`Store`], whatever the database.
//!
//! The API and (later) the delivery workers only ever see `Arc<dyn Store>`; the SQLite
//! implementation lives in [`sqlite`]. Every method is one transaction: a caller never sees a
//! half-applied change, and a method that returns `Ok` has had its change committed and
//! synced to disk.

pub mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use crate::domain::hook::{HookPatch, HookScope, HookSettings, LastResponse};
use crate::domain::names::Login;
use crate::domain::timestamp::Timestamp;

/// A hook's id, unique across repository, organization and app hooks (as on GitHub).
pub type HookId = i64;

/// SHA-256 digest of a token: the only form in which tokens are stored.
pub type TokenHash = [u8; 32];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The transaction that carried this write (with others) failed to commit.
    #[error("commit failed: {0}")]
    Commit(Arc<rusqlite::Error>),
    #[error("the store has been closed")]
    Closed,
    #[error("stored data is not what this version expects: {0}")]
    Corrupt(String),
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
}

/// An owner token's record (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: i64,
    /// Accounts whose repositories' and organizations' hooks this token manages.
    pub owners: Vec<Login>,
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

/// Everything Hookpost keeps. Implementations batch concurrent writes into shared
/// transactions, so callers need not (and must not) batch themselves.
#[async_trait::async_trait]
pub trait Store: Send + Sync {
    /// Succeeds when the database answers a query.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Finishes pending writes and stops background threads; later calls fail with
    /// [`StoreError::Closed`].
    async fn close(&self);

    /// Stores `candidate` as the admin token's digest unless one is stored already, and
    /// returns the digest in force (so concurrent first starts agree on one token).
    async fn init_admin_token(&self, candidate: TokenHash) -> Result<TokenHash, StoreError>;

    async fn create_token(
        &self,
        hash: TokenHash,
        owners: Vec<Login>,
    ) -> Result<TokenRecord, StoreError>;

    async fn find_token(&self, hash: TokenHash) -> Result<Option<TokenRecord>, StoreError>;

    /// Creates the repository or organization on first mention.
    async fn create_hook(
        &self,
        scope: HookScope,
        settings: HookSettings,
    ) -> Result<Hook, StoreError>;

    async fn list_hooks(&self, scope: &HookScope, page: Page) -> Result<HookPage, StoreError>;

    /// `None` when no hook `id` exists in `scope`.
    async fn get_hook(&self, scope: &HookScope, id: HookId) -> Result<Option<Hook>, StoreError>;

    /// Applies `patch` to the stored settings atomically; `None` when no such hook.
    async fn update_hook(
        &self,
        scope: &HookScope,
        id: HookId,
        patch: HookPatch,
    ) -> Result<Option<Hook>, StoreError>;

    /// `false` when no such hook. Its deliveries and attempts go with it.
    async fn delete_hook(&self, scope: &HookScope, id: HookId) -> Result<bool, StoreError>;
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
            anyhow::bail!("PostgreSQL is not supported by this build yet; omit --database")
        }
        Some(other) => anyhow::bail!("--database must be a postgres:// URL, not {other:?}"),
    }
}
