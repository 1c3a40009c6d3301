//! Admin-only endpoints under `/api/v3/admin`: owner tokens. Everyone but the admin gets
//! 404, so that the endpoints do not show they exist.

use axum::Json;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::AppState;
use super::extract::JsonObject;
use super::routes::Routes;
use crate::auth::{self, Principal};
use crate::error::ApiError;

pub fn routes() -> Routes {
    Routes::default().add(
        Method::POST,
        "/admin/tokens",
        "hookpost/create-token",
        "Create an owner token (admin)",
        create_token,
    )
}

/// `POST /admin/tokens {"owners": [...]}` → `201 {"id", "token", "owners"}`.
async fn create_token(
    State(state): State<AppState>,
    principal: Principal,
    JsonObject(body): JsonObject,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    principal.require_admin()?;
    let owners = auth::read_owners(&body)?;
    let (record, token) = auth::create_owner_token(state.store.as_ref(), owners).await?;
    let owners: Vec<&str> = record.owners.iter().map(|owner| owner.as_str()).collect();
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": record.id, "token": token, "owners": owners})),
    ))
}
