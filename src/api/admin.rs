//! Admin-only endpoints under `/api/v3/admin`: owner tokens. Everyone but the admin gets
//! 404, so that the endpoints do not show they exist.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::body_schemas::{TokenBody, TokenScopeName};
use super::extract::{JsonObject, PathParams};
use super::openapi::{Auth, Doc, Query};
use super::routes::Routes;
use crate::auth::Principal;
use crate::core::access::require_admin;
use crate::core::admin::TokenRequest;
use crate::domain::names::Login;
use crate::domain::timestamp::Timestamp;
use crate::domain::validate::{Problems, ValidationErrors};
use crate::error::ApiError;
use crate::store::{TokenRecord, TokenScope};
use crate::web::AppState;

/// The longest `expires_in`: ten years, in seconds.
const LONGEST_EXPIRY: u64 = 315_360_000;

pub fn routes() -> Routes {
    Routes::default()
        .add(
            Method::GET,
            "/admin/tokens",
            "hookpost/list-tokens",
            "List owner tokens, revoked ones included (admin)",
            Doc::new(Auth::Admin).lists::<TokenObject>(Query::None),
            list_tokens,
        )
        .add(
            Method::POST,
            "/admin/tokens",
            "hookpost/create-token",
            "Create an owner token (admin)",
            Doc::new(Auth::Admin)
                .body::<TokenBody>(true)
                .replies::<CreatedToken>(StatusCode::CREATED),
            create_token,
        )
        .add(
            Method::DELETE,
            "/admin/tokens/{token_id}",
            "hookpost/revoke-token",
            "Revoke an owner token: refused on every node within a second (admin)",
            Doc::new(Auth::Admin),
            revoke_token,
        )
}

/// Reads a token request: the non-empty list of owner logins, the scope and the expiry.
///
/// # Errors
/// Every item that is not a login, an empty or missing list, an unknown scope, an expiry
/// out of range.
fn read_request(body: &Map<String, Value>) -> Result<TokenRequest, ValidationErrors> {
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
    let scope = match problems.string(body, "scope", "scope") {
        None => TokenScope::default(),
        Some(name) => TokenScope::parse(name).unwrap_or_else(|| {
            problems.invalid("scope", "scope must be \"manage\" or \"publish\"");
            TokenScope::default()
        }),
    };
    let expires_at = problems
        .whole_number(body, "expires_in", "expires_in", 1..=LONGEST_EXPIRY)
        .map(|seconds| Timestamp::now().after(Duration::from_secs(seconds)));
    problems.finish(|| TokenRequest {
        owners,
        scope,
        expires_at,
    })
}

/// An owner token's record; the token itself is never shown again after its creation.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Token)]
pub struct TokenObject {
    pub id: i64,
    /// The accounts whose hooks the token manages.
    pub owners: Vec<String>,
    #[schema(value_type = TokenScopeName)]
    pub scope: &'static str,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// After this instant the token is refused; `null`: never.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    /// Up to a minute behind; `null`: never used.
    #[schema(format = DateTime)]
    pub last_used_at: Option<String>,
    /// `null` unless the token was revoked.
    #[schema(format = DateTime)]
    pub revoked_at: Option<String>,
}

impl From<&TokenRecord> for TokenObject {
    fn from(record: &TokenRecord) -> Self {
        let time = |at: Option<Timestamp>| at.map(Timestamp::to_github);
        TokenObject {
            id: record.id,
            owners: record
                .owners
                .iter()
                .map(|owner| owner.as_str().to_owned())
                .collect(),
            scope: record.scope.as_str(),
            created_at: record.created_at.to_github(),
            expires_at: time(record.expires_at),
            last_used_at: time(record.last_used_at),
            revoked_at: time(record.revoked_at),
        }
    }
}

/// A new owner token; the token itself is shown this once.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CreatedToken)]
pub struct CreatedToken {
    pub token: String,
    #[serde(flatten)]
    pub record: TokenObject,
}

/// `GET /admin/tokens` → `200 [Token]`, oldest first.
async fn list_tokens(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<TokenObject>>, ApiError> {
    let tokens = state.core.tokens(&principal).await?;
    Ok(Json(tokens.iter().map(TokenObject::from).collect()))
}

/// `POST /admin/tokens {"owners": [...], "scope"?, "expires_in"?}` → `201 CreatedToken`.
async fn create_token(
    State(state): State<AppState>,
    principal: Principal,
    JsonObject(body): JsonObject,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    require_admin(&principal)?;
    let request = read_request(&body)?;
    let (record, token) = state.core.create_token(&principal, request).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: token.expose().to_owned(),
            record: TokenObject::from(&record),
        }),
    ))
}

/// `DELETE /admin/tokens/{token_id}` → `204`; revoking a revoked token is a `204` too.
async fn revoke_token(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(params): PathParams,
) -> Result<StatusCode, ApiError> {
    let id: i64 = params
        .get("token_id")
        .and_then(|id| id.parse().ok())
        .ok_or(ApiError::NotFound)?;
    state.core.revoke_token(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
