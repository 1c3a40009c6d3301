//! GitHub's JSON shape of a hook: what the API returns and what every `ping` payload
//! carries, so that both show the very same object.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::hooks::SavedHook;
use crate::domain::hook::{HookConfig, HookScope, LastResponse, SECRET_MASK, masked_url};
use crate::domain::rate::RateLimit;
use crate::domain::retry::RetrySchedule;
use crate::domain::signature::SignatureScheme;
use crate::domain::timestamp::Timestamp;
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

/// GitHub's hook object (`hook`, `org-hook`): what the API returns and every `ping`
/// carries. The OpenAPI document's schema is derived from this type.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Webhook)]
pub struct HookObject {
    /// `Repository`, `Organization` or `App`.
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(value_type = i64)]
    pub id: HookId,
    /// Always `web`.
    pub name: String,
    pub active: bool,
    /// Event names, or `*` for all.
    pub events: Vec<String>,
    pub config: ConfigObject,
    #[schema(format = DateTime)]
    pub updated_at: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = "uri")]
    pub url: String,
    /// Repository hooks only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = "uri")]
    pub test_url: Option<String>,
    #[schema(format = "uri")]
    pub ping_url: String,
    #[schema(format = "uri")]
    pub deliveries_url: String,
    pub last_response: LastResponseObject,
    /// Hookpost's extension: while `--disable-after` has the hook disabled (not its
    /// owner), since when; its events are held (`?status=held` in its delivery log) and
    /// delivered in order when it is re-activated.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub disabled_at: Option<String>,
    /// Hookpost's extension: why `--disable-after` disabled it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Hookpost's extension, in create and update answers only: what the owner should
    /// know, e.g. that the server will block the hook's deliveries.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl HookObject {
    /// `base` is `<origin>/api/v3`.
    pub fn of(hook: &Hook, base: &str) -> Self {
        let url = hook_url(base, &hook.scope, hook.id);
        let settings = &hook.settings;
        HookObject {
            kind: hook.scope.type_name().to_owned(),
            id: hook.id,
            name: settings.name.clone(),
            active: settings.active,
            events: settings.events.clone(),
            config: ConfigObject::of(&settings.config),
            updated_at: hook.updated_at.to_github(),
            created_at: hook.created_at.to_github(),
            test_url: matches!(hook.scope, HookScope::Repository { .. })
                .then(|| format!("{url}/test")),
            ping_url: format!("{url}/pings"),
            deliveries_url: format!("{url}/deliveries"),
            last_response: LastResponseObject::of(&hook.last_response),
            url,
            disabled_at: hook
                .disabled
                .as_ref()
                .map(|disabled| disabled.at.to_github()),
            disabled_reason: hook
                .disabled
                .as_ref()
                .map(|disabled| disabled.reason.clone()),
            warnings: Vec::new(),
        }
    }

    /// A hook as just created or updated, with its warnings.
    pub fn saved(saved: &SavedHook, base: &str) -> Self {
        HookObject {
            warnings: saved.warnings.clone(),
            ..HookObject::of(&saved.hook, base)
        }
    }
}

/// GitHub's `webhook-config`, the secret and `Authorization` values masked, plus
/// Hookpost's `headers` when the hook has any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = WebhookConfig)]
pub struct ConfigObject {
    /// `json` or `form`.
    pub content_type: String,
    /// `"0"` verifies TLS certificates, `"1"` does not.
    pub insecure_ssl: String,
    #[schema(format = "uri")]
    pub url: String,
    /// `********` when the hook has a secret; absent when it has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Hookpost's extension: headers sent with every delivery (`Authorization` masked).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Hookpost's extension: `standard` or `both` when deliveries carry the Standard
    /// Webhooks headers; absent for GitHub's (the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<SignatureName>)]
    pub signature: Option<&'static str>,
    /// Hookpost's extension: while a rotated secret still signs beside the new one, when
    /// it stops.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub previous_secret_expires_at: Option<String>,
    /// Hookpost's extension: the hook's own retry schedule (`10s,1m,5m`, or `none`);
    /// absent when the hook follows the server's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_schedule: Option<String>,
    /// Hookpost's extension: at most this many deliveries per second; absent without a
    /// limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<u32>,
    /// Hookpost's extension: `fifo` when the hook receives its deliveries one at a time in
    /// commit order; absent for side by side (the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<OrderingName>)]
    pub ordering: Option<&'static str>,
    /// Hookpost's extension, in the answer to a configuration update only: what the owner
    /// should know, e.g. that the server will block the hook's deliveries.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl ConfigObject {
    pub fn of(config: &HookConfig) -> Self {
        ConfigObject {
            content_type: config.content_type.as_str().to_owned(),
            insecure_ssl: if config.insecure_ssl { "1" } else { "0" }.to_owned(),
            url: masked_url(&config.url),
            secret: config.secret.as_ref().map(|_| SECRET_MASK.to_owned()),
            headers: config.headers.masked(),
            signature: (config.signature != SignatureScheme::Github)
                .then(|| config.signature.as_str()),
            previous_secret_expires_at: config
                .live_previous_secret(Timestamp::now())
                .and(config.previous_secret.as_ref())
                .map(|previous| previous.expires_at.to_github()),
            retry_schedule: config.retry_schedule.as_ref().map(RetrySchedule::to_text),
            rate_limit: config.rate_limit.map(RateLimit::per_second),
            ordering: config.ordering.is_fifo().then(|| config.ordering.as_str()),
            warnings: Vec::new(),
        }
    }

    /// A hook's configuration as just updated, with the hook's warnings.
    pub fn saved(saved: &SavedHook) -> Self {
        ConfigObject {
            warnings: saved.warnings.clone(),
            ..ConfigObject::of(&saved.hook.settings.config)
        }
    }
}

/// In what order a hook receives its deliveries.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum OrderingName {
    None,
    Fifo,
}

/// Which signature headers a hook's deliveries carry.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum SignatureName {
    Github,
    Standard,
    Both,
}

/// GitHub's `hook-response`: the outcome of the hook's latest attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = HookResponse)]
pub struct LastResponseObject {
    /// The HTTP status; null before the first attempt or without a response.
    #[schema(required = true)]
    pub code: Option<u16>,
    /// `unused`, `active` or `failed`.
    #[schema(required = true)]
    pub status: Option<String>,
    #[schema(required = true)]
    pub message: Option<String>,
}

impl LastResponseObject {
    pub fn of(last: &LastResponse) -> Self {
        let (code, status, message) = match last {
            LastResponse::Unused => (None, "unused", None),
            LastResponse::Active { code, message } => (Some(*code), "active", Some(message)),
            LastResponse::Failed { code, message } => (*code, "failed", Some(message)),
        };
        LastResponseObject {
            code,
            status: Some(status.to_owned()),
            message: message.cloned(),
        }
    }
}
