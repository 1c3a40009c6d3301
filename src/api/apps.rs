//! GitHub Apps: registration and installation (admin, under `/admin/apps`), and the
//! endpoints an app calls with its JWT: `GET /app`, `/app/hook/config` and the app hook's
//! delivery log.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::{Map, Value, json};

use super::bodies;
use super::extract::{JsonObject, PathParams, QueryMap};
use super::log::{list_log, redeliver_log, show_log};
use super::routes::Routes;
use super::scoped::number;
use crate::apps;
use crate::auth::Principal;
use crate::core::access::{ManagedScope, require_admin};
use crate::domain::hook::{HookPatch, HookRules, HookSettings};
use crate::domain::ids::AppId;
use crate::domain::names::Login;
use crate::domain::validate::{ErrorCode, Problems, ValidationErrors};
use crate::error::ApiError;
use crate::store::{AppRecord, AttemptId};
use crate::web::{ApiBase, AppState};

pub fn routes() -> Routes {
    Routes::default()
        .add(
            Method::POST,
            "/admin/apps",
            "hookpost/create-app",
            "Register a GitHub App (admin)",
            register,
        )
        .add(
            Method::POST,
            "/admin/apps/{app_id}/installations",
            "hookpost/create-installation",
            "Install an app on an account (admin)",
            install,
        )
        .add(
            Method::GET,
            "/app",
            "apps/get-authenticated",
            "Get the authenticated app",
            show_app,
        )
        .add(
            Method::GET,
            "/app/hook/config",
            "apps/get-webhook-config-for-app",
            "Get a webhook configuration for an app",
            show_config,
        )
        .add(
            Method::PATCH,
            "/app/hook/config",
            "apps/update-webhook-config-for-app",
            "Update a webhook configuration for an app",
            update_config,
        )
        .add(
            Method::GET,
            "/app/hook/deliveries",
            "apps/list-webhook-deliveries",
            "List deliveries for an app webhook",
            list_deliveries,
        )
        .add(
            Method::GET,
            "/app/hook/deliveries/{delivery_id}",
            "apps/get-webhook-delivery",
            "Get a delivery for an app webhook",
            show_delivery,
        )
        .add(
            Method::POST,
            "/app/hook/deliveries/{delivery_id}/attempts",
            "apps/redeliver-webhook-delivery",
            "Redeliver a delivery for an app webhook",
            redeliver,
        )
}

/// The app a request's `Authorization: Bearer <JWT>` authenticates.
pub struct AuthenticatedApp(pub AppRecord);

impl FromRequestParts<AppState> for AuthenticatedApp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or(ApiError::RequiresAuthentication)?
            .to_str()
            .map_err(|_| ApiError::Unauthorized(apps::UNDECODABLE.to_owned()))?;
        let token = header
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| ApiError::Unauthorized(apps::UNDECODABLE.to_owned()))?;
        Ok(AuthenticatedApp(state.core.authenticate_app(token).await?))
    }
}

/// Reads `POST /admin/apps`: `{"name", "events", "hook": {config}}`. The hook is read by
/// the same rules as a repository hook's create body, its config fields named `hook.*`.
fn read_registration(
    body: &Map<String, Value>,
    rules: &HookRules,
) -> Result<(String, HookSettings), ValidationErrors> {
    let mut problems = Problems::new("Integration");
    let name = problems
        .string(body, "name", "name")
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    if apps::slug(&name).is_empty() {
        problems.push(
            "name",
            ErrorCode::MissingField,
            "name must contain a letter or digit",
        );
    }
    let hook = bodies::hook_settings_under(&mut problems, body, "hook", rules);
    problems.finish(|| (name, hook))
}

/// `POST /admin/apps` → `201 {"id", "slug", "client_id", "pem"}`; the key is shown once.
async fn register(
    State(state): State<AppState>,
    principal: Principal,
    ApiBase(base): ApiBase,
    JsonObject(body): JsonObject,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_admin(&principal)?;
    let (name, hook) = read_registration(&body, state.core.hook_rules())?;
    let registered = state
        .core
        .register_app(&principal, &name, hook, Some(&base))
        .await?;
    let app = &registered.app;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": app.id,
            "slug": app.slug,
            "client_id": app.client_id,
            "name": app.name,
            "events": app.events,
            "pem": registered.private_key_pem.expose(),
        })),
    ))
}

/// `POST /admin/apps/{app_id}/installations {"account"}` → `201 {"id", "app_id", "account"}`.
async fn install(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(params): PathParams,
    JsonObject(body): JsonObject,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_admin(&principal)?;
    let app_id: AppId = params
        .get("app_id")
        .and_then(|id| id.parse().ok())
        .ok_or(ApiError::NotFound)?;
    let mut problems = Problems::new("Installation");
    let account = problems
        .required_string(&body, "account", "account")
        .and_then(|login| {
            Login::parse(login).or_else(|| {
                problems.invalid("account", format!("{login:?} is not an account name"));
                None
            })
        });
    let account = problems.finish(|| account.expect("checked"))?;
    let installation = state.core.install_app(&principal, app_id, account).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": installation.id,
            "app_id": installation.app_id,
            "account": {"login": installation.account.as_str()},
        })),
    ))
}

/// The owner every app shows: this Hookpost installation, as a GitHub organization.
fn owner_json(origin: &str, api: &str) -> Value {
    json!({
        "login": "hookpost",
        "id": 1,
        "node_id": "O_hookpost",
        "avatar_url": format!("{origin}/avatars/hookpost"),
        "gravatar_id": "",
        "url": format!("{api}/users/hookpost"),
        "html_url": format!("{origin}/hookpost"),
        "followers_url": format!("{api}/users/hookpost/followers"),
        "following_url": format!("{api}/users/hookpost/following{{/other_user}}"),
        "gists_url": format!("{api}/users/hookpost/gists{{/gist_id}}"),
        "starred_url": format!("{api}/users/hookpost/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/users/hookpost/subscriptions"),
        "organizations_url": format!("{api}/users/hookpost/orgs"),
        "repos_url": format!("{api}/users/hookpost/repos"),
        "events_url": format!("{api}/users/hookpost/events{{/privacy}}"),
        "received_events_url": format!("{api}/users/hookpost/received_events"),
        "type": "Organization",
        "site_admin": false,
    })
}

/// GitHub's `integration` object.
fn app_json(app: &AppRecord, api: &str) -> Value {
    let origin = api.strip_suffix("/api/v3").unwrap_or(api);
    let html_url = format!("{origin}/apps/{}", app.slug);
    json!({
        "id": app.id,
        "slug": app.slug,
        "node_id": format!("A_{}", app.id),
        "client_id": app.client_id,
        "owner": owner_json(origin, api),
        "name": app.name,
        "description": "",
        "external_url": html_url,
        "html_url": html_url,
        "created_at": app.created_at.to_github(),
        "updated_at": app.updated_at.to_github(),
        "permissions": {},
        "events": app.events,
        "installations_count": app.installations_count,
    })
}

async fn show_app(AuthenticatedApp(app): AuthenticatedApp, ApiBase(base): ApiBase) -> Json<Value> {
    Json(app_json(&app, &base))
}

async fn show_config(
    State(state): State<AppState>,
    AuthenticatedApp(app): AuthenticatedApp,
) -> Result<Json<Value>, ApiError> {
    let hook = state
        .core
        .hook(&ManagedScope::of_app(&app), app.hook_id)
        .await?;
    Ok(Json(hook.settings.config.to_github_json()))
}

async fn update_config(
    State(state): State<AppState>,
    AuthenticatedApp(app): AuthenticatedApp,
    JsonObject(body): JsonObject,
) -> Result<Json<Value>, ApiError> {
    let patch = HookPatch::config_only(bodies::config_patch(&body, state.core.hook_rules())?);
    let hook = state
        .core
        .update_hook(&ManagedScope::of_app(&app), app.hook_id, patch)
        .await?;
    Ok(Json(hook.settings.config.to_github_json()))
}

async fn list_deliveries(
    State(state): State<AppState>,
    AuthenticatedApp(app): AuthenticatedApp,
    ApiBase(base): ApiBase,
    QueryMap(query): QueryMap,
) -> Result<(HeaderMap, Json<Value>), ApiError> {
    let url = format!("{base}/app/hook/deliveries");
    let scope = ManagedScope::of_app(&app);
    list_log(&state, &scope, app.hook_id, &url, &query).await
}

fn delivery_id(params: &HashMap<String, String>) -> Result<AttemptId, ApiError> {
    number(params, "delivery_id")?
        .map(AttemptId)
        .ok_or(ApiError::NotFound)
}

async fn show_delivery(
    State(state): State<AppState>,
    AuthenticatedApp(app): AuthenticatedApp,
    PathParams(params): PathParams,
) -> Result<Json<Value>, ApiError> {
    let scope = ManagedScope::of_app(&app);
    show_log(&state, &scope, app.hook_id, delivery_id(&params)?).await
}

async fn redeliver(
    State(state): State<AppState>,
    AuthenticatedApp(app): AuthenticatedApp,
    PathParams(params): PathParams,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let scope = ManagedScope::of_app(&app);
    redeliver_log(&state, &scope, app.hook_id, delivery_id(&params)?).await
}
