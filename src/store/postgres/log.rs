//! Reading the delivery log: a hook's attempts, newest first, by keyset on the attempt id
//! (so pages stay exact while new attempts arrive).

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use super::hooks::exists;
use super::{all, opt};
use crate::domain::hook::HookScope;
use crate::domain::ids::AttemptId;
use crate::store::columns::headers_from_json;
use crate::store::columns::{
    DETAIL_COLUMNS, LogParam, SUMMARY_COLUMNS, SUMMARY_ROWS, SUMMARY_WIDTH, log_count, log_page,
    read_summary, request_headers,
};
use crate::store::packing;
use crate::store::{AttemptDetail, AttemptQuery, AttemptSummary, HookId, StoreError};

pub(super) async fn list_attempts(
    db: &impl GenericClient,
    scope: &HookScope,
    hook_id: HookId,
    query: AttemptQuery,
) -> Result<Option<Vec<AttemptSummary>>, StoreError> {
    if !exists(db, scope, hook_id).await? {
        return Ok(None);
    }
    let (page, mut values) = log_page(hook_id, &query, |n| format!("${n}"));
    values.push(LogParam::Int(i64::from(query.limit)));
    let sql = format!("{page} LIMIT ${}", values.len());
    let values = bound(values);
    let rows = all(db, &sql, &params(&values)).await?;
    Ok(Some(
        rows.iter().map(read_summary).collect::<Result<_, _>>()?,
    ))
}

pub(super) async fn count_attempts(
    db: &impl GenericClient,
    scope: &HookScope,
    hook_id: HookId,
    query: &AttemptQuery,
    cap: u32,
) -> Result<Option<u64>, StoreError> {
    if !exists(db, scope, hook_id).await? {
        return Ok(None);
    }
    let (sql, values) = log_count(hook_id, query, cap, |n| format!("${n}"));
    let values = bound(values);
    let rows = all(db, &sql, &params(&values)).await?;
    let count: i64 = rows.first().map_or(Ok(0), |row| row.try_get(0))?;
    Ok(Some(count.unsigned_abs()))
}

/// A delivery-log query's values as PostgreSQL binds them.
fn bound(values: Vec<LogParam>) -> Vec<Box<dyn ToSql + Sync + Send>> {
    values
        .into_iter()
        .map(|value| -> Box<dyn ToSql + Sync + Send> {
            match value {
                LogParam::Int(int) => Box::new(int),
                LogParam::Text(text) => Box::new(text),
            }
        })
        .collect()
}

fn params(values: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    values
        .iter()
        .map(|value| value.as_ref() as &(dyn ToSql + Sync))
        .collect()
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
        "SELECT {SUMMARY_COLUMNS}, {DETAIL_COLUMNS} FROM {SUMMARY_ROWS}
         WHERE a.id = $1 AND a.hook_id = $2"
    );
    opt(db, &sql, &[&attempt_id, &hook_id])
        .await?
        .map(|row| -> Result<_, StoreError> {
            let own = |n: usize| SUMMARY_WIDTH + n;
            let summary = read_summary(&row)?;
            Ok(AttemptDetail {
                request_headers: request_headers(
                    row.try_get(own(1))?,
                    row.try_get(own(2))?,
                    &summary.guid,
                )?,
                summary,
                url: row.try_get(own(0))?,
                event_payload: packing::stored(row.try_get(own(3))?, row.try_get(own(6))?)?,
                response_headers: headers_from_json(row.try_get(own(4))?),
                response_body: row.try_get(own(5))?,
            })
        })
        .transpose()
}
