//! GitHub Apps: registration and installation (admin, under `/admin/apps`), and the
//! endpoints an app calls with its JWT: `GET /app`, `/app/hook/config` and the app hook's
//! delivery log.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::bodies;
use super::body_schemas::{AppBody, ConfigBody, InstallationBody, RecoveryBody};
use super::extract::{JsonObject, PathParams, QueryMap};
use super::log::{
    Accepted, DeliveryDetail, DeliveryItem, RecoveryObject, list_log, recover_log, redeliver_log,
    show_log, show_recovery,
};
use super::openapi::{Auth, Doc, Query};
use super::routes::Routes;
use super::scoped::number;
use crate::apps;
use crate::auth::Principal;
use crate::core::access::{ManagedScope, require_admin};
use crate::core::github::ConfigObject;
use crate::domain::hook::{HookPatch, HookRules, HookSettings};
use crate::domain::ids::{AppId, InstallationId};
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
            Doc::new(Auth::Admin)
                .body::<AppBody>(true)
                .replies::<RegisteredApp>(StatusCode::CREATED)
                .conflicts(),
            register,
        )
        .add(
            Method::POST,
            "/admin/apps/{app_id}/installations",
            "hookpost/create-installation",
            "Install an app on an account (admin)",
            Doc::new(Auth::Admin)
                .body::<InstallationBody>(true)
                .replies::<InstallationObject>(StatusCode::CREATED),
            install,
        )
        .add(
            Method::GET,
            "/app",
            "apps/get-authenticated",
            "Get the authenticated app",
            Doc::new(Auth::App).replies::<AppObject>(StatusCode::OK),
            show_app,
        )
        .add(
            Method::GET,
            "/app/hook/config",
            "apps/get-webhook-config-for-app",
            "Get a webhook configuration for an app",
            Doc::new(Auth::App).replies::<ConfigObject>(StatusCode::OK),
            show_config,
        )
        .add(
            Method::PATCH,
            "/app/hook/config",
            "apps/update-webhook-config-for-app",
            "Update a webhook configuration for an app",
            Doc::new(Auth::App)
                .body::<ConfigBody>(false)
                .replies::<ConfigObject>(StatusCode::OK),
            update_config,
        )
        .add(
            Method::GET,
            "/app/hook/deliveries",
            "apps/list-webhook-deliveries",
            "List deliveries for an app webhook",
            Doc::new(Auth::App).lists::<DeliveryItem>(Query::Log),
            list_deliveries,
        )
        .add(
            Method::GET,
            "/app/hook/deliveries/{delivery_id}",
            "apps/get-webhook-delivery",
            "Get a delivery for an app webhook",
            Doc::new(Auth::App).replies::<DeliveryDetail>(StatusCode::OK),
            show_delivery,
        )
        .add(
            Method::POST,
            "/app/hook/deliveries/{delivery_id}/attempts",
            "apps/redeliver-webhook-delivery",
            "Redeliver a delivery for an app webhook",
            Doc::new(Auth::App).replies::<Accepted>(StatusCode::ACCEPTED),
            redeliver,
        )
        .add(
            Method::POST,
            "/app/hook/deliveries/recover",
            "apps/recover-webhook-deliveries",
            "Redeliver an app webhook's failed deliveries published in a window (Hookpost's extension)",
            Doc::new(Auth::App)
                .body::<RecoveryBody>(true)
                .replies::<RecoveryObject>(StatusCode::ACCEPTED)
                .conflicts(),
            recover,
        )
        .add(
            Method::GET,
            "/app/hook/recoveries/{recovery_id}",
            "apps/get-webhook-recovery",
            "Get a recovery of an app webhook's failed deliveries (Hookpost's extension)",
            Doc::new(Auth::App).replies::<RecoveryObject>(StatusCode::OK),
            show_recovery_of,
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
        let client = super::extract::client_address(parts);
        Ok(AuthenticatedApp(
            state.core.authenticate_app(token, client).await?,
        ))
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
) -> Result<(StatusCode, Json<RegisteredApp>), ApiError> {
    require_admin(&principal)?;
    let (name, hook) = read_registration(&body, state.core.hook_rules())?;
    let registered = state
        .core
        .register_app(&principal, &name, hook, Some(&base))
        .await?;
    let app = &registered.app;
    Ok((
        StatusCode::CREATED,
        Json(RegisteredApp {
            id: app.id,
            slug: app.slug.clone(),
            client_id: app.client_id.clone(),
            name: app.name.clone(),
            events: app.events.clone(),
            pem: registered.private_key_pem.expose().to_owned(),
        }),
    ))
}

/// `POST /admin/apps/{app_id}/installations {"account"}` → `201 {"id", "app_id", "account"}`.
async fn install(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(params): PathParams,
    JsonObject(body): JsonObject,
) -> Result<(StatusCode, Json<InstallationObject>), ApiError> {
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
        Json(InstallationObject {
            id: installation.id,
            app_id: installation.app_id,
            account: AccountObject {
                login: installation.account.as_str().to_owned(),
            },
        }),
    ))
}

/// `POST /admin/apps`'s answer: the app and its private key, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredApp {
    #[schema(value_type = i64)]
    pub id: AppId,
    pub slug: String,
    pub client_id: String,
    pub name: String,
    pub events: Vec<String>,
    /// The app's RSA private key (PKCS#1 PEM); only its public half is stored.
    pub pem: String,
}

/// An app's installation on an account.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstallationObject {
    #[schema(value_type = i64)]
    pub id: InstallationId,
    #[schema(value_type = i64)]
    pub app_id: AppId,
    pub account: AccountObject,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountObject {
    pub login: String,
}

/// The owner every app shows: this Hookpost installation, as a GitHub organization
/// (GitHub's `simple-user`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SimpleUser)]
pub struct OwnerObject {
    pub login: String,
    pub id: i64,
    pub node_id: String,
    pub avatar_url: String,
    pub gravatar_id: String,
    pub url: String,
    pub html_url: String,
    pub followers_url: String,
    pub following_url: String,
    pub gists_url: String,
    pub starred_url: String,
    pub subscriptions_url: String,
    pub organizations_url: String,
    pub repos_url: String,
    pub events_url: String,
    pub received_events_url: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub site_admin: bool,
}

impl OwnerObject {
    fn hookpost(origin: &str, api: &str) -> Self {
        let user = format!("{api}/users/hookpost");
        OwnerObject {
            login: "hookpost".to_owned(),
            id: 1,
            node_id: "O_hookpost".to_owned(),
            avatar_url: format!("{origin}/avatars/hookpost"),
            gravatar_id: String::new(),
            html_url: format!("{origin}/hookpost"),
            followers_url: format!("{user}/followers"),
            following_url: format!("{user}/following{{/other_user}}"),
            gists_url: format!("{user}/gists{{/gist_id}}"),
            starred_url: format!("{user}/starred{{/owner}}{{/repo}}"),
            subscriptions_url: format!("{user}/subscriptions"),
            organizations_url: format!("{user}/orgs"),
            repos_url: format!("{user}/repos"),
            events_url: format!("{user}/events{{/privacy}}"),
            received_events_url: format!("{user}/received_events"),
            url: user,
            kind: "Organization".to_owned(),
            site_admin: false,
        }
    }
}

/// GitHub's `integration` object.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Integration)]
pub struct AppObject {
    #[schema(value_type = i64)]
    pub id: AppId,
    pub slug: String,
    pub node_id: String,
    pub client_id: String,
    pub owner: OwnerObject,
    pub name: String,
    pub description: String,
    pub external_url: String,
    pub html_url: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// No permissions: Hookpost's apps only receive webhooks.
    pub permissions: BTreeMap<String, String>,
    pub events: Vec<String>,
    pub installations_count: u64,
}

impl AppObject {
    fn of(app: &AppRecord, api: &str) -> Self {
        let origin = api.strip_suffix("/api/v3").unwrap_or(api);
        let html_url = format!("{origin}/apps/{}", app.slug);
        AppObject {
            id: app.id,
            slug: app.slug.clone(),
            node_id: format!("A_{}", app.id),
            client_id: app.client_id.clone(),
            owner: OwnerObject::hookpost(origin, api),
            name: app.name.clone(),
            description: String::new(),
            external_url: html_url.clone(),
            html_url,
            created_at: app.created_at.to_github(),
            updated_at: app.updated_at.to_github(),
            permissions: BTreeMap::new(),
            events: app.events.clone(),
            installations_count: app.installations_count,
        }
    }
}

async fn show_app(
    AuthenticatedApp(app): AuthenticatedApp,
    ApiBase(base): ApiBase,
) -> Json<AppObject> {
    Json(AppObject::of(&app, &base))
}

async fn show_config(
    State(state): State<AppState>,
    AuthenticatedApp(app): AuthenticatedApp,
) -> Result<Json<ConfigObject>, ApiError> {
    let hook = state
        .core
        .hook(&ManagedScope::of_app(&app), app.hook_id)
        .await?;
    Ok(Json(ConfigObject::of(&hook.settings.config)))
}

async fn update_config(
    State(state): State<AppState>,
    AuthenticatedApp(app): AuthenticatedApp,
    JsonObject(body): JsonObject,
) -> Result<Json<ConfigObject>, ApiError> {
    let patch = HookPatch::config_only(bodies::config_patch(&body, state.core.hook_rules())?);
    let saved = state
        .core
        .update_hook(&ManagedScope::of_app(&app), app.hook_id, patch)
        .await?;
    Ok(Json(ConfigObject::saved(&saved)))
}

async fn list_deliveries(
    State(state): State<AppState>,
    AuthenticatedApp(app): AuthenticatedApp,
    ApiBase(base): ApiBase,
    QueryMap(query): QueryMap,
) -> Result<(HeaderMap, Json<Vec<DeliveryItem>>), ApiError> {
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
) -> Result<Json<DeliveryDetail>, ApiError> {
    let scope = ManagedScope::of_app(&app);
    show_log(&state, &scope, app.hook_id, delivery_id(&params)?).await
}

async fn redeliver(
    State(state): State<AppState>,
    AuthenticatedApp(app): AuthenticatedApp,
    PathParams(params): PathParams,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let scope = ManagedScope::of_app(&app);
    redeliver_log(&state, &scope, app.hook_id, delivery_id(&params)?).await
}

async fn recover(
    State(state): State<AppState>,
    AuthenticatedApp(app): AuthenticatedApp,
    JsonObject(body): JsonObject,
) -> Result<(StatusCode, Json<RecoveryObject>), ApiError> {
    let scope = ManagedScope::of_app(&app);
    recover_log(&state, &scope, app.hook_id, &body).await
}

async fn show_recovery_of(
    State(state): State<AppState>,
    AuthenticatedApp(app): AuthenticatedApp,
    PathParams(params): PathParams,
) -> Result<Json<RecoveryObject>, ApiError> {
    let scope = ManagedScope::of_app(&app);
    let recovery_id = number(&params, "recovery_id")?.ok_or(ApiError::NotFound)?;
    show_recovery(&state, &scope, app.hook_id, recovery_id).await
}
