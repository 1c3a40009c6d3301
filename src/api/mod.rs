//! The HTTP API: GitHub's REST layout under `/api/v3`, plus health probes.
//!
//! One file per resource, each with a `router()`; handlers are thin: extract, authorize,
//! call the store, shape GitHub's JSON. Invariant: the API never performs a delivery.

mod admin;
mod apps;
mod deliveries;
mod events;
mod extract;
mod health;
mod hooks;
mod metrics;
mod pagination;
mod scoped;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tower_http::trace::TraceLayer;

use crate::auth::Authenticator;
use crate::domain::hook::HookRules;
use crate::error::ApiError;
use crate::store::Store;

pub use extract::ApiBase;

/// What every handler may use; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub auth: Arc<Authenticator>,
    /// Poked after work is queued, so the delivery worker starts at once.
    pub wake: Arc<tokio::sync::Notify>,
    /// `--public-url`, when set: the origin of every absolute URL returned.
    pub public_url: Option<Arc<str>>,
    /// Server-wide rules for hook fields (reserved header names).
    pub hook_rules: Arc<HookRules>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// `--metrics-token`: when set, `/metrics` wants it as a bearer token.
    pub metrics_token: Option<Arc<str>>,
}

/// The whole HTTP surface, ready to serve.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    let api = Router::new()
        .merge(admin::router())
        .merge(apps::router())
        .merge(hooks::router())
        .merge(deliveries::router())
        .merge(events::router())
        .fallback(not_found)
        .method_not_allowed_fallback(not_found);
    Router::new()
        .merge(health::router())
        .merge(metrics::router())
        .nest("/api/v3", api)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::count_requests,
        ))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}
