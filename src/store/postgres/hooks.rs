//! Hook rows and the repositories, organizations and apps they hang from.

use deadpool_postgres::GenericClient;

use super::line::line_up;

use super::{all, exec, one, opt};
use crate::domain::hook::{HookPatch, HookScope, HookSettings};
use crate::domain::names::{Login, RepoName};
use crate::domain::secret::Secret;
use crate::domain::timestamp::Timestamp;
use crate::store::columns::{
    HOOK_COLUMN_COUNT, HOOK_COLUMNS, LineChange, RELEASE_HELD, ScopeRow, config_extras, corrupt,
    created_hook, end_line, login, read_hook, scope_from_names,
};
use crate::store::{Hook, HookId, HookPage, HookUpdate, Page, StoreError};

/// Looks the scope up without creating it.
pub(super) async fn find_scope(
    db: &impl GenericClient,
    scope: &HookScope,
) -> Result<Option<ScopeRow>, StoreError> {
    let found = match scope {
        HookScope::Repository { owner, repo } => {
            let row = opt(
                db,
                "SELECT r.id, a.login, r.name FROM repositories r
                 JOIN accounts a ON a.id = r.account_id
                 WHERE a.login_key = $1 AND r.name_key = $2",
                &[&owner.key(), &repo.key()],
            )
            .await?;
            match row {
                Some(row) => Some(ScopeRow {
                    column: "repository_id",
                    id: row.try_get(0)?,
                    canonical: HookScope::Repository {
                        owner: login(row.try_get(1)?)?,
                        repo: RepoName::parse(row.try_get(2)?)
                            .ok_or_else(|| corrupt("repository name"))?,
                    },
                }),
                None => None,
            }
        }
        HookScope::Organization { org } => {
            let row = opt(
                db,
                "SELECT id, login FROM accounts WHERE login_key = $1",
                &[&org.key()],
            )
            .await?;
            match row {
                Some(row) => Some(ScopeRow {
                    column: "organization_id",
                    id: row.try_get(0)?,
                    canonical: HookScope::Organization {
                        org: login(row.try_get(1)?)?,
                    },
                }),
                None => None,
            }
        }
        HookScope::App { app_id } => opt(db, "SELECT id FROM apps WHERE id = $1", &[app_id])
            .await?
            .map(|row| -> Result<_, StoreError> {
                Ok(ScopeRow {
                    column: "app_id",
                    id: row.try_get(0)?,
                    canonical: scope.clone(),
                })
            })
            .transpose()?,
    };
    Ok(found)
}

/// The account's row id, creating the account on first mention. Looks before it inserts:
/// nearly every call finds the account. A concurrent first mention waits for the other
/// insert and then finds its row.
pub(super) async fn ensure_account(
    db: &impl GenericClient,
    login: &Login,
) -> Result<i64, StoreError> {
    let key = login.key();
    if let Some(row) = opt(db, "SELECT id FROM accounts WHERE login_key = $1", &[&key]).await? {
        return Ok(row.try_get(0)?);
    }
    exec(
        db,
        "INSERT INTO accounts (login, login_key) VALUES ($1, $2) ON CONFLICT (login_key) DO NOTHING",
        &[&login.as_str(), &key],
    )
    .await?;
    Ok(
        one(db, "SELECT id FROM accounts WHERE login_key = $1", &[&key])
            .await?
            .try_get(0)?,
    )
}

/// The repository's row id, creating it (and its owner) on first mention.
pub(super) async fn ensure_repository(
    db: &impl GenericClient,
    owner: &Login,
    name: &RepoName,
) -> Result<i64, StoreError> {
    let account_id = ensure_account(db, owner).await?;
    const FIND: &str = "SELECT id FROM repositories WHERE account_id = $1 AND name_key = $2";
    if let Some(row) = opt(db, FIND, &[&account_id, &name.key()]).await? {
        return Ok(row.try_get(0)?);
    }
    exec(
        db,
        "INSERT INTO repositories (account_id, name, name_key) VALUES ($1, $2, $3)
         ON CONFLICT (account_id, name_key) DO NOTHING",
        &[&account_id, &name.as_str(), &name.key()],
    )
    .await?;
    Ok(one(db, FIND, &[&account_id, &name.key()])
        .await?
        .try_get(0)?)
}

/// Finds the scope, creating a repository or organization on first mention.
async fn ensure_scope(db: &impl GenericClient, scope: &HookScope) -> Result<ScopeRow, StoreError> {
    match scope {
        HookScope::Repository { owner, repo } => {
            ensure_repository(db, owner, repo).await?;
        }
        HookScope::Organization { org } => {
            ensure_account(db, org).await?;
        }
        HookScope::App { .. } => {}
    }
    find_scope(db, scope)
        .await?
        .ok_or_else(|| corrupt("a hook's app does not exist"))
}

fn events_json(settings: &HookSettings) -> String {
    serde_json::Value::from(settings.events.clone()).to_string()
}

pub(super) async fn create(
    db: &impl GenericClient,
    scope: &HookScope,
    settings: &HookSettings,
) -> Result<Hook, StoreError> {
    let scope_row = ensure_scope(db, scope).await?;
    let now = Timestamp::now();
    let config = &settings.config;
    let extras = config_extras(config);
    let sql = format!(
        "INSERT INTO hooks ({}, name, active, events, url, content_type, secret, insecure_ssl,
                            headers, signature, previous_secret, previous_secret_expires_at,
                            created_at, updated_at, retry_schedule, rate_limit, ordering)
         VALUES ($1, $2, $3, $4::text::jsonb, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14,
                 $15, $16)
         RETURNING id",
        scope_row.column
    );
    let id: HookId = one(
        db,
        &sql,
        &[
            &scope_row.id,
            &settings.name,
            &settings.active,
            &events_json(settings),
            &config.url,
            &config.content_type.as_str(),
            &config.secret.as_ref().map(Secret::expose),
            &config.insecure_ssl,
            &extras.headers,
            &extras.signature,
            &extras.previous_secret,
            &extras.previous_secret_expires_at,
            &now.0,
            &extras.retry_schedule,
            &extras.rate_limit,
            &extras.ordering,
        ],
    )
    .await?
    .try_get(0)?;
    Ok(created_hook(id, scope_row.canonical, settings, now))
}

pub(super) async fn list(
    db: &impl GenericClient,
    scope: &HookScope,
    page: Page,
) -> Result<HookPage, StoreError> {
    let Some(scope_row) = find_scope(db, scope).await? else {
        return Ok(HookPage {
            hooks: Vec::new(),
            total: 0,
        });
    };
    let count = format!("SELECT count(*) FROM hooks WHERE {} = $1", scope_row.column);
    let total: i64 = one(db, &count, &[&scope_row.id]).await?.try_get(0)?;
    let select = format!(
        "SELECT {HOOK_COLUMNS} FROM hooks h WHERE h.{} = $1 ORDER BY h.id LIMIT $2 OFFSET $3",
        scope_row.column
    );
    let hooks = all(
        db,
        &select,
        &[&scope_row.id, &i64::from(page.per_page), &page.offset()],
    )
    .await?
    .iter()
    .map(|row| read_hook(row, &scope_row.canonical))
    .collect::<Result<Vec<_>, _>>()?;
    Ok(HookPage {
        hooks,
        total: total.unsigned_abs(),
    })
}

pub(super) async fn list_all(db: &impl GenericClient) -> Result<Vec<Hook>, StoreError> {
    let sql = format!(
        "SELECT {HOOK_COLUMNS}, a.login, r.name, o.login FROM hooks h
         LEFT JOIN repositories r ON r.id = h.repository_id
         LEFT JOIN accounts a ON a.id = r.account_id
         LEFT JOIN accounts o ON o.id = h.organization_id
         WHERE h.app_id IS NULL
         ORDER BY coalesce(a.login_key, o.login_key), r.name_key NULLS FIRST, h.id"
    );
    all(db, &sql, &[])
        .await?
        .iter()
        .map(|row| {
            let names = HOOK_COLUMN_COUNT;
            let scope = scope_from_names(
                row.try_get(names)?,
                row.try_get(names + 1)?,
                row.try_get(names + 2)?,
            )?;
            read_hook(row, &scope)
        })
        .collect()
}

pub(super) async fn get_in(
    db: &impl GenericClient,
    scope_row: &ScopeRow,
    id: HookId,
) -> Result<Option<Hook>, StoreError> {
    let sql = format!(
        "SELECT {HOOK_COLUMNS} FROM hooks h WHERE h.id = $1 AND h.{} = $2",
        scope_row.column
    );
    opt(db, &sql, &[&id, &scope_row.id])
        .await?
        .map(|row| read_hook(&row, &scope_row.canonical))
        .transpose()
}

pub(super) async fn get(
    db: &impl GenericClient,
    scope: &HookScope,
    id: HookId,
) -> Result<Option<Hook>, StoreError> {
    match find_scope(db, scope).await? {
        Some(scope_row) => get_in(db, &scope_row, id).await,
        None => Ok(None),
    }
}

/// Whether hook `id` exists in `scope`.
pub(super) async fn exists(
    db: &impl GenericClient,
    scope: &HookScope,
    id: HookId,
) -> Result<bool, StoreError> {
    Ok(get(db, scope, id).await?.is_some())
}

pub(super) async fn update(
    db: &impl GenericClient,
    scope: &HookScope,
    id: HookId,
    patch: &HookPatch,
) -> Result<HookUpdate, StoreError> {
    let Some(scope_row) = find_scope(db, scope).await? else {
        return Ok(HookUpdate::Missing);
    };
    // Locks the row: concurrent patches apply one after the other.
    let lock = format!(
        "SELECT id FROM hooks WHERE id = $1 AND {} = $2 FOR UPDATE",
        scope_row.column
    );
    if opt(db, &lock, &[&id, &scope_row.id]).await?.is_none() {
        return Ok(HookUpdate::Missing);
    }
    let Some(mut hook) = get_in(db, &scope_row, id).await? else {
        return Ok(HookUpdate::Missing);
    };
    let change = LineChange::apply(patch, &mut hook);
    if let Some(rule) = hook.settings.config.signature_problem() {
        return Ok(HookUpdate::Refused(rule));
    }
    hook.updated_at = Timestamp::now();
    let settings = &hook.settings;
    let config = &settings.config;
    let extras = config_extras(config);
    exec(
        db,
        "UPDATE hooks SET active = $2, events = $3::text::jsonb, url = $4, content_type = $5,
                          secret = $6, insecure_ssl = $7, headers = $8, signature = $9,
                          previous_secret = $10, previous_secret_expires_at = $11,
                          updated_at = $12, retry_schedule = $13, rate_limit = $14,
                          ordering = $15, disabled_at = $16, disabled_reason = $17,
                          failing_since = CASE WHEN $18 THEN NULL ELSE failing_since END,
                          failures = CASE WHEN $18 THEN 0 ELSE failures END
         WHERE id = $1",
        &[
            &id,
            &settings.active,
            &events_json(settings),
            &config.url,
            &config.content_type.as_str(),
            &config.secret.as_ref().map(Secret::expose),
            &config.insecure_ssl,
            &extras.headers,
            &extras.signature,
            &extras.previous_secret,
            &extras.previous_secret_expires_at,
            &hook.updated_at.0,
            &extras.retry_schedule,
            &extras.rate_limit,
            &extras.ordering,
            &hook.disabled.as_ref().map(|disabled| disabled.at.0),
            &hook
                .disabled
                .as_ref()
                .map(|disabled| disabled.reason.as_str()),
            &change.reactivated,
        ],
    )
    .await?;
    if change.end_line {
        exec(
            db,
            &end_line(|n| format!("${n}")),
            &[&id, &hook.updated_at.0],
        )
        .await?;
    }
    if change.reactivated {
        // What was held while it was disabled goes now, in the order it was published.
        exec(db, &RELEASE_HELD.replace("{hook}", "$1"), &[&id]).await?;
        line_up(db, &[id], hook.updated_at, true).await?;
    }
    Ok(HookUpdate::Updated(Box::new(hook)))
}

pub(super) async fn delete(
    db: &impl GenericClient,
    scope: &HookScope,
    id: HookId,
) -> Result<bool, StoreError> {
    let Some(scope_row) = find_scope(db, scope).await? else {
        return Ok(false);
    };
    let sql = format!(
        "DELETE FROM hooks WHERE id = $1 AND {} = $2",
        scope_row.column
    );
    if exec(db, &sql, &[&id, &scope_row.id]).await? == 0 {
        return Ok(false);
    }
    // No foreign key cascades (migration 0015). The deliveries first: deleting a row an
    // attempt record is updating waits for that record to commit, and the attempts'
    // statement, which comes after, then sees its attempt.
    exec(db, "DELETE FROM deliveries WHERE hook_id = $1", &[&id]).await?;
    exec(db, "DELETE FROM attempts WHERE hook_id = $1", &[&id]).await?;
    Ok(true)
}

pub(super) async fn erase_expired_secrets(
    db: &impl GenericClient,
    now: Timestamp,
) -> Result<u64, StoreError> {
    exec(
        db,
        "UPDATE hooks SET previous_secret = NULL, previous_secret_expires_at = NULL
         WHERE previous_secret_expires_at <= $1",
        &[&now.0],
    )
    .await
}
