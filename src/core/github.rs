//! GitHub's JSON shape of a hook: what the API returns and what every `ping` payload
//! carries, so that both show the very same object.

use serde_json::{Value, json};

use crate::domain::hook::HookScope;
use crate::store::{Hook, HookId};

/// The API path of a scope's hook collection, e.g. `/repos/acme/widgets/hooks`.
pub fn collection_path(scope: &HookScope) -> String {
    match scope {
        HookScope::Repository { owner, repo } => format!("/repos/{owner}/{repo}/hooks"),
        HookScope::Organization { org } => format!("/orgs/{org}/hooks"),
        HookScope::App { .. } => "/app/hook".to_owned(),
    }
}

/// The API URL of a hook under `base` (`<origin>/api/v3`).
pub fn hook_url(base: &str, scope: &HookScope, id: HookId) -> String {
    match scope {
        HookScope::App { .. } => format!("{base}/app/hook"),
        _ => format!("{base}{}/{id}", collection_path(scope)),
    }
}

/// GitHub's hook object; `base` is `<origin>/api/v3`.
pub fn hook_json(hook: &Hook, base: &str) -> Value {
    let url = hook_url(base, &hook.scope, hook.id);
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
