//! The delivery log of repository and organization hooks: GitHub's
//! `…/hooks/{hook_id}/deliveries`, one delivery, and redelivery, and Hookpost's bulk
//! recovery of failed deliveries (rendered by `log`).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};

use super::body_schemas::RecoveryBody;
use super::extract::JsonObject;
use super::extract::QueryMap;
use super::log::{
    Accepted, DeliveryDetail, DeliveryItem, RecoveryObject, list_log, recover_log, redeliver_log,
    show_log, show_recovery,
};
use super::openapi::{Auth, Doc, Query};
use super::routes::Routes;
use super::scoped::Scoped;
use crate::core::github::collection_path;
use crate::error::ApiError;
use crate::web::{ApiBase, AppState};

pub fn routes() -> Routes {
    scoped_routes("/repos/{owner}/{repo}/hooks/{hook_id}", "repos")
        .merge(scoped_routes("/orgs/{org}/hooks/{hook_id}", "orgs"))
}

fn scoped_routes(hook: &str, tag: &str) -> Routes {
    let prefix = &format!("{hook}/deliveries");
    Routes::default()
        .add(
            Method::GET,
            prefix,
            &format!("{tag}/list-webhook-deliveries"),
            "List deliveries for a webhook",
            Doc::new(Auth::Token).lists::<DeliveryItem>(Query::Log),
            list,
        )
        .add(
            Method::GET,
            &format!("{prefix}/{{delivery_id}}"),
            &format!("{tag}/get-webhook-delivery"),
            "Get a delivery for a webhook",
            Doc::new(Auth::Token).replies::<DeliveryDetail>(StatusCode::OK),
            show,
        )
        .add(
            Method::POST,
            &format!("{prefix}/{{delivery_id}}/attempts"),
            &format!("{tag}/redeliver-webhook-delivery"),
            "Redeliver a delivery for a webhook",
            Doc::new(Auth::Token).replies::<Accepted>(StatusCode::ACCEPTED),
            redeliver,
        )
        .add(
            Method::POST,
            &format!("{prefix}/recover"),
            &format!("{tag}/recover-webhook-deliveries"),
            "Redeliver a webhook's failed deliveries published in a window (Hookpost's extension)",
            Doc::new(Auth::Token)
                .body::<RecoveryBody>(true)
                .replies::<RecoveryObject>(StatusCode::ACCEPTED)
                .conflicts(),
            recover,
        )
        .add(
            Method::GET,
            &format!("{hook}/recoveries/{{recovery_id}}"),
            &format!("{tag}/get-webhook-recovery"),
            "Get a recovery of a webhook's failed deliveries (Hookpost's extension)",
            Doc::new(Auth::Token).replies::<RecoveryObject>(StatusCode::OK),
            show_recovery_of,
        )
}

async fn list(
    State(state): State<AppState>,
    scoped: Scoped,
    ApiBase(base): ApiBase,
    QueryMap(query): QueryMap,
) -> Result<(HeaderMap, Json<Vec<DeliveryItem>>), ApiError> {
    let hook_id = scoped.hook_id()?;
    let deliveries_url = format!(
        "{base}{}/{hook_id}/deliveries",
        collection_path(scoped.scope.scope())
    );
    list_log(&state, &scoped.scope, hook_id, &deliveries_url, &query).await
}

async fn show(
    State(state): State<AppState>,
    scoped: Scoped,
) -> Result<Json<DeliveryDetail>, ApiError> {
    show_log(
        &state,
        &scoped.scope,
        scoped.hook_id()?,
        scoped.delivery_id()?,
    )
    .await
}

async fn redeliver(
    State(state): State<AppState>,
    scoped: Scoped,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    redeliver_log(
        &state,
        &scoped.scope,
        scoped.hook_id()?,
        scoped.delivery_id()?,
    )
    .await
}

async fn recover(
    State(state): State<AppState>,
    scoped: Scoped,
    JsonObject(body): JsonObject,
) -> Result<(StatusCode, Json<RecoveryObject>), ApiError> {
    recover_log(&state, &scoped.scope, scoped.hook_id()?, &body).await
}

async fn show_recovery_of(
    State(state): State<AppState>,
    scoped: Scoped,
) -> Result<Json<RecoveryObject>, ApiError> {
    show_recovery(
        &state,
        &scoped.scope,
        scoped.hook_id()?,
        scoped.recovery_id()?,
    )
    .await
}
