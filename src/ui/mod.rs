//! The web UI: server-rendered pages (maud) for signing in with a token, managing hooks,
//! and watching and redelivering their deliveries, in the layout of GitHub's webhook
//! settings. Every asset is embedded in the binary; nothing is fetched from elsewhere.
//!
//! The UI goes through the same core and the same tenancy rule as the API: a page about a
//! hook the session's token may not manage is a 404, exactly as in the API.
//! Invariant: every request that changes something is a POST whose form carries the
//! session's CSRF token ([`session::SignedForm`]).

mod admin;
mod deliveries;
mod hooks;
mod pages;
pub mod session;

use std::collections::HashMap;

use axum::Router;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::core::CoreError;
use crate::core::access::{ManagedScope, authorize};
use crate::domain::hook::HookScope;
use crate::store::{AttemptId, HookId};
use crate::web::{AppState, scope_from_path_params};
use session::{CSRF_FIELD, Session};

const CSS: &str = include_str!("assets/ui.css");
const JS: &str = include_str!("assets/ui.js");
const FAVICON: &str = include_str!("assets/favicon.svg");

/// The UI's routes; the server serves them beside the API.
pub fn router(state: AppState) -> Router<AppState> {
    let hook_routes = |base: &str| {
        Router::new()
            .route(
                &format!("{base}/hooks/{{hook_id}}"),
                get(hooks::show).post(hooks::update),
            )
            .route(
                &format!("{base}/hooks/{{hook_id}}/delete"),
                get(hooks::confirm_delete).post(hooks::delete),
            )
            .route(&format!("{base}/hooks/{{hook_id}}/ping"), post(hooks::ping))
            .route(
                &format!("{base}/hooks/{{hook_id}}/enable"),
                post(hooks::enable),
            )
            .route(
                &format!("{base}/hooks/{{hook_id}}/live"),
                get(deliveries::live),
            )
            .route(
                &format!("{base}/hooks/{{hook_id}}/deliveries/{{delivery_id}}"),
                get(deliveries::detail),
            )
            .route(
                &format!("{base}/hooks/{{hook_id}}/deliveries/{{delivery_id}}/attempts"),
                post(deliveries::redeliver),
            )
            .route(
                &format!("{base}/hooks/{{hook_id}}/recover"),
                post(deliveries::recover),
            )
    };
    Router::new()
        .route("/", get(|| async { Redirect::to(pages::HOME) }))
        .route(pages::LOGIN, get(pages::login_form).post(pages::login))
        .route(pages::LOGOUT, post(pages::logout))
        .route(pages::HOME, get(pages::overview))
        .route("/ui/hooks/new", get(hooks::new_form).post(hooks::create))
        .route("/ui/admin/apps", get(admin::apps))
        .route(
            "/ui/admin/tokens",
            get(admin::tokens).post(admin::create_token),
        )
        .route(
            "/ui/admin/tokens/{token_id}/revoke",
            post(admin::revoke_token),
        )
        .route(
            "/ui/assets/ui.css",
            get(|| async { asset("text/css", CSS) }),
        )
        .route(
            "/ui/assets/ui.js",
            get(|| async { asset("text/javascript", JS) }),
        )
        .route(
            "/ui/assets/favicon.svg",
            get(|| async { asset("image/svg+xml", FAVICON) }),
        )
        // Browsers ask for it whatever the page says.
        .route(
            "/favicon.ico",
            get(|| async { Redirect::to("/ui/assets/favicon.svg") }),
        )
        // Any other page under /ui is the UI's own 404 page, not the API's JSON.
        .route("/ui/{*rest}", any(|| async { UiError::NotFound }))
        .merge(hook_routes("/ui/repos/{owner}/{repo}"))
        .merge(hook_routes("/ui/orgs/{org}"))
        .merge(hook_routes("/ui/apps/{app_id}"))
        .layer(axum::middleware::from_fn_with_state(state, with_navigation))
        .layer(axum::middleware::map_response(protect))
}

/// What every UI answer allows a browser: our own script, stylesheet and requests only (no
/// inline script or style), no framing, no forms posted elsewhere.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// Headers on every UI answer: the policy above, no MIME sniffing, no framing, no referrer
/// beyond our origin; a page (anything not already cacheable, like the assets) is never
/// stored, so nothing of a session stays in a browser's cache after signing out.
async fn protect(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// What a UI page can fail with, shown as a page rather than GitHub's JSON.
#[derive(Debug)]
pub enum UiError {
    NotFound,
    Forbidden,
    BadRequest(String),
    /// The database cannot be reached for now.
    Unavailable,
    Internal(anyhow::Error),
}

impl From<CoreError> for UiError {
    fn from(error: CoreError) -> Self {
        match error {
            CoreError::NotFound => UiError::NotFound,
            CoreError::Store(error) => error.into(),
            CoreError::Internal(error) => UiError::Internal(error),
            CoreError::Validation(errors) | CoreError::Conflict(errors) => {
                UiError::BadRequest(errors.summary())
            }
        }
    }
}

impl From<crate::store::StoreError> for UiError {
    fn from(error: crate::store::StoreError) -> Self {
        if error.is_unavailable() {
            tracing::warn!(%error, "the database is unavailable");
            return UiError::Unavailable;
        }
        UiError::Internal(anyhow::Error::new(error))
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            UiError::NotFound => (StatusCode::NOT_FOUND, "Not Found".to_owned()),
            UiError::Forbidden => (
                StatusCode::FORBIDDEN,
                "This form is out of date or was not sent by this page (CSRF check failed). \
                 Reload the page and try again."
                    .to_owned(),
            ),
            UiError::BadRequest(message) => (StatusCode::BAD_REQUEST, message),
            UiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The database cannot be reached right now; try again in a moment.".to_owned(),
            ),
            UiError::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "internal error in the UI");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong on our side.".to_owned(),
                )
            }
        };
        let mut response = (status, error_page(status, &message, None)).into_response();
        response.extensions_mut().insert(ErrorPage(message));
        response
    }
}

/// What an error page says, kept on its response so that [`with_navigation`] can draw it
/// again with the session's navigation (an error knows nothing of the session).
#[derive(Debug, Clone)]
struct ErrorPage(String);

fn error_page(status: StatusCode, message: &str, session: Option<&Session>) -> Markup {
    layout(
        status.canonical_reason().unwrap_or("Error"),
        session,
        html! { h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) } p { (message) } p { a href=(pages::HOME) { "Back to your hooks" } } },
    )
}

/// An error page of a signed-in browser keeps the navigation: drawn again with the
/// session, which is looked up only when an error happened.
async fn with_navigation(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    let id = session::session_id(request.headers());
    let response = next.run(request).await;
    let (Some(id), Some(ErrorPage(message))) = (id, response.extensions().get::<ErrorPage>())
    else {
        return response;
    };
    let Ok(Some(view)) = state.core.session(&id).await else {
        return response;
    };
    let session = Session::from(view);
    (
        response.status(),
        error_page(response.status(), message, Some(&session)),
    )
        .into_response()
}

/// The page shell: navigation (when signed in), the content, the embedded assets.
pub fn layout(title: &str, session: Option<&Session>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Hookpost" }
                link rel="icon" href="/ui/assets/favicon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/ui/assets/ui.css";
                script src="/ui/assets/ui.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href=(pages::HOME) { "Hookpost" }
                    @if let Some(session) = session {
                        nav aria-label="Main" {
                            a href=(pages::HOME) { "Hooks" }
                            @if session.principal == crate::auth::Principal::Admin {
                                a href="/ui/admin/apps" { "Apps" }
                                a href="/ui/admin/tokens" { "Tokens" }
                            }
                            form method="post" action=(pages::LOGOUT) {
                                (csrf_input(session))
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main id="main" { (content) }
            }
        }
    }
}

/// The hidden field every form of a session carries.
pub fn csrf_input(session: &Session) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(session.csrf.as_ref()); }
}

/// A coloured dot and words for a hook's last response, as on GitHub's hook list.
pub fn health_dot(last: &crate::domain::hook::LastResponse) -> Markup {
    use crate::domain::hook::LastResponse;
    let (class, text) = match last {
        LastResponse::Unused => ("dot unused", "Not delivered yet".to_owned()),
        LastResponse::Active { code, .. } => {
            ("dot ok", format!("Last delivery succeeded ({code})"))
        }
        LastResponse::Failed { code, message } => (
            "dot failed",
            match code {
                Some(code) => format!("Last delivery failed ({code})"),
                None => format!("Last delivery failed: {message}"),
            },
        ),
    };
    html! { span class=(class) title=(text) role="img" aria-label=(text) {} }
}

/// The hook a UI path names (`/ui/repos/{owner}/{repo}/hooks/{id}`, `/ui/orgs/{org}/…`,
/// `/ui/apps/{app_id}/…`), once the session may manage it: else 404, as in the API.
#[derive(Clone)]
pub struct HookPath {
    pub session: Session,
    pub scope: ManagedScope,
    pub hook_id: HookId,
    pub delivery_id: Option<AttemptId>,
}

impl HookPath {
    /// `/ui/…/hooks/{id}` of this hook.
    pub fn base(&self) -> String {
        hook_url(self.scope.scope(), self.hook_id)
    }
}

/// The UI page of hook `id` in `scope`.
pub fn hook_url(scope: &HookScope, id: HookId) -> String {
    match scope {
        HookScope::Repository { owner, repo } => format!("/ui/repos/{owner}/{repo}/hooks/{id}"),
        HookScope::Organization { org } => format!("/ui/orgs/{org}/hooks/{id}"),
        HookScope::App { app_id } => format!("/ui/apps/{app_id}/hooks/{id}"),
    }
}

/// The API's reading of repository and organization paths, plus the app's hook.
fn scope_from(params: &HashMap<String, String>) -> Option<HookScope> {
    match params.get("app_id") {
        Some(app_id) => Some(HookScope::App {
            app_id: app_id.parse().ok()?,
        }),
        None => scope_from_path_params(params),
    }
}

impl FromRequestParts<AppState> for HookPath {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let session = Session::from_request_parts(parts, state).await?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| UiError::NotFound.into_response())?;
        let number = |name: &str| params.get(name).and_then(|text| text.parse::<i64>().ok());
        let (Some(scope), Some(hook_id)) = (scope_from(&params), number("hook_id")) else {
            return Err(UiError::NotFound.into_response());
        };
        let scope = authorize(&session.principal, scope)
            .map_err(|error| UiError::from(error).into_response())?;
        Ok(HookPath {
            delivery_id: number("delivery_id").map(AttemptId),
            session,
            scope,
            hook_id: HookId(hook_id),
        })
    }
}

/// Text that is already safe HTML (from maud), for places that take a `Markup`.
pub fn raw(html: String) -> Markup {
    PreEscaped(html)
}
