//! The HTTP API: GitHub's REST layout under `/api/v3`, plus health probes.
//!
//! One file per resource, each with a `routes()`; handlers are thin: extract, authorize,
//! call the core, shape GitHub's JSON. Invariant: the API never performs a delivery.

pub mod admin;
mod apps;
mod bodies;
mod body_schemas;
mod deliveries;
mod events;
mod extract;
mod health;
mod hooks;
mod log;
mod metrics;
mod openapi;
mod pagination;
#[cfg(test)]
mod properties;
mod routes;
mod scoped;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::web::AppState;

/// The whole HTTP surface, ready to serve: the API, the probes, `/metrics`, and `pages`
/// (the web UI's routes, which the caller composes in), all counted, traced and bounded.
pub fn router(state: AppState, pages: Router<AppState>, max_body_bytes: usize) -> Router {
    let (api, operations) = admin::routes()
        .merge(apps::routes())
        .merge(hooks::routes())
        .merge(deliveries::routes())
        .merge(events::routes())
        .add(
            axum::http::Method::GET,
            "/openapi.json",
            "hookpost/get-openapi",
            "This document",
            openapi::Doc::new(openapi::Auth::Public).replies_any_object(),
            serve_openapi,
        )
        .into_parts();
    let document = Arc::new(openapi::document(&operations, state.core.hook_rules()));
    let api = api
        .layer(axum::Extension(document))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    Router::new()
        .merge(health::router())
        .merge(metrics::router())
        .merge(pages)
        .nest("/api/v3", api)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::count_requests,
        ))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        // Outermost first: a request id is set (or kept from the client), recorded in the
        // request's span, and echoed in the response.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// The span every request's logs belong to: method, path (never the query, which may carry
/// cursors, nor headers, which carry tokens) and request id.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|id| id.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id,
    )
}

/// `GET /api/v3/openapi.json`: the OpenAPI description of the routes above.
async fn serve_openapi(
    axum::Extension(document): axum::Extension<Arc<serde_json::Value>>,
) -> axum::Json<serde_json::Value> {
    axum::Json(document.as_ref().clone())
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// A documented path with another method: 405, and the router adds `Allow`.
async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
