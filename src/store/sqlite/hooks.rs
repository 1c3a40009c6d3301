//! Hook rows and the repositories, organizations and apps they hang from.

use super::line::line_up;
use rusqlite::{Connection, OptionalExtension, params};

use crate::domain::hook::{HookPatch, HookScope, HookSettings};
use crate::domain::names::{Login, RepoName};
use crate::domain::secret::Secret;
use crate::domain::timestamp::Timestamp;
use crate::store::columns::{
    HOOK_COLUMN_COUNT, HOOK_COLUMNS, LineChange, RELEASE_HELD, ScopeRow, config_extras, corrupt,
    created_hook, end_line, read_hook, scope_from_names,
};
use crate::store::{Hook, HookId, HookPage, HookUpdate, Page, StoreError};

/// Looks the scope up without creating it.
pub(super) fn find_scope(
    conn: &Connection,
    scope: &HookScope,
) -> Result<Option<ScopeRow>, StoreError> {
    let found = match scope {
        HookScope::Repository { owner, repo } => conn
            .prepare_cached(
                "SELECT r.id, a.login, r.name FROM repositories r
                 JOIN accounts a ON a.id = r.account_id
                 WHERE a.login_key = ?1 AND r.name_key = ?2",
            )?
            .query_row(params![owner.key(), repo.key()], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .optional()?
            .map(|(id, login, name)| {
                Ok::<_, StoreError>(ScopeRow {
                    column: "repository_id",
                    id,
                    canonical: HookScope::Repository {
                        owner: Login::parse(&login).ok_or_else(|| corrupt("account login"))?,
                        repo: RepoName::parse(&name).ok_or_else(|| corrupt("repository name"))?,
                    },
                })
            })
            .transpose()?,
        HookScope::Organization { org } => conn
            .prepare_cached("SELECT id, login FROM accounts WHERE login_key = ?1")?
            .query_row([org.key()], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })
            .optional()?
            .map(|(id, login)| {
                Ok::<_, StoreError>(ScopeRow {
                    column: "organization_id",
                    id,
                    canonical: HookScope::Organization {
                        org: Login::parse(&login).ok_or_else(|| corrupt("account login"))?,
                    },
                })
            })
            .transpose()?,
        HookScope::App { app_id } => conn
            .prepare_cached("SELECT id FROM apps WHERE id = ?1")?
            .query_row([app_id], |row| row.get::<_, i64>(0))
            .optional()?
            .map(|id| ScopeRow {
                column: "app_id",
                id,
                canonical: scope.clone(),
            }),
    };
    Ok(found)
}

/// The account's row id, creating the account on first mention. Looks before it inserts:
/// nearly every call finds the account, and a read costs less than a conflicting insert.
pub(super) fn ensure_account(conn: &Connection, login: &Login) -> Result<i64, StoreError> {
    let key = login.key();
    let found = conn
        .prepare_cached("SELECT id FROM accounts WHERE login_key = ?1")?
        .query_row([&key], |row| row.get(0))
        .optional()?;
    if let Some(id) = found {
        return Ok(id);
    }
    Ok(conn
        .prepare_cached("INSERT INTO accounts (login, login_key) VALUES (?1, ?2) RETURNING id")?
        .query_row(params![login.as_str(), key], |row| row.get(0))?)
}

/// Finds the scope, creating a repository or organization on first mention.
pub(super) fn ensure_scope(conn: &Connection, scope: &HookScope) -> Result<ScopeRow, StoreError> {
    match scope {
        HookScope::Repository { owner, repo } => {
            let account_id = ensure_account(conn, owner)?;
            conn.prepare_cached(
                "INSERT INTO repositories (account_id, name, name_key) VALUES (?1, ?2, ?3)
                 ON CONFLICT (account_id, name_key) DO NOTHING",
            )?
            .execute(params![account_id, repo.as_str(), repo.key()])?;
        }
        HookScope::Organization { org } => {
            ensure_account(conn, org)?;
        }
        HookScope::App { .. } => {}
    }
    find_scope(conn, scope)?.ok_or_else(|| corrupt("a hook's app does not exist"))
}

fn events_json(settings: &HookSettings) -> String {
    serde_json::Value::from(settings.events.clone()).to_string()
}

pub(super) fn create(
    conn: &Connection,
    scope: &HookScope,
    settings: &HookSettings,
) -> Result<Hook, StoreError> {
    let scope_row = ensure_scope(conn, scope)?;
    let now = Timestamp::now();
    let config = &settings.config;
    let extras = config_extras(config);
    let id: HookId = conn
        .prepare_cached(&format!(
            "INSERT INTO hooks ({}, name, active, events, url, content_type, secret, insecure_ssl,
                                headers, signature, previous_secret,
                                previous_secret_expires_at, retry_schedule, created_at, updated_at,
                                rate_limit, ordering)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?14, ?13, ?13, ?15, ?16)
             RETURNING id",
            scope_row.column
        ))?
        .query_row(
            params![
                scope_row.id,
                settings.name,
                settings.active,
                events_json(settings),
                config.url,
                config.content_type.as_str(),
                config.secret.as_ref().map(Secret::expose),
                config.insecure_ssl,
                extras.headers,
                extras.signature,
                extras.previous_secret,
                extras.previous_secret_expires_at,
                now.0,
                extras.retry_schedule,
                extras.rate_limit,
                extras.ordering,
            ],
            |row| row.get(0),
        )?;
    Ok(created_hook(id, scope_row.canonical, settings, now))
}

pub(super) fn list(
    conn: &Connection,
    scope: &HookScope,
    page: Page,
) -> Result<HookPage, StoreError> {
    let Some(scope_row) = find_scope(conn, scope)? else {
        return Ok(HookPage {
            hooks: Vec::new(),
            total: 0,
        });
    };
    let total: i64 = conn
        .prepare_cached(&format!(
            "SELECT count(*) FROM hooks WHERE {} = ?1",
            scope_row.column
        ))?
        .query_row([scope_row.id], |row| row.get(0))?;
    let total = total.unsigned_abs();
    let hooks = conn
        .prepare_cached(&format!(
            "SELECT {HOOK_COLUMNS} FROM hooks h WHERE h.{} = ?1 ORDER BY h.id LIMIT ?2 OFFSET ?3",
            scope_row.column
        ))?
        .query_map(params![scope_row.id, page.per_page, page.offset()], |row| {
            read_hook(row, &scope_row.canonical)
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HookPage { hooks, total })
}

pub(super) fn list_all(conn: &Connection) -> Result<Vec<Hook>, StoreError> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {HOOK_COLUMNS}, a.login, r.name, o.login FROM hooks h
         LEFT JOIN repositories r ON r.id = h.repository_id
         LEFT JOIN accounts a ON a.id = r.account_id
         LEFT JOIN accounts o ON o.id = h.organization_id
         WHERE h.app_id IS NULL
         ORDER BY coalesce(a.login_key, o.login_key), r.name_key IS NOT NULL, r.name_key, h.id"
    ))?;
    let mut rows = statement.query([])?;
    let mut hooks = Vec::new();
    while let Some(row) = rows.next()? {
        let owner: Option<String> = row.get(HOOK_COLUMN_COUNT)?;
        let repo: Option<String> = row.get(HOOK_COLUMN_COUNT + 1)?;
        let org: Option<String> = row.get(HOOK_COLUMN_COUNT + 2)?;
        let scope = scope_from_names(owner.as_deref(), repo.as_deref(), org.as_deref())?;
        hooks.push(read_hook(row, &scope)?);
    }
    Ok(hooks)
}

pub(super) fn get_in(
    conn: &Connection,
    scope_row: &ScopeRow,
    id: HookId,
) -> Result<Option<Hook>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {HOOK_COLUMNS} FROM hooks h WHERE h.id = ?1 AND h.{} = ?2",
            scope_row.column
        ))?
        .query_row(params![id, scope_row.id], |row| {
            read_hook(row, &scope_row.canonical)
        })
        .optional()?)
}

pub(super) fn get(
    conn: &Connection,
    scope: &HookScope,
    id: HookId,
) -> Result<Option<Hook>, StoreError> {
    match find_scope(conn, scope)? {
        Some(scope_row) => get_in(conn, &scope_row, id),
        None => Ok(None),
    }
}

pub(super) fn update(
    conn: &Connection,
    scope: &HookScope,
    id: HookId,
    patch: &HookPatch,
) -> Result<HookUpdate, StoreError> {
    let Some(scope_row) = find_scope(conn, scope)? else {
        return Ok(HookUpdate::Missing);
    };
    let Some(mut hook) = get_in(conn, &scope_row, id)? else {
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
    conn.prepare_cached(
        "UPDATE hooks SET active = ?2, events = ?3, url = ?4, content_type = ?5, secret = ?6,
                          insecure_ssl = ?7, headers = ?8, signature = ?9, previous_secret = ?10,
                          previous_secret_expires_at = ?11, updated_at = ?12,
                          retry_schedule = ?13, rate_limit = ?14, ordering = ?15,
                          disabled_at = ?16, disabled_reason = ?17,
                          failing_since = CASE WHEN ?18 THEN NULL ELSE failing_since END,
                          failures = CASE WHEN ?18 THEN 0 ELSE failures END
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        settings.active,
        events_json(settings),
        config.url,
        config.content_type.as_str(),
        config.secret.as_ref().map(Secret::expose),
        config.insecure_ssl,
        extras.headers,
        extras.signature,
        extras.previous_secret,
        extras.previous_secret_expires_at,
        hook.updated_at.0,
        extras.retry_schedule,
        extras.rate_limit,
        extras.ordering,
        hook.disabled.as_ref().map(|disabled| disabled.at.0),
        hook.disabled
            .as_ref()
            .map(|disabled| disabled.reason.as_str()),
        change.reactivated,
    ])?;
    if change.end_line {
        conn.prepare_cached(&end_line(|n| format!("?{n}")))?
            .execute(params![id, hook.updated_at.0])?;
    }
    if change.reactivated {
        // What was held while it was disabled goes now, in the order it was published.
        conn.prepare_cached(&RELEASE_HELD.replace("{hook}", "?1"))?
            .execute([id])?;
        line_up(conn, &[id], hook.updated_at, true)?;
    }
    Ok(HookUpdate::Updated(Box::new(hook)))
}

/// Whether the scope has hook `id`.
pub(super) fn exists(conn: &Connection, scope: &HookScope, id: HookId) -> Result<bool, StoreError> {
    Ok(match find_scope(conn, scope)? {
        Some(scope_row) => get_in(conn, &scope_row, id)?.is_some(),
        None => false,
    })
}

pub(super) fn delete(conn: &Connection, scope: &HookScope, id: HookId) -> Result<bool, StoreError> {
    let Some(scope_row) = find_scope(conn, scope)? else {
        return Ok(false);
    };
    let deleted = conn
        .prepare_cached(&format!(
            "DELETE FROM hooks WHERE id = ?1 AND {} = ?2",
            scope_row.column
        ))?
        .execute(params![id, scope_row.id])?;
    Ok(deleted == 1)
}

pub(super) fn erase_expired_secrets(conn: &Connection, now: Timestamp) -> Result<u64, StoreError> {
    let erased = conn
        .prepare_cached(
            "UPDATE hooks SET previous_secret = NULL, previous_secret_expires_at = NULL
             WHERE previous_secret_expires_at <= ?1",
        )?
        .execute([now.0])?;
    Ok(erased as u64)
}
