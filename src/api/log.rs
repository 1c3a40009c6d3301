//! The delivery log as GitHub's API shows it, for every kind of hook (repository,
//! organization, app): reading its query, pages by an opaque cursor with a `Link` to the
//! next, `hook-delivery-item` and `hook-delivery` objects, and redelivery's answer. The
//! resources that serve a log (`deliveries`, `apps`) call these; no handler calls another.
//!
//! Every attempt is an item; pages go newest first by an opaque cursor on the attempt id,
//! so items arriving meanwhile never shift a page (no item skipped or repeated).

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::http::header::LINK;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::pagination::read_per_page;
use crate::core::access::ManagedScope;
use crate::core::deliveries::AttemptView;
use crate::domain::ids::{AttemptId, InstallationId};
use crate::domain::timestamp::Timestamp;
use crate::domain::validate::Problems;
use crate::error::ApiError;
use crate::store::{AttemptQuery, AttemptSummary, HookId, Recovery, StatusClass, Trigger};
use crate::web::AppState;

/// An opaque cursor: the id below which the next page starts.
fn encode_cursor(before: AttemptId) -> String {
    hex::encode(before.0.to_be_bytes())
}

fn decode_cursor(text: &str) -> Option<AttemptId> {
    let bytes: [u8; 8] = hex::decode(text).ok()?.try_into().ok()?;
    Some(i64::from_be_bytes(bytes))
        .filter(|id| *id > 0)
        .map(AttemptId)
}

/// Reads `per_page`, `cursor`, `status` and `redelivery` (GitHub's), and Hookpost's
/// `trigger`, `event`, `guid`, `since` and `until`.
///
/// # Errors
/// 400 for a malformed cursor, 422 for any other malformed parameter.
pub fn read_query(query: &HashMap<String, String>) -> Result<AttemptQuery, ApiError> {
    let before = match query.get("cursor") {
        Some(cursor) => Some(decode_cursor(cursor).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "cursor {cursor:?} is not a cursor this API returned"
            ))
        })?),
        None => None,
    };
    let mut problems = Problems::new("HookDelivery");
    let limit = read_per_page(query, &mut problems);
    let status = match query.get("status").map(String::as_str) {
        None => None,
        Some("success") => Some(StatusClass::Success),
        Some("failure") => Some(StatusClass::Failure),
        Some("held") => Some(StatusClass::Held),
        Some(other) => {
            problems.invalid(
                "status",
                format!("status must be success, failure or held, not {other:?}"),
            );
            None
        }
    };
    let redelivery = match query.get("redelivery").map(String::as_str) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => {
            problems.invalid(
                "redelivery",
                format!("redelivery must be true or false, not {other:?}"),
            );
            None
        }
    };
    let trigger = query.get("trigger").and_then(|text| {
        let trigger = Trigger::parse(text);
        if trigger.is_none() {
            problems.invalid(
                "trigger",
                format!("trigger must be publish, retry, redelivery or recovery, not {text:?}"),
            );
        }
        trigger
    });
    let mut instant =
        |name: &str| read_instant(&mut problems, name, query.get(name).map(String::as_str));
    let since = instant("since");
    let until = instant("until");
    Ok(problems.finish(|| AttemptQuery {
        before,
        limit,
        status,
        redelivery,
        trigger,
        event: query.get("event").cloned(),
        guid: query.get("guid").cloned(),
        since,
        until,
        ..AttemptQuery::default()
    })?)
}

/// An ISO 8601 time given as `name`, or a problem on it.
fn read_instant(problems: &mut Problems, name: &str, text: Option<&str>) -> Option<Timestamp> {
    let text = text?;
    let instant = Timestamp::parse(text);
    if instant.is_none() {
        problems.invalid(
            name,
            format!("{name} must be an ISO 8601 time such as 2026-01-31T12:00:00Z, not {text:?}"),
        );
    }
    instant
}

fn seconds(duration_ms: i64) -> f64 {
    duration_ms as f64 / 1000.0
}

/// GitHub's `hook-delivery-item`: one attempt in a hook's delivery log.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = HookDeliveryItem)]
pub struct DeliveryItem {
    /// The attempt's id (what GitHub calls the delivery id).
    #[schema(value_type = i64)]
    pub id: AttemptId,
    /// The event's `X-GitHub-Delivery`: the same for every attempt and hook.
    pub guid: String,
    #[schema(format = DateTime)]
    pub delivered_at: String,
    /// Whether a retry or a manual redelivery made this attempt.
    pub redelivery: bool,
    /// Seconds.
    pub duration: f64,
    pub status: String,
    /// 0 without an HTTP response.
    pub status_code: u16,
    pub event: String,
    #[schema(required = true)]
    pub action: Option<String>,
    #[schema(value_type = Option<i64>, required = true)]
    pub installation_id: Option<InstallationId>,
    #[schema(required = true)]
    pub repository_id: Option<i64>,
    #[schema(format = DateTime)]
    pub throttled_at: Option<String>,
    /// Hookpost's extension: 1 for a delivery's first attempt, 2 for its first retry, …
    /// (a manual redelivery counts from 1 again).
    #[schema(minimum = 1)]
    pub attempt_number: u32,
    /// Hookpost's extension: what made this attempt (`redelivery` above is GitHub's flag,
    /// true for retries and redeliveries alike).
    #[schema(value_type = String, pattern = "^(publish|retry|redelivery|recovery)$")]
    pub trigger: &'static str,
    /// Hookpost's extension: when the automatic retry after this attempt is due; null
    /// when none is waiting.
    #[schema(format = DateTime, required = true)]
    pub next_attempt_at: Option<String>,
}

impl DeliveryItem {
    pub fn of(attempt: &AttemptSummary) -> Self {
        DeliveryItem {
            id: attempt.id,
            guid: attempt.guid.clone(),
            delivered_at: attempt.delivered_at.to_github(),
            redelivery: attempt.redelivery,
            duration: seconds(attempt.duration_ms),
            status: attempt.status.clone(),
            status_code: attempt.status_code,
            event: attempt.event.clone(),
            action: attempt.action.clone(),
            installation_id: attempt.installation_id,
            repository_id: attempt.repository_id,
            throttled_at: attempt.throttled_at.map(Timestamp::to_github),
            attempt_number: attempt.attempt_number,
            trigger: attempt.trigger.as_str(),
            next_attempt_at: attempt.next_attempt_at.map(Timestamp::to_github),
        }
    }
}

/// GitHub's `hook-delivery`: the item plus the request as sent and the response as received.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = HookDelivery)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub item: DeliveryItem,
    /// Where the attempt was sent.
    pub url: String,
    pub request: DeliveryRequest,
    pub response: DeliveryResponse,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryRequest {
    /// Repeated names are joined with `, `; credentials masked.
    pub headers: BTreeMap<String, String>,
    /// The payload as the receiver got it.
    #[schema(value_type = Option<Object>)]
    pub payload: Value,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryResponse {
    pub headers: BTreeMap<String, String>,
    /// At most 64 KiB of the body, as text.
    pub payload: String,
}

/// Headers as a map; repeated names are joined with `, ` as HTTP allows.
fn header_map(headers: &[(String, String)]) -> BTreeMap<String, String> {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        match map.get_mut(name) {
            Some(existing) => {
                existing.push_str(", ");
                existing.push_str(value);
            }
            None => {
                map.insert(name.clone(), value.clone());
            }
        }
    }
    map
}

impl DeliveryDetail {
    pub fn of(view: &AttemptView) -> Self {
        let detail = &view.detail;
        DeliveryDetail {
            item: DeliveryItem::of(&detail.summary),
            url: detail.url.clone(),
            request: DeliveryRequest {
                headers: header_map(&detail.request_headers),
                payload: serde_json::from_slice(&view.payload).unwrap_or(Value::Null),
            },
            response: DeliveryResponse {
                headers: header_map(&detail.response_headers),
                payload: String::from_utf8_lossy(&detail.response_body).into_owned(),
            },
        }
    }
}

/// Redelivery's answer: GitHub's `202 {}`.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Accepted {}

/// The `Link` to the page after `items`, when there is one.
pub fn next_link(
    deliveries_url: &str,
    query: &AttemptQuery,
    last_id: AttemptId,
) -> Option<HeaderValue> {
    let mut url = format!(
        "{deliveries_url}?per_page={}&cursor={}",
        query.limit,
        encode_cursor(last_id)
    );
    if let Some(status) = query.status {
        url.push_str(match status {
            StatusClass::Success => "&status=success",
            StatusClass::Failure => "&status=failure",
            StatusClass::Held => "&status=held",
        });
    }
    if let Some(redelivery) = query.redelivery {
        url.push_str(&format!("&redelivery={redelivery}"));
    }
    if let Some(trigger) = query.trigger {
        url.push_str(&format!("&trigger={}", trigger.as_str()));
    }
    for (name, value) in [("event", &query.event), ("guid", &query.guid)] {
        if let Some(value) = value {
            url.push_str(&format!(
                "&{name}={}",
                utf8_percent_encode(value, NON_ALPHANUMERIC)
            ));
        }
    }
    for (name, instant) in [("since", query.since), ("until", query.until)] {
        if let Some(instant) = instant {
            url.push_str(&format!("&{name}={}", instant.to_precise()));
        }
    }
    HeaderValue::from_str(&format!("<{url}>; rel=\"next\"")).ok()
}

/// A hook's delivery log, newest first; `deliveries_url` is where its pages live.
pub async fn list_log(
    state: &AppState,
    scope: &ManagedScope,
    hook_id: HookId,
    deliveries_url: &str,
    query: &HashMap<String, String>,
) -> Result<(HeaderMap, Json<Vec<DeliveryItem>>), ApiError> {
    let query = read_query(query)?;
    let page = state.core.attempts(scope, hook_id, query.clone()).await?;
    let mut headers = HeaderMap::new();
    if let Some(link) = page
        .next_before
        .and_then(|last| next_link(deliveries_url, &query, last))
    {
        headers.insert(LINK, link);
    }
    Ok((
        headers,
        Json(page.attempts.iter().map(DeliveryItem::of).collect()),
    ))
}

/// One attempt of a hook in full.
pub async fn show_log(
    state: &AppState,
    scope: &ManagedScope,
    hook_id: HookId,
    attempt_id: AttemptId,
) -> Result<Json<DeliveryDetail>, ApiError> {
    let view = state.core.attempt(scope, hook_id, attempt_id).await?;
    Ok(Json(DeliveryDetail::of(&view)))
}

/// Queues a new attempt of the delivery `attempt_id` belongs to → `202 {}`.
pub async fn redeliver_log(
    state: &AppState,
    scope: &ManagedScope,
    hook_id: HookId,
    attempt_id: AttemptId,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    state.core.redeliver(scope, hook_id, attempt_id).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted {})))
}

/// Reads a recovery body: `since`, and `until` if given, ISO 8601 times.
fn read_window(body: &Map<String, Value>) -> Result<(Timestamp, Option<Timestamp>), ApiError> {
    let mut problems = Problems::new("Recovery");
    let since = problems.required_string(body, "since", "since");
    let since = read_instant(&mut problems, "since", since);
    let until = problems.string(body, "until", "until");
    let until = read_instant(&mut problems, "until", until);
    Ok(problems.finish(|| (since.unwrap_or(Timestamp(0)), until))?)
}

/// A recovery as the API shows it (Hookpost's extension).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Recovery)]
pub struct RecoveryObject {
    pub id: i64,
    /// Deliveries queued: the events of the window whose latest attempt had failed.
    pub deliveries: u64,
    #[schema(format = DateTime)]
    pub since: String,
    #[schema(format = DateTime, required = true)]
    pub until: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// `running` until every queued delivery has been attempted, then `finished`.
    #[schema(value_type = String, pattern = "^(running|finished)$")]
    pub state: &'static str,
    pub queued: u64,
    /// Attempted so far.
    pub done: u64,
    pub succeeded: u64,
    pub failed: u64,
}

impl RecoveryObject {
    fn of(recovery: &Recovery) -> Self {
        RecoveryObject {
            id: recovery.id,
            deliveries: recovery.queued,
            since: recovery.since.to_precise(),
            until: recovery.until.map(Timestamp::to_precise),
            created_at: recovery.created_at.to_github(),
            state: if recovery.is_running() {
                "running"
            } else {
                "finished"
            },
            queued: recovery.queued,
            done: recovery.done,
            succeeded: recovery.succeeded,
            failed: recovery.failed,
        }
    }
}

/// Starts a recovery of the hook's failed deliveries → `202` with the recovery.
pub async fn recover_log(
    state: &AppState,
    scope: &ManagedScope,
    hook_id: HookId,
    body: &Map<String, Value>,
) -> Result<(StatusCode, Json<RecoveryObject>), ApiError> {
    let (since, until) = read_window(body)?;
    let recovery = state.core.recover(scope, hook_id, since, until).await?;
    Ok((StatusCode::ACCEPTED, Json(RecoveryObject::of(&recovery))))
}

/// One recovery of the hook, with its progress.
pub async fn show_recovery(
    state: &AppState,
    scope: &ManagedScope,
    hook_id: HookId,
    recovery_id: i64,
) -> Result<Json<RecoveryObject>, ApiError> {
    let recovery = state.core.recovery(scope, hook_id, recovery_id).await?;
    Ok(Json(RecoveryObject::of(&recovery)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(
            decode_cursor(&encode_cursor(AttemptId(123_456))),
            Some(AttemptId(123_456))
        );
        for bad in ["", "zz", "00", "0000000000000000", "not a cursor"] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }
}
