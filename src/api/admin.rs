//! Admin-only endpoints under `/api/v3/admin`: owner tokens. Everyone but the admin gets
//! 404, so that the endpoints do not show they exist.

use axum::Json;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use super::extract::JsonObject;
use super::routes::Routes;
use crate::auth::Principal;
use crate::core::access::require_admin;
use crate::domain::names::Login;
use crate::domain::validate::{Problems, ValidationErrors};
use crate::error::ApiError;
use crate::web::AppState;

pub fn routes() -> Routes {
    Routes::default().add(
        Method::POST,
        "/admin/tokens",
        "hookpost/create-token",
        "Create an owner token (admin)",
        create_token,
    )
}

/// Reads the non-empty list of owner logins of a token request.
///
/// # Errors
/// Every item that is not a login, or an empty or missing list.
fn read_owners(body: &Map<String, Value>) -> Result<Vec<Login>, ValidationErrors> {
    let mut problems = Problems::new("Token");
    let mut owners = Vec::new();
    match problems.string_list(body, "owners", "owners") {
        None if body.get("owners").is_none_or(Value::is_null) => {
            problems.missing("owners");
        }
        None => {}
        Some(names) if names.is_empty() => problems.invalid("owners", "owners must not be empty"),
        Some(names) => {
            for (index, name) in names.into_iter().enumerate() {
                match Login::parse(name) {
                    Some(login) => owners.push(login),
                    None => problems.invalid(
                        &format!("owners[{index}]"),
                        format!("{name:?} is not an account name"),
                    ),
                }
            }
        }
    }
    problems.finish(|| owners)
}

/// `POST /admin/tokens {"owners": [...]}` → `201 {"id", "token", "owners"}`.
async fn create_token(
    State(state): State<AppState>,
    principal: Principal,
    JsonObject(body): JsonObject,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_admin(&principal)?;
    let owners = read_owners(&body)?;
    let (record, token) = state.core.create_token(&principal, owners).await?;
    let owners: Vec<&str> = record.owners.iter().map(|owner| owner.as_str()).collect();
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": record.id, "token": token.expose(), "owners": owners})),
    ))
}
