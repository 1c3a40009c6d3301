//! Admin-only endpoints under `/api/v3/admin`: owner tokens. Everyone but the admin gets
//! 404, so that the endpoints do not show they exist.

use axum::Json;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::body_schemas::TokenBody;
use super::extract::JsonObject;
use super::openapi::{Auth, Doc};
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
        Doc::new(Auth::Admin)
            .body::<TokenBody>(true)
            .replies::<CreatedToken>(StatusCode::CREATED),
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

/// A new owner token; the token itself is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    pub id: i64,
    pub token: String,
    /// The accounts whose hooks the token manages.
    pub owners: Vec<String>,
}

/// `POST /admin/tokens {"owners": [...]}` → `201 {"id", "token", "owners"}`.
async fn create_token(
    State(state): State<AppState>,
    principal: Principal,
    JsonObject(body): JsonObject,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    require_admin(&principal)?;
    let owners = read_owners(&body)?;
    let (record, token) = state.core.create_token(&principal, owners).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id: record.id,
            token: token.expose().to_owned(),
            owners: record
                .owners
                .iter()
                .map(|owner| owner.as_str().to_owned())
                .collect(),
        }),
    ))
}
