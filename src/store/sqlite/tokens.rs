//! Token digests and the admin token's digest.

use rusqlite::{Connection, params};

use crate::domain::timestamp::Timestamp;
use crate::store::columns::{TOKEN_COLUMNS, group_tokens, read_token_row};
use crate::store::{NewToken, StoreError, TokenHash, TokenRecord};

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
    token: &NewToken,
    now: Timestamp,
) -> Result<TokenRecord, StoreError> {
    let id: i64 = conn.query_row(
        "INSERT INTO tokens (hash, created_at, scope, expires_at) VALUES (?1, ?2, ?3, ?4)
         RETURNING id",
        params![
            token.hash.as_slice(),
            now.0,
            token.scope.as_str(),
            token.expires_at.map(|at| at.0)
        ],
        |row| row.get(0),
    )?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO token_owners (token_id, owner_key, owner) VALUES (?1, ?2, ?3)
         ON CONFLICT DO NOTHING",
    )?;
    for owner in &token.owners {
        insert.execute(params![id, owner.key(), owner.as_str()])?;
    }
    tokens_where(conn, "t.id = ?1", [id])?
        .pop()
        .ok_or_else(|| StoreError::Corrupt("a token just inserted is missing".to_owned()))
}

pub(super) fn find_token(
    conn: &Connection,
    hash: &TokenHash,
) -> Result<Option<TokenRecord>, StoreError> {
    Ok(tokens_where(conn, "t.hash = ?1", [hash.as_slice()])?.pop())
}

pub(super) fn list_tokens(conn: &Connection) -> Result<Vec<TokenRecord>, StoreError> {
    tokens_where(conn, "true", [])
}

pub(super) fn revoke_token(
    conn: &Connection,
    id: i64,
    now: Timestamp,
) -> Result<Option<TokenRecord>, StoreError> {
    conn.execute(
        "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id, now.0],
    )?;
    Ok(tokens_where(conn, "t.id = ?1", [id])?.pop())
}

pub(super) fn token_used(conn: &Connection, id: i64, at: Timestamp) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE tokens SET last_used_at = ?2
         WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)",
        params![id, at.0],
    )?;
    Ok(())
}

/// The tokens matching `condition` on `tokens t`, with their owners.
fn tokens_where(
    conn: &Connection,
    condition: &str,
    parameters: impl rusqlite::Params,
) -> Result<Vec<TokenRecord>, StoreError> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {TOKEN_COLUMNS} FROM tokens t LEFT JOIN token_owners o ON o.token_id = t.id
         WHERE {condition} ORDER BY t.id, o.owner_key"
    ))?;
    let rows = statement
        .query_map(parameters, |row| read_token_row(row))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(group_tokens(rows))
}
