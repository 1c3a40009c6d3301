//! Reading the delivery log: a hook's attempts, newest first, by keyset on the attempt id
//! (so pages stay exact while new attempts arrive).

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};

use super::hooks::{find_scope, get_in};
use crate::domain::hook::HookScope;
use crate::domain::ids::AttemptId;
use crate::store::columns::headers_from_json;
use crate::store::columns::{SUMMARY_COLUMNS, read_summary};
use crate::store::{AttemptDetail, AttemptQuery, AttemptSummary, HookId, StatusClass, StoreError};

fn hook_exists(conn: &Connection, scope: &HookScope, hook_id: HookId) -> Result<bool, StoreError> {
    Ok(match find_scope(conn, scope)? {
        Some(scope_row) => get_in(conn, &scope_row, hook_id)?.is_some(),
        None => false,
    })
}

pub(super) fn list_attempts(
    conn: &Connection,
    scope: &HookScope,
    hook_id: HookId,
    query: AttemptQuery,
) -> Result<Option<Vec<AttemptSummary>>, StoreError> {
    if !hook_exists(conn, scope, hook_id)? {
        return Ok(None);
    }
    let status = query.status.map(|class| match class {
        StatusClass::Success => 1,
        StatusClass::Failure => 2,
    });
    let attempts = conn
        .prepare_cached(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM attempts a JOIN events e ON e.id = a.event_id
             WHERE a.hook_id = ?1 AND a.id < ?2
               AND (?4 IS NULL OR a.redelivery = ?4)
               AND (?5 IS NULL
                    OR (?5 = 1 AND a.status_code BETWEEN 200 AND 399)
                    OR (?5 = 2 AND (a.status_code = 0 OR a.status_code BETWEEN 400 AND 599)))
             ORDER BY a.id DESC LIMIT ?3"
        ))?
        .query_map(
            params![
                hook_id,
                query.before.map_or(i64::MAX, |id| id.0),
                query.limit,
                query.redelivery,
                status
            ],
            |row| read_summary(row),
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(attempts))
}

pub(super) fn get_attempt(
    conn: &Connection,
    scope: &HookScope,
    hook_id: HookId,
    attempt_id: AttemptId,
) -> Result<Option<AttemptDetail>, StoreError> {
    if !hook_exists(conn, scope, hook_id)? {
        return Ok(None);
    }
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {SUMMARY_COLUMNS}, a.url, a.request_headers, e.payload, a.response_headers,
                    a.response_body
             FROM attempts a JOIN events e ON e.id = a.event_id
             WHERE a.id = ?1 AND a.hook_id = ?2"
        ))?
        .query_row(params![attempt_id, hook_id], |row| {
            Ok(AttemptDetail {
                summary: read_summary(row)?,
                url: row.get(12)?,
                request_headers: headers_from_json(&row.get::<_, String>(13)?),
                event_payload: Arc::from(row.get::<_, Vec<u8>>(14)?),
                response_headers: headers_from_json(&row.get::<_, String>(15)?),
                response_body: row.get(16)?,
            })
        })
        .optional()?)
}
