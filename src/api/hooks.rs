//! Repository and organization webhooks: GitHub's `/repos/{owner}/{repo}/hooks…` and
//! `/orgs/{org}/hooks…`, served by one set of handlers parameterised by [`HookScope`].

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::header::{LINK, LOCATION};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;
use super::extract::{ApiBase, JsonObject, QueryMap};
use super::pagination::{link_header, read_page};
use crate::auth::Principal;
use crate::domain::hook::{ConfigPatch, HookPatch, HookScope, HookSettings};
use crate::domain::names::{Login, RepoName};
use crate::error::ApiError;
use crate::store::{Hook, HookId};

pub fn router() -> Router<AppState> {
    scoped_routes("/repos/{owner}/{repo}/hooks").merge(scoped_routes("/orgs/{org}/hooks"))
}

fn scoped_routes(prefix: &str) -> Router<AppState> {
    Router::new()
        .route(prefix, get(list).post(create))
        .route(
            &format!("{prefix}/{{hook_id}}"),
            get(show).patch(update).delete(remove),
        )
        .route(
            &format!("{prefix}/{{hook_id}}/config"),
            get(show_config).patch(update_config),
        )
}

/// The hook collection (and hook id) a request names, once the caller is known to manage it.
///
/// Runs before the body is read, so a caller who may not see the scope gets 404 whatever it
/// sent.
struct Scoped {
    scope: HookScope,
    hook_id: Option<HookId>,
}

impl Scoped {
    fn hook_id(&self) -> Result<HookId, ApiError> {
        self.hook_id.ok_or(ApiError::NotFound)
    }
}

impl FromRequestParts<AppState> for Scoped {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = Principal::from_request_parts(parts, state).await?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound)?;
        let scope = scope_from_path(&params).ok_or(ApiError::NotFound)?;
        let hook_id = match params.get("hook_id") {
            Some(id) => Some(id.parse::<HookId>().map_err(|_| ApiError::NotFound)?),
            None => None,
        };
        let account = scope.account().ok_or(ApiError::NotFound)?;
        if !principal.may_manage(account) {
            return Err(ApiError::NotFound);
        }
        Ok(Scoped { scope, hook_id })
    }
}

fn scope_from_path(params: &HashMap<String, String>) -> Option<HookScope> {
    if let Some(org) = params.get("org") {
        return Some(HookScope::Organization {
            org: Login::parse(org)?,
        });
    }
    Some(HookScope::Repository {
        owner: Login::parse(params.get("owner")?)?,
        repo: RepoName::parse(params.get("repo")?)?,
    })
}

/// The API path of a scope's hook collection, e.g. `/repos/acme/widgets/hooks`.
pub fn collection_path(scope: &HookScope) -> String {
    match scope {
        HookScope::Repository { owner, repo } => format!("/repos/{owner}/{repo}/hooks"),
        HookScope::Organization { org } => format!("/orgs/{org}/hooks"),
        HookScope::App { .. } => "/app/hook".to_owned(),
    }
}

/// GitHub's hook object.
pub fn hook_json(hook: &Hook, base: &str) -> Value {
    let url = match hook.scope {
        HookScope::App { .. } => format!("{base}/app/hook"),
        _ => format!("{base}{}/{}", collection_path(&hook.scope), hook.id),
    };
    let settings = &hook.settings;
    let mut object = json!({
        "type": hook.scope.type_name(),
        "id": hook.id,
        "name": settings.name,
        "active": settings.active,
        "events": settings.events,
        "config": settings.config.to_github_json(),
        "updated_at": hook.updated_at.to_github(),
        "created_at": hook.created_at.to_github(),
        "url": url,
        "ping_url": format!("{url}/pings"),
        "deliveries_url": format!("{url}/deliveries"),
        "last_response": hook.last_response.to_github_json(),
    });
    if matches!(hook.scope, HookScope::Repository { .. }) {
        object["test_url"] = json!(format!("{url}/test"));
    }
    object
}

async fn list(
    State(state): State<AppState>,
    scoped: Scoped,
    ApiBase(base): ApiBase,
    QueryMap(query): QueryMap,
) -> Result<(HeaderMap, Json<Value>), ApiError> {
    let page = read_page(&query, "Hook")?;
    let found = state.store.list_hooks(&scoped.scope, page).await?;
    let mut headers = HeaderMap::new();
    let collection_url = format!("{base}{}", collection_path(&scoped.scope));
    if let Some(link) = link_header(&collection_url, page, found.total) {
        headers.insert(LINK, link);
    }
    let hooks: Vec<Value> = found
        .hooks
        .iter()
        .map(|hook| hook_json(hook, &base))
        .collect();
    Ok((headers, Json(Value::Array(hooks))))
}

async fn create(
    State(state): State<AppState>,
    scoped: Scoped,
    ApiBase(base): ApiBase,
    JsonObject(body): JsonObject,
) -> Result<(StatusCode, HeaderMap, Json<Value>), ApiError> {
    let settings = HookSettings::from_create(&body, &state.hook_rules)?;
    let hook = state.store.create_hook(scoped.scope, settings).await?;
    let object = hook_json(&hook, &base);
    let mut headers = HeaderMap::new();
    if let Some(location) = object["url"]
        .as_str()
        .and_then(|url| HeaderValue::from_str(url).ok())
    {
        headers.insert(LOCATION, location);
    }
    Ok((StatusCode::CREATED, headers, Json(object)))
}

async fn find(state: &AppState, scoped: &Scoped) -> Result<Hook, ApiError> {
    state
        .store
        .get_hook(&scoped.scope, scoped.hook_id()?)
        .await?
        .ok_or(ApiError::NotFound)
}

async fn show(
    State(state): State<AppState>,
    scoped: Scoped,
    ApiBase(base): ApiBase,
) -> Result<Json<Value>, ApiError> {
    let hook = find(&state, &scoped).await?;
    Ok(Json(hook_json(&hook, &base)))
}

async fn apply_patch(
    state: &AppState,
    scoped: &Scoped,
    patch: HookPatch,
) -> Result<Hook, ApiError> {
    state
        .store
        .update_hook(&scoped.scope, scoped.hook_id()?, patch)
        .await?
        .ok_or(ApiError::NotFound)
}

async fn update(
    State(state): State<AppState>,
    scoped: Scoped,
    ApiBase(base): ApiBase,
    JsonObject(body): JsonObject,
) -> Result<Json<Value>, ApiError> {
    let patch = HookPatch::from_body(&body, &state.hook_rules)?;
    let hook = apply_patch(&state, &scoped, patch).await?;
    Ok(Json(hook_json(&hook, &base)))
}

async fn remove(State(state): State<AppState>, scoped: Scoped) -> Result<StatusCode, ApiError> {
    if state
        .store
        .delete_hook(&scoped.scope, scoped.hook_id()?)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

async fn show_config(
    State(state): State<AppState>,
    scoped: Scoped,
) -> Result<Json<Value>, ApiError> {
    let hook = find(&state, &scoped).await?;
    Ok(Json(hook.settings.config.to_github_json()))
}

async fn update_config(
    State(state): State<AppState>,
    scoped: Scoped,
    JsonObject(body): JsonObject,
) -> Result<Json<Value>, ApiError> {
    let patch = HookPatch::config_only(ConfigPatch::from_body(&body, &state.hook_rules)?);
    let hook = apply_patch(&state, &scoped, patch).await?;
    Ok(Json(hook.settings.config.to_github_json()))
}
