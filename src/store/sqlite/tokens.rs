//! Token digests and the admin token's digest.

use rusqlite::{Connection, OptionalExtension, params};

use crate::domain::names::Login;
use crate::domain::timestamp::Timestamp;
use crate::store::columns::group_owners;
use crate::store::{StoreError, TokenHash, TokenRecord};

const ADMIN_TOKEN_SETTING: &str = "admin_token_sha256";

pub(super) fn init_admin_token(
    conn: &Connection,
    candidate: &TokenHash,
) -> Result<TokenHash, StoreError> {
    conn.execute(
        "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
        params![ADMIN_TOKEN_SETTING, candidate.as_slice()],
    )?;
    let stored: Vec<u8> = conn.query_row(
        "SELECT value FROM settings WHERE name = ?1",
        [ADMIN_TOKEN_SETTING],
        |row| row.get(0),
    )?;
    stored
        .try_into()
        .map_err(|_| StoreError::Corrupt("the admin token digest is not 32 bytes".to_owned()))
}

pub(super) fn create_token(
    conn: &Connection,
    hash: &TokenHash,
    owners: &[Login],
) -> Result<TokenRecord, StoreError> {
    let id: i64 = conn.query_row(
        "INSERT INTO tokens (hash, created_at) VALUES (?1, ?2) RETURNING id",
        params![hash.as_slice(), Timestamp::now().0],
        |row| row.get(0),
    )?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO token_owners (token_id, owner_key, owner) VALUES (?1, ?2, ?3)
         ON CONFLICT DO NOTHING",
    )?;
    for owner in owners {
        insert.execute(params![id, owner.key(), owner.as_str()])?;
    }
    Ok(TokenRecord {
        id,
        owners: owners.to_vec(),
    })
}

pub(super) fn find_token(
    conn: &Connection,
    hash: &TokenHash,
) -> Result<Option<TokenRecord>, StoreError> {
    let id: Option<i64> = conn
        .prepare_cached("SELECT id FROM tokens WHERE hash = ?1")?
        .query_row([hash.as_slice()], |row| row.get(0))
        .optional()?;
    let Some(id) = id else { return Ok(None) };
    let mut owners_query = conn
        .prepare_cached("SELECT owner FROM token_owners WHERE token_id = ?1 ORDER BY owner_key")?;
    let owners = owners_query
        .query_map([id], |row| row.get::<_, String>(0))?
        .map(|owner| {
            let owner = owner?;
            Login::parse(&owner).ok_or_else(|| StoreError::Corrupt(format!("owner {owner:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(TokenRecord { id, owners }))
}

pub(super) fn list_tokens(conn: &Connection) -> Result<Vec<TokenRecord>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT t.id, o.owner FROM tokens t LEFT JOIN token_owners o ON o.token_id = t.id
         ORDER BY t.id, o.owner_key",
    )?;
    let rows = statement
        .query_map([], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, Option<String>>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(group_owners(rows))
}
