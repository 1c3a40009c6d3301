//! Reading the delivery log: a hook's attempts, newest first, by keyset on the attempt id
//! (so pages stay exact while new attempts arrive).

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::hooks::exists as hook_exists;
use crate::domain::hook::HookScope;
use crate::domain::ids::AttemptId;
use crate::store::columns::headers_from_json;
use crate::store::columns::{
    DETAIL_COLUMNS, LogParam, SUMMARY_COLUMNS, SUMMARY_ROWS, SUMMARY_WIDTH, log_count, log_page,
    read_summary, request_headers,
};
use crate::store::packing;
use crate::store::{AttemptDetail, AttemptQuery, AttemptSummary, HookId, StoreError};

pub(super) fn list_attempts(
    conn: &Connection,
    scope: &HookScope,
    hook_id: HookId,
    query: AttemptQuery,
) -> Result<Option<Vec<AttemptSummary>>, StoreError> {
    if !hook_exists(conn, scope, hook_id)? {
        return Ok(None);
    }
    let (page, mut values) = log_page(hook_id, &query, |n| format!("?{n}"));
    values.push(LogParam::Int(i64::from(query.limit)));
    let limit = values.len();
    let attempts = conn
        .prepare_cached(&format!("{page} LIMIT ?{limit}"))?
        .query_map(params_from_iter(bound(values)), |row| read_summary(row))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(attempts))
}

pub(super) fn count_attempts(
    conn: &Connection,
    scope: &HookScope,
    hook_id: HookId,
    query: &AttemptQuery,
    cap: u32,
) -> Result<Option<u64>, StoreError> {
    if !hook_exists(conn, scope, hook_id)? {
        return Ok(None);
    }
    let (sql, values) = log_count(hook_id, query, cap, |n| format!("?{n}"));
    let count: i64 = conn
        .prepare_cached(&sql)?
        .query_row(params_from_iter(bound(values)), |row| row.get(0))?;
    Ok(Some(count.unsigned_abs()))
}

/// A delivery-log query's values as SQLite binds them.
fn bound(values: Vec<LogParam>) -> impl Iterator<Item = Value> {
    values.into_iter().map(|value| match value {
        LogParam::Int(int) => Value::Integer(int),
        LogParam::Text(text) => Value::Text(text),
    })
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
    conn.prepare_cached(&format!(
        "SELECT {SUMMARY_COLUMNS}, {DETAIL_COLUMNS} FROM {SUMMARY_ROWS}
             WHERE a.id = ?1 AND a.hook_id = ?2"
    ))?
    .query_row(params![attempt_id, hook_id], |row| {
        let own = |n: usize| SUMMARY_WIDTH + n;
        let summary = read_summary(row)?;
        let (values, template) = (
            row.get::<_, String>(own(1))?,
            row.get::<_, Option<String>>(own(2))?,
        );
        let (raw, packed) = (
            row.get::<_, Option<Vec<u8>>>(own(3))?,
            row.get::<_, Option<Vec<u8>>>(own(6))?,
        );
        let (url, response_headers, response_body) = (
            row.get(own(0))?,
            headers_from_json(&row.get::<_, String>(own(4))?),
            row.get(own(5))?,
        );
        // Decoding errors are the store's, not SQLite's: answered after the row is read.
        Ok((|| {
            Ok(AttemptDetail {
                request_headers: request_headers(&values, template.as_deref(), &summary.guid)?,
                event_payload: packing::stored(raw.as_deref(), packed.as_deref())?,
                url,
                response_headers,
                response_body,
                summary,
            })
        })())
    })
    .optional()?
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{StatusClass, Trigger};

    /// SQLite's query plan of a delivery-log page.
    fn plan(query: &AttemptQuery) -> String {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrations::migrate(&mut conn).unwrap();
        let (page, values) = log_page(HookId(1), query, |n| format!("?{n}"));
        let limit = values.len() + 1;
        let mut values: Vec<Value> = bound(values).collect();
        values.push(Value::Integer(30));
        let mut statement = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {page} LIMIT ?{limit}"))
            .unwrap();
        let details: Vec<String> = statement
            .query_map(params_from_iter(values), |row| row.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        details.join("\n")
    }

    #[test]
    fn sparse_filters_read_their_own_indexes_not_the_hooks_whole_log() {
        let failures = AttemptQuery {
            status: Some(StatusClass::Failure),
            limit: 30,
            ..AttemptQuery::default()
        };
        assert!(
            plan(&failures).contains("attempts_failed_by_hook"),
            "{}",
            plan(&failures)
        );
        for query in [
            AttemptQuery {
                redelivery: Some(true),
                limit: 30,
                ..AttemptQuery::default()
            },
            AttemptQuery {
                trigger: Some(Trigger::Retry),
                limit: 30,
                ..AttemptQuery::default()
            },
        ] {
            assert!(
                plan(&query).contains("attempts_redelivered_by_hook"),
                "{query:?}: {}",
                plan(&query)
            );
        }
    }
}
