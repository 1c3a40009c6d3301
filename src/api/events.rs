//! The producer side: `POST /api/v3/events` and GitHub's
//! `POST /repos/{owner}/{repo}/dispatches`.
//!
//! A 202 is sent only once the event and every delivery it fans out to are committed.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::AppState;
use super::extract::{JsonObject, PathParams, RawBody, parse_object};
use super::routes::Routes;
use super::scoped::scope_from_path_params;
use crate::auth::Principal;
use crate::domain::event::Publication;
use crate::domain::hook::HookScope;
use crate::domain::timestamp::Timestamp;
use crate::domain::validate::{ErrorCode, Problems};
use crate::error::ApiError;
use crate::store::{IdempotencyKey, LatestObjects, NewEvent, PublishOutcome};

pub fn routes() -> Routes {
    Routes::default()
        .add(
            Method::POST,
            "/events",
            "hookpost/publish-event",
            "Publish an event to every subscribed webhook",
            publish,
        )
        .add(
            Method::POST,
            "/repos/{owner}/{repo}/dispatches",
            "repos/create-dispatch-event",
            "Create a repository dispatch event",
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

/// The event to store for a valid publication; `raw` is its payload's original text.
pub fn new_event(publication: &Publication, raw: Option<Vec<u8>>) -> NewEvent {
    NewEvent {
        guid: uuid::Uuid::new_v4().to_string(),
        name: publication.event.clone(),
        action: publication.action(),
        repository: publication.repository.clone(),
        organization: publication.organization.clone(),
        target_repository_id: publication.payload_id("repository"),
        target_organization_id: publication.payload_id("organization"),
        payload: raw.unwrap_or_else(|| {
            serde_json::to_vec(&publication.payload).expect("a JSON object serializes")
        }),
        latest: LatestObjects {
            repository: publication.payload_object("repository"),
            organization: publication.payload_object("organization"),
            sender: publication.payload_object("sender"),
        },
    }
}

fn idempotency_key(
    principal: &Principal,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|key| !key.is_empty() && key.len() <= MAX_KEY_LENGTH)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "Idempotency-Key must be 1 to {MAX_KEY_LENGTH} visible ASCII characters"
            ))
        })?;
    let token_id = match principal {
        Principal::Admin => 0,
        Principal::Owner(record) => record.id,
    };
    Ok(Some(IdempotencyKey {
        token_id,
        key: key.to_owned(),
        body_hash: Sha256::digest(body).into(),
    }))
}

/// `POST /events` → `202 {"id": guid, "deliveries": n}`.
async fn publish(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    RawBody(bytes): RawBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = parse_object(&bytes)?;
    let publication = Publication::from_body(body)?;
    let accounts = publication
        .repository
        .iter()
        .map(|(owner, _)| owner)
        .chain(publication.organization.iter());
    for account in accounts {
        if !principal.may_manage(account) {
            return Err(ApiError::NotFound);
        }
    }
    let key = idempotency_key(&principal, &headers, &bytes)?;
    let outcome = state
        .store
        .publish(
            new_event(&publication, raw_payload(&bytes)),
            key,
            Timestamp::now(),
        )
        .await?;
    match outcome {
        PublishOutcome::Published { guid, deliveries } => {
            state.metrics.events_published.inc();
            if deliveries > 0 {
                state.wake.notify_one();
            }
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({"id": guid, "deliveries": deliveries})),
            ))
        }
        PublishOutcome::Replayed { guid, deliveries } => Ok((
            StatusCode::ACCEPTED,
            Json(json!({"id": guid, "deliveries": deliveries})),
        )),
        PublishOutcome::KeyReused => {
            let mut problems = Problems::new("Event");
            problems.push(
                "Idempotency-Key",
                ErrorCode::AlreadyExists,
                "this Idempotency-Key was used with a different request body",
            );
            Err(problems.finish(|| ()).unwrap_err().into())
        }
    }
}

/// An event Hookpost writes itself (`ping`, `repository_dispatch`): its objects came from
/// what is remembered, so they are not remembered again.
pub fn own_event(publication: &Publication) -> NewEvent {
    NewEvent {
        latest: LatestObjects::default(),
        ..new_event(publication, None)
    }
}

/// Adds the remembered `repository`, `organization` and `sender` objects to a payload
/// Hookpost writes itself.
pub fn add_latest(payload: &mut Map<String, Value>, latest: &LatestObjects) {
    for (key, text) in [
        ("repository", &latest.repository),
        ("organization", &latest.organization),
        ("sender", &latest.sender),
    ] {
        if let Some(object) = text
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
        {
            payload.insert(key.to_owned(), object);
        }
    }
}

/// GitHub's `POST /repos/{owner}/{repo}/dispatches`: publishes `repository_dispatch`.
async fn dispatch(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): PathParams,
    JsonObject(body): JsonObject,
) -> Result<StatusCode, ApiError> {
    let Some(HookScope::Repository { owner, repo }) = scope_from_path_params(&path) else {
        return Err(ApiError::NotFound);
    };
    if !principal.may_manage(&owner) {
        return Err(ApiError::NotFound);
    }
    let mut problems = Problems::new("Dispatch");
    let event_type = problems.required_string(&body, "event_type", "event_type");
    if event_type.is_some_and(|text| text.is_empty() || text.chars().count() > 100) {
        problems.invalid("event_type", "event_type must be 1 to 100 characters");
    }
    let client_payload = problems
        .object(&body, "client_payload", "client_payload")
        .cloned();
    let event_type = problems.finish(|| event_type.unwrap_or_default().to_owned())?;

    let scope = HookScope::Repository {
        owner: owner.clone(),
        repo: repo.clone(),
    };
    let latest = state.store.latest_objects(&scope).await?;
    let mut payload = Map::new();
    payload.insert("action".to_owned(), json!(event_type));
    payload.insert(
        "client_payload".to_owned(),
        Value::Object(client_payload.unwrap_or_default()),
    );
    add_latest(&mut payload, &latest);
    let publication = Publication {
        event: "repository_dispatch".to_owned(),
        repository: Some((owner.clone(), repo)),
        organization: Some(owner),
        payload,
    };
    let outcome = state
        .store
        .publish(own_event(&publication), None, Timestamp::now())
        .await?;
    state.metrics.events_published.inc();
    if matches!(outcome, PublishOutcome::Published { deliveries, .. } if deliveries > 0) {
        state.wake.notify_one();
    }
    Ok(StatusCode::NO_CONTENT)
}
