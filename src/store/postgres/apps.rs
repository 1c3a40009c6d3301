//! GitHub Apps, their webhook and their installations.

use deadpool_postgres::GenericClient;

use super::hooks::{self, ensure_account};
use super::{all, exec, one, opt};
use crate::domain::hook::HookScope;
use crate::domain::ids::AppId;
use crate::domain::names::Login;
use crate::domain::timestamp::Timestamp;
use crate::store::columns::{APP_COLUMNS, read_app};
use crate::store::{AppKey, AppRecord, Hook, Installation, NewApp, StoreError};

pub(super) async fn create_app(
    db: &impl GenericClient,
    app: &NewApp,
) -> Result<Option<(AppRecord, Hook)>, StoreError> {
    let now = Timestamp::now();
    // A slug taken (now, or by a concurrent creation) inserts nothing.
    let inserted = opt(
        db,
        "INSERT INTO apps (slug, name, client_id, public_key_pem, events, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (slug) DO NOTHING RETURNING id",
        &[
            &app.slug,
            &app.name,
            &app.client_id,
            &app.public_key_pem,
            &serde_json::Value::from(app.events.clone()).to_string(),
            &now.0,
        ],
    )
    .await?;
    let Some(row) = inserted else {
        return Ok(None);
    };
    let id: AppId = row.try_get(0)?;
    let hook = hooks::create(db, &HookScope::App { app_id: id }, &app.hook).await?;
    let record = find_app(db, &AppKey::Id(id))
        .await?
        .ok_or_else(|| StoreError::Corrupt("an app just inserted is missing".to_owned()))?;
    Ok(Some((record, hook)))
}

pub(super) async fn find_app(
    db: &impl GenericClient,
    key: &AppKey,
) -> Result<Option<AppRecord>, StoreError> {
    let row = match key {
        AppKey::Id(id) => {
            let sql = format!("SELECT {APP_COLUMNS} FROM apps a WHERE a.id = $1");
            opt(db, &sql, &[id]).await?
        }
        AppKey::ClientId(client_id) => {
            let sql = format!("SELECT {APP_COLUMNS} FROM apps a WHERE a.client_id = $1");
            opt(db, &sql, &[client_id]).await?
        }
    };
    row.as_ref().map(read_app).transpose()
}

pub(super) async fn list_apps(db: &impl GenericClient) -> Result<Vec<AppRecord>, StoreError> {
    let sql = format!("SELECT {APP_COLUMNS} FROM apps a ORDER BY a.id");
    all(db, &sql, &[]).await?.iter().map(read_app).collect()
}

pub(super) async fn install_app(
    db: &impl GenericClient,
    app_id: AppId,
    account: &Login,
) -> Result<Option<Installation>, StoreError> {
    if find_app(db, &AppKey::Id(app_id)).await?.is_none() {
        return Ok(None);
    }
    let account_id = ensure_account(db, account).await?;
    exec(
        db,
        "INSERT INTO installations (app_id, account_id, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (app_id, account_id) DO NOTHING",
        &[&app_id, &account_id, &Timestamp::now().0],
    )
    .await?;
    let row = one(
        db,
        "SELECT i.id, a.login FROM installations i JOIN accounts a ON a.id = i.account_id
         WHERE i.app_id = $1 AND i.account_id = $2",
        &[&app_id, &account_id],
    )
    .await?;
    let login: &str = row.try_get(1)?;
    Ok(Some(Installation {
        id: row.try_get(0)?,
        app_id,
        account: Login::parse(login)
            .ok_or_else(|| StoreError::Corrupt("account login".to_owned()))?,
    }))
}
