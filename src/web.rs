//! What the two HTTP fronts (the REST API and the web UI) share: the state their handlers
//! get, the origin of absolute URLs, and how a path names a hook collection. No rule lives
//! here; rules are the core's.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::HOST;
use axum::http::request::Parts;

use crate::core::Core;
use crate::domain::hook::HookScope;
use crate::domain::names::{Login, RepoName};
use crate::metrics::Metrics;

/// What every handler may use; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub core: Core,
    pub metrics: Arc<Metrics>,
    /// `--public-url`, when set: the origin of every absolute URL returned.
    pub public_url: Option<Arc<str>>,
    /// `--metrics-token`: when set, `/metrics` wants it as a bearer token.
    pub metrics_token: Option<Arc<str>>,
}

/// `<origin>/api/v3`: the prefix of every absolute API URL in a response or a payload, from
/// `--public-url` or else the request's `Host`.
pub struct ApiBase(pub String);

impl FromRequestParts<AppState> for ApiBase {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let origin = match &state.public_url {
            Some(origin) => origin.to_string(),
            None => {
                let host = parts
                    .headers
                    .get(HOST)
                    .and_then(|host| host.to_str().ok())
                    .filter(|host| !host.is_empty() && !host.contains(['/', ' ']))
                    .unwrap_or("localhost");
                format!("http://{host}")
            }
        };
        Ok(ApiBase(format!("{origin}/api/v3")))
    }
}

/// The repository (`owner`, `repo`) or organization (`org`) a route's parameters name.
pub fn scope_from_path_params(params: &HashMap<String, String>) -> Option<HookScope> {
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
