//! GitHub Apps, their webhook and their installations.

use rusqlite::{Connection, OptionalExtension, params};

use super::hooks::{self, ensure_account};
use crate::domain::hook::HookScope;
use crate::domain::ids::{AppId, InstallationId};
use crate::domain::names::Login;
use crate::domain::timestamp::Timestamp;
use crate::store::columns::{APP_COLUMNS, read_app};
use crate::store::{AppKey, AppRecord, Hook, Installation, NewApp, StoreError};

pub(super) fn create_app(
    conn: &Connection,
    app: &NewApp,
) -> Result<Option<(AppRecord, Hook)>, StoreError> {
    let taken: Option<i64> = conn
        .prepare_cached("SELECT id FROM apps WHERE slug = ?1")?
        .query_row([&app.slug], |row| row.get(0))
        .optional()?;
    if taken.is_some() {
        return Ok(None);
    }
    let now = Timestamp::now();
    let id: AppId = conn
        .prepare_cached(
            "INSERT INTO apps (slug, name, client_id, public_key_pem, events, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) RETURNING id",
        )?
        .query_row(
            params![
                app.slug,
                app.name,
                app.client_id,
                app.public_key_pem,
                serde_json::Value::from(app.events.clone()).to_string(),
                now.0
            ],
            |row| row.get(0),
        )?;
    let hook = hooks::create(conn, &HookScope::App { app_id: id }, &app.hook)?;
    let record = find_app(conn, &AppKey::Id(id))?
        .ok_or_else(|| StoreError::Corrupt("an app just inserted is missing".to_owned()))?;
    Ok(Some((record, hook)))
}

pub(super) fn find_app(conn: &Connection, key: &AppKey) -> Result<Option<AppRecord>, StoreError> {
    let found = match key {
        AppKey::Id(id) => conn
            .prepare_cached(&format!("SELECT {APP_COLUMNS} FROM apps a WHERE a.id = ?1"))?
            .query_row([id], |row| read_app(row))
            .optional()?,
        AppKey::ClientId(client_id) => conn
            .prepare_cached(&format!(
                "SELECT {APP_COLUMNS} FROM apps a WHERE a.client_id = ?1"
            ))?
            .query_row([client_id], |row| read_app(row))
            .optional()?,
    };
    Ok(found)
}

pub(super) fn list_apps(conn: &Connection) -> Result<Vec<AppRecord>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {APP_COLUMNS} FROM apps a ORDER BY a.id"))?
        .query_map([], |row| read_app(row))?
        .collect::<Result<Vec<_>, _>>()?)
}

pub(super) fn install_app(
    conn: &Connection,
    app_id: AppId,
    account: &Login,
) -> Result<Option<Installation>, StoreError> {
    if find_app(conn, &AppKey::Id(app_id))?.is_none() {
        return Ok(None);
    }
    let account_id = ensure_account(conn, account)?;
    conn.prepare_cached(
        "INSERT INTO installations (app_id, account_id, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (app_id, account_id) DO NOTHING",
    )?
    .execute(params![app_id, account_id, Timestamp::now().0])?;
    let (id, login): (InstallationId, String) = conn
        .prepare_cached(
            "SELECT i.id, a.login FROM installations i JOIN accounts a ON a.id = i.account_id
             WHERE i.app_id = ?1 AND i.account_id = ?2",
        )?
        .query_row(params![app_id, account_id], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
    Ok(Some(Installation {
        id,
        app_id,
        account: Login::parse(&login)
            .ok_or_else(|| StoreError::Corrupt("account login".to_owned()))?,
    }))
}
