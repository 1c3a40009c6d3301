//! Token digests and the admin token's digest.

use deadpool_postgres::GenericClient;

use super::{Params, all, exec, one};
use crate::domain::timestamp::Timestamp;
use crate::store::columns::{TOKEN_COLUMNS, group_tokens, read_token_row};
use crate::store::{NewToken, StoreError, TokenHash, TokenRecord};

const ADMIN_TOKEN_SETTING: &str = "admin_token_sha256";

pub(super) async fn init_admin_token(
    db: &impl GenericClient,
    candidate: &TokenHash,
) -> Result<TokenHash, StoreError> {
    exec(
        db,
        "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        &[&ADMIN_TOKEN_SETTING, &candidate.as_slice()],
    )
    .await?;
    let stored: Vec<u8> = one(
        db,
        "SELECT value FROM settings WHERE name = $1",
        &[&ADMIN_TOKEN_SETTING],
    )
    .await?
    .try_get(0)?;
    stored
        .try_into()
        .map_err(|_| StoreError::Corrupt("the admin token digest is not 32 bytes".to_owned()))
}

pub(super) async fn create_token(
    db: &impl GenericClient,
    token: &NewToken,
    now: Timestamp,
) -> Result<TokenRecord, StoreError> {
    let id: i64 = one(
        db,
        "INSERT INTO tokens (hash, created_at, scope, expires_at) VALUES ($1, $2, $3, $4)
         RETURNING id",
        &[
            &token.hash.as_slice(),
            &now.0,
            &token.scope.as_str(),
            &token.expires_at.map(|at| at.0),
        ],
    )
    .await?
    .try_get(0)?;
    for owner in &token.owners {
        exec(
            db,
            "INSERT INTO token_owners (token_id, owner_key, owner) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&id, &owner.key(), &owner.as_str()],
        )
        .await?;
    }
    token_by_id(db, id)
        .await?
        .ok_or_else(|| StoreError::Corrupt("a token just inserted is missing".to_owned()))
}

pub(super) async fn find_token(
    db: &impl GenericClient,
    hash: &TokenHash,
) -> Result<Option<TokenRecord>, StoreError> {
    Ok(tokens_where(db, "t.hash = $1", &[&hash.as_slice()])
        .await?
        .pop())
}

pub(super) async fn list_tokens(db: &impl GenericClient) -> Result<Vec<TokenRecord>, StoreError> {
    tokens_where(db, "true", &[]).await
}

pub(super) async fn revoke_token(
    db: &impl GenericClient,
    id: i64,
    now: Timestamp,
) -> Result<Option<TokenRecord>, StoreError> {
    exec(
        db,
        "UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        &[&id, &now.0],
    )
    .await?;
    token_by_id(db, id).await
}

pub(super) async fn token_used(
    db: &impl GenericClient,
    id: i64,
    at: Timestamp,
) -> Result<(), StoreError> {
    exec(
        db,
        "UPDATE tokens SET last_used_at = $2
         WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
        &[&id, &at.0],
    )
    .await?;
    Ok(())
}

async fn token_by_id(db: &impl GenericClient, id: i64) -> Result<Option<TokenRecord>, StoreError> {
    Ok(tokens_where(db, "t.id = $1", &[&id]).await?.pop())
}

/// The tokens matching `condition` on `tokens t`, with their owners.
async fn tokens_where(
    db: &impl GenericClient,
    condition: &str,
    parameters: Params<'_>,
) -> Result<Vec<TokenRecord>, StoreError> {
    let rows = all(
        db,
        &format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens t LEFT JOIN token_owners o ON o.token_id = t.id
             WHERE {condition} ORDER BY t.id, o.owner_key"
        ),
        parameters,
    )
    .await?;
    let rows = rows
        .iter()
        .map(read_token_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(group_tokens(rows))
}
