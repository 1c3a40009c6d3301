//! Web UI sessions, by the digest of their id.

use rusqlite::{Connection, OptionalExtension, params};

use crate::domain::timestamp::Timestamp;
use crate::store::{SessionRecord, StoreError, TokenHash};

pub(super) fn create(
    conn: &Connection,
    id_hash: &TokenHash,
    session: &SessionRecord,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?
        .execute([now.0])?;
    conn.prepare_cached(
        "INSERT INTO sessions (id_hash, token_hash, csrf, expires_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        id_hash.as_slice(),
        session.token_hash.as_slice(),
        session.csrf,
        session.expires_at.0
    ])?;
    Ok(())
}

pub(super) fn find(
    conn: &Connection,
    id_hash: &TokenHash,
    now: Timestamp,
) -> Result<Option<SessionRecord>, StoreError> {
    let row: Option<(Vec<u8>, String, i64)> = conn
        .prepare_cached(
            "SELECT token_hash, csrf, expires_at FROM sessions
             WHERE id_hash = ?1 AND expires_at > ?2",
        )?
        .query_row(params![id_hash.as_slice(), now.0], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()?;
    row.map(|(token_hash, csrf, expires_at)| {
        Ok(SessionRecord {
            token_hash: token_hash
                .try_into()
                .map_err(|_| StoreError::Corrupt("a session's token digest".to_owned()))?,
            csrf,
            expires_at: Timestamp(expires_at),
        })
    })
    .transpose()
}

pub(super) fn delete(conn: &Connection, id_hash: &TokenHash) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM sessions WHERE id_hash = ?1")?
        .execute([id_hash.as_slice()])?;
    Ok(())
}
