//! Repository and organization webhooks: GitHub's `/repos/{owner}/{repo}/hooks…` and
//! `/orgs/{org}/hooks…`, served by one set of handlers parameterised by [`HookScope`].

use axum::Json;
use axum::extract::State;
use axum::http::header::{LINK, LOCATION};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{Value, json};

use super::AppState;
use super::events::{add_latest, own_event};
use super::extract::{ApiBase, JsonObject, QueryMap};
use super::pagination::{link_header, read_page};
use super::routes::Routes;
use super::scoped::Scoped;
use crate::domain::event::Publication;
use crate::domain::hook::{ConfigPatch, HookPatch, HookScope, HookSettings};
use crate::domain::timestamp::Timestamp;
use crate::error::ApiError;
use crate::store::Hook;

pub fn routes() -> Routes {
    scoped_routes("/repos/{owner}/{repo}/hooks", "repos", "repo")
        .merge(scoped_routes("/orgs/{org}/hooks", "orgs", "org"))
        .add(
            Method::POST,
            "/repos/{owner}/{repo}/hooks/{hook_id}/tests",
            "repos/test-push-webhook",
            "Deliver the repository's latest push to the hook again",
            test_push,
        )
        .add(
            Method::POST,
            "/repos/{owner}/{repo}/hooks/{hook_id}/test",
            "hookpost/test-push-webhook-by-test-url",
            "The same at the path GitHub's test_url names",
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
            list,
        )
        .add(
            Method::POST,
            prefix,
            &format!("{tag}/create-webhook"),
            "Create a webhook",
            create,
        )
        .add(
            Method::GET,
            &one,
            &format!("{tag}/get-webhook"),
            "Get a webhook",
            show,
        )
        .add(
            Method::PATCH,
            &one,
            &format!("{tag}/update-webhook"),
            "Update a webhook",
            update,
        )
        .add(
            Method::DELETE,
            &one,
            &format!("{tag}/delete-webhook"),
            "Delete a webhook",
            remove,
        )
        .add(
            Method::GET,
            &format!("{one}/config"),
            &format!("{tag}/get-webhook-config-for-{kind}"),
            "Get a webhook's configuration",
            show_config,
        )
        .add(
            Method::PATCH,
            &format!("{one}/config"),
            &format!("{tag}/update-webhook-config-for-{kind}"),
            "Update a webhook's configuration",
            update_config,
        )
        .add(
            Method::POST,
            &format!("{one}/pings"),
            &format!("{tag}/ping-webhook"),
            "Send a ping event to a webhook",
            ping,
        )
}

/// GitHub's zen sayings, one of which every `ping` carries.
const ZEN: &[&str] = &[
    "Design for failure.",
    "Keep it logically awesome.",
    "Speak like a human.",
    "Approachable is better than simple.",
    "Mind your words, they are important.",
    "Non-blocking is better than blocking.",
    "Favor focus over features.",
    "Avoid administrative distraction.",
    "Practicality beats purity.",
    "Anything added dilutes everything else.",
    "It's not fully shipped until it's fast.",
    "Responsive is better than fast.",
    "Encourage flow.",
    "Half measures are as bad as nothing at all.",
];

/// Queues a `ping` event for `hook` (tried once), with the repository, organization and
/// sender last published for its scope.
pub async fn send_ping(state: &AppState, hook: &Hook, base: &str) -> Result<(), ApiError> {
    let latest = state.store.latest_objects(&hook.scope).await?;
    let mut hook_object = hook_json(hook, base);
    if let HookScope::App { app_id } = hook.scope {
        hook_object["app_id"] = json!(app_id);
    }
    let zen = ZEN[usize::from(uuid::Uuid::new_v4().as_bytes()[0]) % ZEN.len()];
    let mut payload = serde_json::Map::new();
    payload.insert("zen".to_owned(), json!(zen));
    payload.insert("hook_id".to_owned(), json!(hook.id));
    payload.insert("hook".to_owned(), hook_object);
    add_latest(&mut payload, &latest);
    let (repository, organization) = match &hook.scope {
        HookScope::Repository { owner, repo } => (Some((owner.clone(), repo.clone())), None),
        HookScope::Organization { org } => (None, Some(org.clone())),
        HookScope::App { .. } => (None, None),
    };
    let publication = Publication {
        event: "ping".to_owned(),
        repository,
        organization,
        payload,
    };
    state
        .store
        .publish_to_hook(own_event(&publication), hook.id, Timestamp::now())
        .await?;
    state.wake.notify_one();
    Ok(())
}

/// `POST …/hooks/{id}/pings` → 204.
async fn ping(
    State(state): State<AppState>,
    scoped: Scoped,
    ApiBase(base): ApiBase,
) -> Result<StatusCode, ApiError> {
    let hook = find(&state, &scoped).await?;
    send_ping(&state, &hook, &base).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST …/hooks/{id}/tests` → 204; the repository's latest `push` is delivered again to
/// this hook if it subscribes to `push`.
async fn test_push(State(state): State<AppState>, scoped: Scoped) -> Result<StatusCode, ApiError> {
    let hook = find(&state, &scoped).await?;
    if !matches!(hook.scope, HookScope::Repository { .. }) {
        return Err(ApiError::NotFound);
    }
    if state
        .store
        .queue_test_push(&scoped.scope, hook.id, Timestamp::now())
        .await?
    {
        state.wake.notify_one();
    }
    Ok(StatusCode::NO_CONTENT)
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
    if hook.settings.active {
        send_ping(&state, &hook, &base).await?;
    }
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
