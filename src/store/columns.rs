//! How values are laid out in columns, shared by every backend so that both store the
//! same text: header lists, a hook's `last_response`, an attempt's outcome, idempotency
//! replies.

use crate::domain::hook::{HookScope, LastResponse};
use crate::domain::names::{Login, RepoName};
use crate::store::{AttemptRecord, StoreError, TokenRecord};

/// Headers as a JSON array of `[name, value]` pairs: order and repeated names are kept.
/// A scope as found in the database: the column its hooks are filed under, its row id,
/// and its names as first spelled.
pub(crate) struct ScopeRow {
    pub(crate) column: &'static str,
    pub(crate) id: i64,
    pub(crate) canonical: HookScope,
}

/// Stored data that this version cannot read.
pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

/// An account's login as stored.
pub(crate) fn login(text: &str) -> Result<Login, StoreError> {
    Login::parse(text).ok_or_else(|| corrupt("account login"))
}

pub(crate) fn headers_json(headers: &[(String, String)]) -> String {
    serde_json::to_string(headers).expect("strings serialize")
}

pub(crate) fn headers_from_json(text: &str) -> Vec<(String, String)> {
    serde_json::from_str::<Vec<(String, String)>>(text).unwrap_or_default()
}

/// A hook's `last_response` from its three columns; no status means "unused".
pub(crate) fn last_response(
    status: Option<&str>,
    code: Option<u16>,
    message: Option<String>,
) -> LastResponse {
    match status {
        Some("active") => LastResponse::Active {
            code: code.unwrap_or(200),
            message: message.unwrap_or_default(),
        },
        Some(_) => LastResponse::Failed {
            code,
            message: message.unwrap_or_default(),
        },
        None => LastResponse::Unused,
    }
}

/// The `last_response` columns an attempt leaves on its hook.
pub(crate) fn last_response_columns(attempt: &AttemptRecord) -> (&'static str, Option<u16>, &str) {
    if attempt.succeeded {
        ("active", Some(attempt.status_code), "OK")
    } else {
        let code = (attempt.status_code != 0).then_some(attempt.status_code);
        ("failed", code, attempt.status.as_str())
    }
}

/// The delivery's state after an attempt: done, waiting for a retry, or given up.
pub(crate) fn state_after(attempt: &AttemptRecord) -> &'static str {
    match (attempt.succeeded, attempt.next_attempt) {
        (true, _) => "succeeded",
        (false, Some(_)) => "pending",
        (false, None) => "failed",
    }
}

/// How long an `Idempotency-Key` is remembered.
pub(crate) const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// The first response to a publish with an `Idempotency-Key`, as kept for replays.
pub(crate) fn idempotent_reply(guid: &str, deliveries: u64) -> String {
    format!("{guid} {deliveries}")
}

/// Reads back what [`idempotent_reply`] wrote.
pub(crate) fn parse_idempotent_reply(reply: &str) -> Result<(String, u64), StoreError> {
    reply
        .split_once(' ')
        .and_then(|(guid, count)| Some((guid.to_owned(), count.parse().ok()?)))
        .ok_or_else(|| StoreError::Corrupt("an idempotency record".to_owned()))
}

/// A repository or organization hook's scope from the names stored for it: the owner's
/// login and repository name, or the organization's login.
pub(crate) fn scope_from_names(
    owner: Option<&str>,
    repo: Option<&str>,
    org: Option<&str>,
) -> Result<HookScope, StoreError> {
    let corrupt = || StoreError::Corrupt("a hook's repository or organization".to_owned());
    match (owner, repo, org) {
        (Some(owner), Some(repo), _) => Ok(HookScope::Repository {
            owner: Login::parse(owner).ok_or_else(corrupt)?,
            repo: RepoName::parse(repo).ok_or_else(corrupt)?,
        }),
        (_, _, Some(org)) => Ok(HookScope::Organization {
            org: Login::parse(org).ok_or_else(corrupt)?,
        }),
        _ => Err(corrupt()),
    }
}

/// Token records from `(token id, owner)` rows ordered by token id; a token without owners
/// comes as one row with no owner.
pub(crate) fn group_owners(rows: Vec<(i64, Option<String>)>) -> Vec<TokenRecord> {
    let mut tokens: Vec<TokenRecord> = Vec::new();
    for (id, owner) in rows {
        if tokens.last().is_none_or(|token| token.id != id) {
            tokens.push(TokenRecord {
                id,
                owners: Vec::new(),
            });
        }
        if let (Some(token), Some(owner)) =
            (tokens.last_mut(), owner.as_deref().and_then(Login::parse))
        {
            token.owners.push(owner);
        }
    }
    tokens
}

/// The migrations of `migrations` a database at schema `version` still needs.
///
/// # Errors
/// When the version is negative, or newer than this build knows (a newer Hookpost wrote it).
pub(crate) fn pending_migrations<'m>(
    migrations: &'m [&'m str],
    version: i64,
) -> Result<&'m [&'m str], StoreError> {
    let applied = usize::try_from(version)
        .map_err(|_| StoreError::Corrupt(format!("schema version {version}")))?;
    migrations.get(applied..).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "schema version {version} is newer than this Hookpost knows ({})",
            migrations.len()
        ))
    })
}
