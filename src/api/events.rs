//! The producer side: `POST /api/v3/events` and GitHub's
//! `POST /repos/{owner}/{repo}/dispatches`.
//!
//! A 202 is sent only once the event and every delivery it fans out to are committed.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::bodies;
use super::body_schemas::{DispatchBody, PublishBody};
use super::extract::{JsonObject, PathParams, RawBody, parse_object};
use super::openapi::{Auth, Doc};
use super::routes::Routes;
use crate::auth::Principal;
use crate::core::access::authorize;
use crate::core::events::KeyedRequest;
use crate::domain::hook::HookScope;
use crate::domain::validate::Problems;
use crate::error::ApiError;
use crate::web::{AppState, scope_from_path_params};

pub fn routes() -> Routes {
    Routes::default()
        .add(
            Method::POST,
            "/events",
            "hookpost/publish-event",
            "Publish an event to every subscribed webhook",
            Doc::new(Auth::Token)
                .body::<PublishBody>(true)
                .replies::<Published>(StatusCode::ACCEPTED)
                .idempotency_key(),
            publish,
        )
        .add(
            Method::POST,
            "/repos/{owner}/{repo}/dispatches",
            "repos/create-dispatch-event",
            "Create a repository dispatch event",
            Doc::new(Auth::Token).body::<DispatchBody>(true),
            dispatch,
        )
}

/// Longest `Idempotency-Key` accepted.
const MAX_KEY_LENGTH: usize = 255;

/// The payload exactly as the publisher wrote it, so that receivers get its very bytes;
/// `None` when it cannot be cut out (then it is re-serialized).
fn raw_payload(body: &[u8]) -> Option<Vec<u8>> {
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        payload: &'a serde_json::value::RawValue,
    }
    let envelope: Envelope<'_> = serde_json::from_slice(body).ok()?;
    Some(envelope.payload.get().as_bytes().to_vec())
}

/// The caller's `Idempotency-Key`, if any, with the digest of the request it came with.
fn idempotency_key(headers: &HeaderMap, body: &[u8]) -> Result<Option<KeyedRequest>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    // Visible ASCII and spaces (`to_str` would also let a tab through).
    let key = value
        .to_str()
        .ok()
        .filter(|key| {
            (1..=MAX_KEY_LENGTH).contains(&key.len())
                && key.bytes().all(|byte| matches!(byte, b' '..=b'~'))
        })
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "Idempotency-Key must be 1 to {MAX_KEY_LENGTH} visible ASCII characters"
            ))
        })?;
    Ok(Some(KeyedRequest {
        key: key.to_owned(),
        body_hash: Sha256::digest(body).into(),
    }))
}

/// `POST /events`'s answer once everything is committed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Published {
    /// The event's GUID: every delivery's `X-GitHub-Delivery`.
    pub id: String,
    /// How many hooks it was queued for.
    pub deliveries: u64,
}

/// `POST /events` → `202 {"id": guid, "deliveries": n}`.
async fn publish(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    RawBody(bytes): RawBody,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    let body = parse_object(&bytes)?;
    let publication = bodies::publication(body)?;
    let key = idempotency_key(&headers, &bytes)?;
    let published = state
        .core
        .publish(&principal, publication, raw_payload(&bytes), key)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Published {
            id: published.guid,
            deliveries: published.deliveries,
        }),
    ))
}

/// GitHub's `POST /repos/{owner}/{repo}/dispatches`: publishes `repository_dispatch`.
async fn dispatch(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams,
    JsonObject(body): JsonObject,
) -> Result<StatusCode, ApiError> {
    let scope = match scope_from_path_params(&path) {
        Some(scope @ HookScope::Repository { .. }) => authorize(&principal, scope)?,
        _ => return Err(ApiError::NotFound),
    };
    let mut problems = Problems::new("Dispatch");
    let event_type = problems.required_string(&body, "event_type", "event_type");
    if event_type.is_some_and(|text| text.is_empty() || text.chars().count() > 100) {
        problems.invalid("event_type", "event_type must be 1 to 100 characters");
    }
    let client_payload = problems
        .object(&body, "client_payload", "client_payload")
        .cloned();
    let event_type = problems.finish(|| event_type.unwrap_or_default().to_owned())?;
    state
        .core
        .dispatch(&scope, &event_type, client_payload.unwrap_or_default())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
