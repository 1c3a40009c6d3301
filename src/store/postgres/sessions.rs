//! Web UI sessions, by the digest of their id.

use deadpool_postgres::GenericClient;

use super::{exec, opt};
use crate::domain::timestamp::Timestamp;
use crate::store::{SessionRecord, StoreError, TokenHash};

pub(super) async fn create(
    db: &impl GenericClient,
    id_hash: &TokenHash,
    session: &SessionRecord,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec(db, "DELETE FROM sessions WHERE expires_at <= $1", &[&now.0]).await?;
    exec(
        db,
        "INSERT INTO sessions (id_hash, token_hash, csrf, expires_at) VALUES ($1, $2, $3, $4)",
        &[
            &id_hash.as_slice(),
            &session.token_hash.as_slice(),
            &session.csrf,
            &session.expires_at.0,
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn find(
    db: &impl GenericClient,
    id_hash: &TokenHash,
    now: Timestamp,
) -> Result<Option<SessionRecord>, StoreError> {
    let row = opt(
        db,
        "SELECT token_hash, csrf, expires_at FROM sessions WHERE id_hash = $1 AND expires_at > $2",
        &[&id_hash.as_slice(), &now.0],
    )
    .await?;
    row.map(|row| {
        let token_hash: Vec<u8> = row.try_get(0)?;
        Ok(SessionRecord {
            token_hash: token_hash
                .try_into()
                .map_err(|_| StoreError::Corrupt("a session's token digest".to_owned()))?,
            csrf: row.try_get(1)?,
            expires_at: Timestamp(row.try_get(2)?),
        })
    })
    .transpose()
}

pub(super) async fn delete(db: &impl GenericClient, id_hash: &TokenHash) -> Result<(), StoreError> {
    exec(
        db,
        "DELETE FROM sessions WHERE id_hash = $1",
        &[&id_hash.as_slice()],
    )
    .await?;
    Ok(())
}
