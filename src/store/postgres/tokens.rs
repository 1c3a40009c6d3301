//! Token digests and the admin token's digest.

use deadpool_postgres::GenericClient;

use super::{all, exec, one, opt};
use crate::domain::names::Login;
use crate::domain::timestamp::Timestamp;
use crate::store::columns::group_owners;
use crate::store::{StoreError, TokenHash, TokenRecord};

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
    hash: &TokenHash,
    owners: &[Login],
) -> Result<TokenRecord, StoreError> {
    let id: i64 = one(
        db,
        "INSERT INTO tokens (hash, created_at) VALUES ($1, $2) RETURNING id",
        &[&hash.as_slice(), &Timestamp::now().0],
    )
    .await?
    .try_get(0)?;
    for owner in owners {
        exec(
            db,
            "INSERT INTO token_owners (token_id, owner_key, owner) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&id, &owner.key(), &owner.as_str()],
        )
        .await?;
    }
    Ok(TokenRecord {
        id,
        owners: owners.to_vec(),
    })
}

pub(super) async fn find_token(
    db: &impl GenericClient,
    hash: &TokenHash,
) -> Result<Option<TokenRecord>, StoreError> {
    let Some(row) = opt(
        db,
        "SELECT id FROM tokens WHERE hash = $1",
        &[&hash.as_slice()],
    )
    .await?
    else {
        return Ok(None);
    };
    let id: i64 = row.try_get(0)?;
    let owners = all(
        db,
        "SELECT owner FROM token_owners WHERE token_id = $1 ORDER BY owner_key",
        &[&id],
    )
    .await?
    .iter()
    .map(|row| {
        let owner: &str = row.try_get(0)?;
        Login::parse(owner).ok_or_else(|| StoreError::Corrupt(format!("owner {owner:?}")))
    })
    .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(TokenRecord { id, owners }))
}

pub(super) async fn list_tokens(db: &impl GenericClient) -> Result<Vec<TokenRecord>, StoreError> {
    let rows = all(
        db,
        "SELECT t.id, o.owner FROM tokens t LEFT JOIN token_owners o ON o.token_id = t.id
         ORDER BY t.id, o.owner_key",
        &[],
    )
    .await?;
    let pairs = rows
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<_, StoreError>>()?;
    Ok(group_owners(pairs))
}
