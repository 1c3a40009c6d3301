//! Who is calling: token generation, hashing, and the [`Principal`] every use case is
//! asked for on behalf of.
//!
//! Tokens are random, so a plain SHA-256 digest is a safe stored form; the admin token's
//! digest is compared in constant time. Owner tokens are looked up by digest and cached
//! for [`RECHECK_AFTER`] at most: another node (or the CLI) may revoke one, and every node
//! must refuse it within a second.

use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::names::Login;
use crate::domain::timestamp::Timestamp;
use crate::store::{AccountStore, StoreError, TokenHash, TokenRecord, TokenScope};

/// Why a caller was not authenticated; each front says it in its own way.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No credentials were presented.
    #[error("Requires authentication")]
    RequiresAuthentication,
    /// Credentials were presented but match no token.
    #[error("Bad credentials")]
    BadCredentials,
    /// This client address failed too often lately; it may try again after the wait.
    #[error("Too many failed authentication attempts")]
    TooManyFailures(Duration),
    #[error(transparent)]
    Store(StoreError),
}

/// Failed authentications per client address, in fixed one-minute windows: past the limit,
/// a client's further failures are refused (`429`, `Retry-After`) until its window ends.
/// Only failures are counted and refused, so valid credentials are never slowed.
pub struct FailureLimiter {
    /// Failures allowed per client and window; `0` counts nothing.
    limit: u32,
    clients: std::sync::Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

/// How long a client's failures are counted together.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// The most client addresses remembered; past it, ended windows are forgotten first.
const FAILURE_CLIENTS: usize = 100_000;

impl FailureLimiter {
    pub fn new(limit: u32) -> Self {
        FailureLimiter {
            limit,
            clients: std::sync::Mutex::default(),
        }
    }

    /// Counts a failure of `client`; how long it must wait when it is now over the limit.
    pub fn failed(&self, client: IpAddr) -> Option<Duration> {
        if self.limit == 0 {
            return None;
        }
        let now = Instant::now();
        let mut clients = self.clients.lock().expect("never poisoned");
        if clients.len() >= FAILURE_CLIENTS && !clients.contains_key(&client) {
            clients.retain(|_, (since, _)| now.duration_since(*since) < FAILURE_WINDOW);
            if clients.len() >= FAILURE_CLIENTS {
                clients.clear();
            }
        }
        let (since, count) = clients.entry(client).or_insert((now, 0));
        if now.duration_since(*since) >= FAILURE_WINDOW {
            (*since, *count) = (now, 0);
        }
        *count = count.saturating_add(1);
        (*count > self.limit).then(|| FAILURE_WINDOW.saturating_sub(now.duration_since(*since)))
    }
}

/// Name of the file a generated admin token is written to, inside the data directory.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// A new random token: `hp_` and 40 hex digits (160 bits).
pub fn generate_token() -> String {
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    format!("hp_{}", hex::encode(bytes))
}

pub fn hash_token(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// May use every endpoint, for every owner.
    Admin,
    /// May manage the hooks of its owners' repositories and organizations.
    Owner(TokenRecord),
}

impl Principal {
    /// Whether the caller may manage the hooks of `account`'s repositories and organizations.
    pub fn may_manage(&self, account: &Login) -> bool {
        match self {
            Principal::Admin => true,
            Principal::Owner(record) => {
                record.scope == TokenScope::Manage && Self::owns(record, account)
            }
        }
    }

    /// Whether the caller may publish the events of `account`'s repositories and
    /// organizations (every token scope may).
    pub fn may_publish(&self, account: &Login) -> bool {
        match self {
            Principal::Admin => true,
            Principal::Owner(record) => Self::owns(record, account),
        }
    }

    fn owns(record: &TokenRecord, account: &Login) -> bool {
        let key = account.key();
        record.owners.iter().any(|owner| owner.key() == key)
    }
}

/// How long a token's record is trusted before the store is asked again: a revoked token is
/// refused on every node within this time.
pub const RECHECK_AFTER: Duration = Duration::from_millis(500);

/// A token's use is written down at most this often (a write per request would cost more
/// than the request).
const USE_RECORDED_EVERY: Duration = Duration::from_secs(60);

/// An owner token's record as last read from the store.
struct Known {
    record: TokenRecord,
    read_at: Instant,
}

/// Checks credentials against the admin token and the stored owner tokens.
pub struct Authenticator {
    /// `None` where no admin token is accepted (the command line acts as admin itself).
    admin: Option<TokenHash>,
    store: Arc<dyn AccountStore>,
    /// Owner tokens seen lately, by digest. Only hits are cached: a token the CLI creates
    /// later must still be found.
    known: RwLock<HashMap<TokenHash, Known>>,
}

impl Authenticator {
    pub fn new(admin: Option<TokenHash>, store: Arc<dyn AccountStore>) -> Self {
        Authenticator {
            admin,
            store,
            known: RwLock::new(HashMap::new()),
        }
    }

    /// Authenticates an `Authorization` header value (`Bearer T` or `token T`).
    ///
    /// # Errors
    /// 401 `Requires authentication` without a header, `Bad credentials` with a wrong one.
    pub async fn authenticate(&self, header: Option<&str>) -> Result<Principal, AuthError> {
        let header = header.ok_or(AuthError::RequiresAuthentication)?;
        let (scheme, token) = header
            .trim()
            .split_once(' ')
            .ok_or(AuthError::BadCredentials)?;
        if !scheme.eq_ignore_ascii_case("bearer") && !scheme.eq_ignore_ascii_case("token") {
            return Err(AuthError::BadCredentials);
        }
        self.principal_for(hash_token(token.trim())).await
    }

    /// The caller whose token has digest `hash` (a web UI session keeps only the digest).
    ///
    /// # Errors
    /// 401 `Bad credentials` when no token has that digest.
    pub async fn principal_for(&self, hash: TokenHash) -> Result<Principal, AuthError> {
        if self
            .admin
            .is_some_and(|admin| bool::from(hash.ct_eq(&admin)))
        {
            return Ok(Principal::Admin);
        }
        let now = Timestamp::now();
        let mut record = self.owner_token(hash).await?;
        if !record.is_valid_at(now) {
            return Err(AuthError::BadCredentials);
        }
        let recorded = record.last_used_at.unwrap_or(Timestamp(i64::MIN));
        if now >= recorded.after(USE_RECORDED_EVERY) {
            record.last_used_at = Some(now);
            if let Some(known) = self.known.write().expect("not poisoned").get_mut(&hash) {
                known.record.last_used_at = Some(now);
            }
            let (store, id) = (self.store.clone(), record.id);
            tokio::spawn(async move {
                if let Err(error) = store.token_used(id, now).await {
                    tracing::debug!(%error, token_id = id, "could not record a token's use");
                }
            });
        }
        Ok(Principal::Owner(record))
    }

    /// The record of the owner token with digest `hash`: the cached one while it is fresh,
    /// else the store's (revoked and expired tokens included).
    async fn owner_token(&self, hash: TokenHash) -> Result<TokenRecord, AuthError> {
        if let Some(known) = self.known.read().expect("not poisoned").get(&hash)
            && known.read_at.elapsed() < RECHECK_AFTER
        {
            return Ok(known.record.clone());
        }
        let read_at = Instant::now();
        let found = self
            .store
            .find_token(hash)
            .await
            .map_err(AuthError::Store)?;
        let mut known = self.known.write().expect("not poisoned");
        let Some(record) = found else {
            known.remove(&hash);
            return Err(AuthError::BadCredentials);
        };
        known.insert(
            hash,
            Known {
                record: record.clone(),
                read_at,
            },
        );
        Ok(record)
    }
}

/// The admin token's digest: from `configured` (`HOOKPOST_ADMIN_TOKEN`) when given, else the
/// one stored, else a new token generated, stored hashed and written to
/// `<data_dir>/admin-token` with mode 0600.
///
/// # Errors
/// When the store cannot be written or the token file cannot be created.
pub async fn admin_token_digest(
    store: &dyn AccountStore,
    configured: Option<&str>,
    data_dir: &Path,
) -> anyhow::Result<TokenHash> {
    if let Some(token) = configured {
        return Ok(hash_token(token));
    }
    let token = generate_token();
    let candidate = hash_token(&token);
    let file = data_dir.join(ADMIN_TOKEN_FILE);
    let pending = data_dir.join(format!("{ADMIN_TOKEN_FILE}.new"));
    // Written before the digest is committed, so a crash in between cannot leave an admin
    // token that nobody knows.
    write_private(&pending, &token)
        .with_context(|| format!("Failed to write {}", pending.display()))?;
    let in_force = store
        .init_admin_token(candidate)
        .await
        .context("Failed to store the admin token digest")?;
    if in_force == candidate {
        std::fs::rename(&pending, &file)
            .with_context(|| format!("Failed to create {}", file.display()))?;
        tracing::info!(path = %file.display(), "generated the admin token");
    } else {
        let _ = std::fs::remove_file(&pending);
        tracing::info!(path = %file.display(), "the admin token is the one generated at the first start");
    }
    Ok(in_force)
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(parent)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_prefixed() {
        let (a, b) = (generate_token(), generate_token());
        assert_ne!(a, b);
        assert!(a.starts_with("hp_") && a.len() == 43);
    }

    fn token(owners: &[&str], scope: TokenScope) -> TokenRecord {
        TokenRecord {
            id: 1,
            owners: owners
                .iter()
                .map(|owner| Login::parse(owner).unwrap())
                .collect(),
            scope,
            created_at: Timestamp(0),
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
        }
    }

    #[test]
    fn owners_compare_case_insensitively() {
        let principal = Principal::Owner(token(&["Acme"], TokenScope::Manage));
        assert!(principal.may_manage(&Login::parse("acme").unwrap()));
        assert!(!principal.may_manage(&Login::parse("other").unwrap()));
    }

    #[test]
    fn a_publish_only_token_publishes_but_manages_nothing() {
        let principal = Principal::Owner(token(&["acme"], TokenScope::Publish));
        let acme = Login::parse("ACME").unwrap();
        assert!(principal.may_publish(&acme));
        assert!(!principal.may_manage(&acme));
        assert!(!principal.may_publish(&Login::parse("other").unwrap()));
    }

    #[test]
    fn revoked_and_expired_tokens_are_not_valid() {
        let mut record = token(&["acme"], TokenScope::Manage);
        assert!(record.is_valid_at(Timestamp(i64::MAX)));
        record.expires_at = Some(Timestamp(1_000));
        assert!(record.is_valid_at(Timestamp(999)));
        assert!(!record.is_valid_at(Timestamp(1_000)));
        record.expires_at = None;
        record.revoked_at = Some(Timestamp(5));
        assert!(!record.is_valid_at(Timestamp(0)));
    }
}
