//! Reading the delivery log: a hook's attempts, newest first, by keyset on the attempt id
//! (so pages stay exact while new attempts arrive).

use std::sync::Arc;

use deadpool_postgres::GenericClient;

use super::hooks::exists;
use super::{all, opt};
use crate::domain::hook::HookScope;
use crate::domain::ids::AttemptId;
use crate::store::columns::headers_from_json;
use crate::store::columns::{SUMMARY_COLUMNS, read_summary};
use crate::store::{AttemptDetail, AttemptQuery, AttemptSummary, HookId, StatusClass, StoreError};

pub(super) async fn list_attempts(
    db: &impl GenericClient,
    scope: &HookScope,
    hook_id: HookId,
    query: AttemptQuery,
) -> Result<Option<Vec<AttemptSummary>>, StoreError> {
    if !exists(db, scope, hook_id).await? {
        return Ok(None);
    }
    let status: Option<i64> = query.status.map(|class| match class {
        StatusClass::Success => 1,
        StatusClass::Failure => 2,
    });
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM attempts a JOIN events e ON e.id = a.event_id
         WHERE a.hook_id = $1 AND a.id < $2
           AND ($4::boolean IS NULL OR a.redelivery = $4::boolean)
           AND ($5::bigint IS NULL
                OR ($5::bigint = 1 AND a.status_code BETWEEN 200 AND 399)
                OR ($5::bigint = 2 AND (a.status_code = 0 OR a.status_code BETWEEN 400 AND 599)))
         ORDER BY a.id DESC LIMIT $3"
    );
    let rows = all(
        db,
        &sql,
        &[
            &hook_id,
            &query.before.map_or(i64::MAX, |id| id.0),
            &i64::from(query.limit),
            &query.redelivery,
            &status,
        ],
    )
    .await?;
    Ok(Some(
        rows.iter().map(read_summary).collect::<Result<_, _>>()?,
    ))
}

pub(super) async fn get_attempt(
    db: &impl GenericClient,
    scope: &HookScope,
    hook_id: HookId,
    attempt_id: AttemptId,
) -> Result<Option<AttemptDetail>, StoreError> {
    if !exists(db, scope, hook_id).await? {
        return Ok(None);
    }
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS}, a.url, a.request_headers, e.payload, a.response_headers,
                a.response_body
         FROM attempts a JOIN events e ON e.id = a.event_id
         WHERE a.id = $1 AND a.hook_id = $2"
    );
    opt(db, &sql, &[&attempt_id, &hook_id])
        .await?
        .map(|row| -> Result<_, StoreError> {
            Ok(AttemptDetail {
                summary: read_summary(&row)?,
                url: row.try_get(12)?,
                request_headers: headers_from_json(row.try_get(13)?),
                event_payload: Arc::from(row.try_get::<_, &[u8]>(14)?),
                response_headers: headers_from_json(row.try_get(15)?),
                response_body: row.try_get(16)?,
            })
        })
        .transpose()
}
