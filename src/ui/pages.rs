//! Signing in and out, and the overview of the hooks a token manages.

use std::collections::BTreeMap;

use axum::extract::{Query, Request, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::session::{self, Session, SignedForm, read_form};
use super::{UiError, health_dot, hook_url, layout};
use crate::auth::{Principal, generate_token};
use crate::core::sessions::SignIn;
use crate::domain::hook::{HookScope, masked_url};
use crate::web::AppState;

pub const LOGIN: &str = "/ui/login";
pub const LOGOUT: &str = "/ui/logout";
pub const HOME: &str = "/ui";

/// `url` with `?done=<action>` (post/redirect/get): the page it leads to says, once, what
/// was done ([`done_notice`]), and its script drops the parameter from the address so that
/// reloading says nothing again.
pub fn done_url(url: &str, action: &str) -> String {
    let (path, fragment) = url.split_once('#').map_or((url, ""), |(path, f)| (path, f));
    let separator = if path.contains('?') { '&' } else { '?' };
    let fragment = if fragment.is_empty() {
        String::new()
    } else {
        format!("#{fragment}")
    };
    format!("{path}{separator}done={action}{fragment}")
}

/// The one-time notice of `?done=`. Only these actions are known: no text of the request is
/// ever shown back.
pub fn done_notice(done: Option<&str>) -> Markup {
    let text = match done {
        Some("created") => {
            "Webhook created. A ping is on its way: it shows under Recent Deliveries."
        }
        Some("updated") => "Webhook updated.",
        Some("pinged") => "Ping sent: it shows under Recent Deliveries as it arrives.",
        Some("redelivered") => "Redelivery queued: it shows under Recent Deliveries as it is made.",
        Some("enabled") => {
            "Webhook re-enabled: its held deliveries are on their way, in the order they were published."
        }
        Some("deleted") => "Webhook deleted, with its delivery log.",
        Some("revoked") => "Token revoked: it is refused from now on, on every node.",
        _ => return html! {},
    };
    html! { p.notice #done role="status" { (text) } }
}

/// The `?done=` of a page's query.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Done {
    #[serde(default)]
    pub done: Option<String>,
}

/// The sign-in page that brings the browser back to `next` (a UI path) afterwards.
pub fn login_url(next: &str, expired: bool) -> String {
    let mut url = LOGIN.to_owned();
    if let Some(next) = safe_next(next) {
        url.push_str("?next=");
        url.extend(percent_encoding::utf8_percent_encode(
            next,
            percent_encoding::NON_ALPHANUMERIC,
        ));
    }
    if expired {
        url.push_str(if url.contains('?') { "&" } else { "?" });
        url.push_str("expired=1");
    }
    url
}

/// Where a sign-in may send the browser: a path of the UI on this server, never another
/// site (`//evil.example`, `https://…`, `/\evil.example`), the sign-in page itself, or
/// anything that is not plain printable text.
pub fn safe_next(next: &str) -> Option<&str> {
    let inside_ui = next == HOME || next.starts_with("/ui/") || next.starts_with("/ui?");
    let plain = next.len() <= 2048 && next.bytes().all(|b| b.is_ascii_graphic());
    let elsewhere = next.contains('\\') || next.starts_with(LOGIN) || next.starts_with(LOGOUT);
    (inside_ui && plain && !elsewhere).then_some(next)
}

/// The sign-in page's query: where to go afterwards, and whether a session just expired.
#[derive(Debug, Default, serde::Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    expired: Option<String>,
}
/// The sign-in form, carrying `login_csrf` (which its cookie also holds) and where to go
/// afterwards.
fn login_page(login_csrf: &str, next: Option<&str>, error: Option<&str>) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            section.narrow {
                h1 { "Sign in to Hookpost" }
                p { "Use an owner token (" code { "hp_…" } ") or the admin token." }
                @if let Some(error) = error {
                    p.error role="alert" { (error) }
                }
                form method="post" action=(LOGIN) {
                    input type="hidden" name=(session::CSRF_FIELD) value=(login_csrf);
                    @if let Some(next) = next {
                        input type="hidden" name="next" value=(next);
                    }
                    label for="token" { "Token" }
                    input #token type="password" name="token" autocomplete="current-password" required autofocus;
                    button.primary type="submit" { "Sign in" }
                }
            }
        },
    )
}

/// A sign-in form with a fresh CSRF token, which a cookie of its own also carries.
fn fresh_login_page(
    state: &AppState,
    headers: &HeaderMap,
    next: Option<&str>,
    error: Option<&str>,
) -> Response {
    let login_csrf = generate_token();
    session::with_cookie(
        session::login_cookie(&login_csrf, headers, state),
        login_page(&login_csrf, next.and_then(safe_next), error),
    )
}

pub async fn login_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Response {
    let expired = query
        .expired
        .is_some()
        .then_some("Your session has expired: sign in again.");
    fresh_login_page(&state, &headers, query.next.as_deref(), expired)
}

/// Checks the token as the API would and starts a session. There is no session to hold a
/// CSRF token yet, so the form's token is checked against the sign-in cookie instead: a
/// `SameSite=Strict` cookie another site's form cannot send, so no other site can sign a
/// browser in to an account of its choosing.
pub async fn login(State(state): State<AppState>, request: Request) -> Response {
    let headers = request.headers().clone();
    let client = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    let fields = match read_form(request).await {
        Ok(fields) => fields,
        Err(error) => return error.into_response(),
    };
    let expected = session::login_csrf(&headers).unwrap_or_default();
    let sent = session::field(&fields, session::CSRF_FIELD).unwrap_or("");
    if expected.is_empty() || !session::same_secret(sent, &expected) {
        return UiError::Forbidden.into_response();
    }
    let token = session::field(&fields, "token").unwrap_or("").trim();
    let next = session::field(&fields, "next").and_then(safe_next);
    match state.core.sign_in(token, client).await {
        Ok(SignIn::Session(id)) => session::with_cookie(
            session::cookie(Some(&id), &headers, &state),
            Redirect::to(next.unwrap_or(HOME)),
        ),
        Err(error) => UiError::from(error).into_response(),
        Ok(SignIn::Refused) => {
            let mut page =
                fresh_login_page(&state, &headers, next, Some("That token is not valid."));
            *page.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
            page
        }
        Ok(SignIn::PublishOnly) => {
            let message =
                "That token may only publish events; sign in with one that manages webhooks.";
            let mut page = fresh_login_page(&state, &headers, next, Some(message));
            *page.status_mut() = axum::http::StatusCode::FORBIDDEN;
            page
        }
        Ok(SignIn::TooManyFailures(wait)) => {
            let message = "Too many failed sign-ins from this address; try again in a minute.";
            let mut page = fresh_login_page(&state, &headers, next, Some(message));
            *page.status_mut() = axum::http::StatusCode::TOO_MANY_REQUESTS;
            page.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                wait.as_secs().max(1).into(),
            );
            page
        }
    }
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    _form: SignedForm,
) -> Result<Response, UiError> {
    if let Some(id) = session::session_id(&headers) {
        state.core.sign_out(&id).await?;
    }
    Ok(session::with_cookie(
        session::cookie(None, &headers, &state),
        Redirect::to(LOGIN),
    ))
}

/// A scope's title: `acme/widgets`, `acme` (organization) or `app 3`.
pub fn scope_title(scope: &HookScope) -> String {
    match scope {
        HookScope::Repository { owner, repo } => format!("{owner}/{repo}"),
        HookScope::Organization { org } => format!("{org} (organization)"),
        HookScope::App { app_id } => format!("App {app_id}"),
    }
}

/// What the "Add webhook" form calls the scope: `owner/name`, or the organization.
fn new_hook_target(scope: &HookScope) -> Option<String> {
    match scope {
        HookScope::Repository { owner, repo } => Some(format!("{owner}/{repo}")),
        HookScope::Organization { org } => Some(org.to_string()),
        HookScope::App { .. } => None,
    }
}

/// Every repository and organization hook the session's token manages, grouped by scope.
pub async fn overview(
    State(state): State<AppState>,
    session: Session,
    Query(done): Query<Done>,
) -> Result<Markup, UiError> {
    let hooks = state.core.hooks_managed_by(&session.principal).await?;
    let mut groups: BTreeMap<String, Vec<crate::store::Hook>> = BTreeMap::new();
    for hook in hooks {
        groups
            .entry(scope_title(&hook.scope))
            .or_default()
            .push(hook);
    }
    let owners = match &session.principal {
        Principal::Admin => "every account (admin)".to_owned(),
        Principal::Owner(record) => record
            .owners
            .iter()
            .map(|owner| owner.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    };
    Ok(layout(
        "Webhooks",
        Some(&session),
        html! {
            div.heading {
                h1 { "Webhooks" }
                a.button.primary href="/ui/hooks/new" { "Add webhook" }
            }
            (done_notice(done.done.as_deref()))
            p.muted { "Repositories and organizations of " (owners) "." }
            @if groups.is_empty() {
                p.empty { "No webhooks yet." }
            }
            @for (title, hooks) in &groups {
                section.scope aria-label=(title) {
                    div.heading {
                        h2 { (title) }
                        @if let Some(target) = hooks.first().and_then(|hook| new_hook_target(&hook.scope)) {
                            a.button href={"/ui/hooks/new?target=" (target)} aria-label={"Add a webhook to " (title)} { "Add webhook" }
                        }
                    }
                    ul.hooks {
                        @for hook in hooks {
                            li {
                                (health_dot(&hook.last_response))
                                a href=(hook_url(&hook.scope, hook.id)) { (masked_url(&hook.settings.config.url)) }
                                span.muted { " (" (hook.settings.events.join(", ")) ")" }
                                @if !hook.settings.active { span.badge { "inactive" } }
                            }
                        }
                    }
                }
            }
        },
    ))
}
