//! Repository and organization webhooks: GitHub's `/repos/{owner}/{repo}/hooks…` and
//! `/orgs/{org}/hooks…`, served by one set of handlers parameterised by [`HookScope`].

use axum::Json;
use axum::extract::State;
use axum::http::header::{LINK, LOCATION};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};

use super::bodies;
use super::body_schemas::{ConfigBody, HookCreateBody, HookUpdateBody};
use super::extract::{JsonObject, QueryMap};
use super::openapi::{Auth, Doc, Query};
use super::pagination::{link_header, read_page};
use super::routes::Routes;
use super::scoped::Scoped;
use crate::core::github::{ConfigObject, HookObject, collection_path};
use crate::domain::hook::HookPatch;
use crate::error::ApiError;
use crate::web::{ApiBase, AppState};

pub fn routes() -> Routes {
    scoped_routes("/repos/{owner}/{repo}/hooks", "repos", "repo")
        .merge(scoped_routes("/orgs/{org}/hooks", "orgs", "org"))
        .add(
            Method::POST,
            "/repos/{owner}/{repo}/hooks/{hook_id}/tests",
            "repos/test-push-webhook",
            "Deliver the repository's latest push to the hook again",
            Doc::new(Auth::Token),
            test_push,
        )
        .add(
            Method::POST,
            "/repos/{owner}/{repo}/hooks/{hook_id}/test",
            "hookpost/test-push-webhook-by-test-url",
            "The same at the path GitHub's test_url names",
            Doc::new(Auth::Token),
            test_push,
        )
}

/// The operations repository and organization hooks share; `tag` is GitHub's operationId
/// prefix (`repos`, `orgs`), `kind` its config operations' suffix (`repo`, `org`).
fn scoped_routes(prefix: &str, tag: &str, kind: &str) -> Routes {
    let one = format!("{prefix}/{{hook_id}}");
    Routes::default()
        .add(
            Method::GET,
            prefix,
            &format!("{tag}/list-webhooks"),
            "List webhooks",
            Doc::new(Auth::Token).lists::<HookObject>(Query::Pages),
            list,
        )
        .add(
            Method::POST,
            prefix,
            &format!("{tag}/create-webhook"),
            "Create a webhook",
            Doc::new(Auth::Token)
                .body::<HookCreateBody>(true)
                .replies::<HookObject>(StatusCode::CREATED)
                .location(),
            create,
        )
        .add(
            Method::GET,
            &one,
            &format!("{tag}/get-webhook"),
            "Get a webhook",
            Doc::new(Auth::Token).replies::<HookObject>(StatusCode::OK),
            show,
        )
        .add(
            Method::PATCH,
            &one,
            &format!("{tag}/update-webhook"),
            "Update a webhook",
            Doc::new(Auth::Token)
                .body::<HookUpdateBody>(false)
                .replies::<HookObject>(StatusCode::OK),
            update,
        )
        .add(
            Method::DELETE,
            &one,
            &format!("{tag}/delete-webhook"),
            "Delete a webhook",
            Doc::new(Auth::Token),
            remove,
        )
        .add(
            Method::GET,
            &format!("{one}/config"),
            &format!("{tag}/get-webhook-config-for-{kind}"),
            "Get a webhook's configuration",
            Doc::new(Auth::Token).replies::<ConfigObject>(StatusCode::OK),
            show_config,
        )
        .add(
            Method::PATCH,
            &format!("{one}/config"),
            &format!("{tag}/update-webhook-config-for-{kind}"),
            "Update a webhook's configuration",
            Doc::new(Auth::Token)
                .body::<ConfigBody>(false)
                .replies::<ConfigObject>(StatusCode::OK),
            update_config,
        )
        .add(
            Method::POST,
            &format!("{one}/pings"),
            &format!("{tag}/ping-webhook"),
            "Send a ping event to a webhook",
            Doc::new(Auth::Token),
            ping,
        )
}

/// `POST …/hooks/{id}/pings` → 204.
async fn ping(
    State(state): State<AppState>,
    scoped: Scoped,
    ApiBase(base): ApiBase,
) -> Result<StatusCode, ApiError> {
    state
        .core
        .ping(&scoped.scope, scoped.hook_id()?, &base)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST …/hooks/{id}/tests` → 204; the repository's latest `push` is delivered again to
/// this hook if it subscribes to `push`.
async fn test_push(State(state): State<AppState>, scoped: Scoped) -> Result<StatusCode, ApiError> {
    state
        .core
        .test_push(&scoped.scope, scoped.hook_id()?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list(
    State(state): State<AppState>,
    scoped: Scoped,
    ApiBase(base): ApiBase,
    QueryMap(query): QueryMap,
) -> Result<(HeaderMap, Json<Vec<HookObject>>), ApiError> {
    let page = read_page(&query, "Hook")?;
    let found = state.core.list_hooks(&scoped.scope, page).await?;
    let mut headers = HeaderMap::new();
    let collection_url = format!("{base}{}", collection_path(scoped.scope.scope()));
    if let Some(link) = link_header(&collection_url, page, found.total) {
        headers.insert(LINK, link);
    }
    let hooks = found
        .hooks
        .iter()
        .map(|hook| HookObject::of(hook, &base))
        .collect();
    Ok((headers, Json(hooks)))
}

async fn create(
    State(state): State<AppState>,
    scoped: Scoped,
    ApiBase(base): ApiBase,
    JsonObject(body): JsonObject,
) -> Result<(StatusCode, HeaderMap, Json<HookObject>), ApiError> {
    let settings = bodies::hook_settings(&body, state.core.hook_rules())?;
    let saved = state
        .core
        .create_hook(scoped.scope, settings, &base)
        .await?;
    let object = HookObject::saved(&saved, &base);
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&object.url) {
        headers.insert(LOCATION, location);
    }
    Ok((StatusCode::CREATED, headers, Json(object)))
}

async fn show(
    State(state): State<AppState>,
    scoped: Scoped,
    ApiBase(base): ApiBase,
) -> Result<Json<HookObject>, ApiError> {
    let hook = state.core.hook(&scoped.scope, scoped.hook_id()?).await?;
    Ok(Json(HookObject::of(&hook, &base)))
}

async fn update(
    State(state): State<AppState>,
    scoped: Scoped,
    ApiBase(base): ApiBase,
    JsonObject(body): JsonObject,
) -> Result<Json<HookObject>, ApiError> {
    let patch = bodies::hook_patch(&body, state.core.hook_rules())?;
    let saved = state
        .core
        .update_hook(&scoped.scope, scoped.hook_id()?, patch)
        .await?;
    Ok(Json(HookObject::saved(&saved, &base)))
}

async fn remove(State(state): State<AppState>, scoped: Scoped) -> Result<StatusCode, ApiError> {
    state
        .core
        .delete_hook(&scoped.scope, scoped.hook_id()?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn show_config(
    State(state): State<AppState>,
    scoped: Scoped,
) -> Result<Json<ConfigObject>, ApiError> {
    let hook = state.core.hook(&scoped.scope, scoped.hook_id()?).await?;
    Ok(Json(ConfigObject::of(&hook.settings.config)))
}

async fn update_config(
    State(state): State<AppState>,
    scoped: Scoped,
    JsonObject(body): JsonObject,
) -> Result<Json<ConfigObject>, ApiError> {
    let patch = HookPatch::config_only(bodies::config_patch(&body, state.core.hook_rules())?);
    let saved = state
        .core
        .update_hook(&scoped.scope, scoped.hook_id()?, patch)
        .await?;
    Ok(Json(ConfigObject::saved(&saved)))
}
