//! Signing in and out, and the overview of the hooks a token manages.

use std::collections::BTreeMap;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::session::{self, Session, SignedForm, read_form};
use super::{UiError, health_dot, hook_url, layout, may_manage};
use crate::api::AppState;
use crate::auth::Principal;
use crate::domain::hook::HookScope;
use crate::error::ApiError;

pub const LOGIN: &str = "/ui/login";
pub const LOGOUT: &str = "/ui/logout";
pub const HOME: &str = "/ui";

fn login_page(error: Option<&str>) -> Markup {
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
                    label for="token" { "Token" }
                    input #token type="password" name="token" autocomplete="current-password" required autofocus;
                    button.primary type="submit" { "Sign in" }
                }
            }
        },
    )
}

pub async fn login_form() -> Markup {
    login_page(None)
}

/// Checks the token as the API would and starts a session. The sign-in form itself carries
/// no CSRF token (there is no session yet); `SameSite=Strict` keeps other sites' forms from
/// riding on a session afterwards.
pub async fn login(State(state): State<AppState>, request: Request) -> Response {
    let headers = request.headers().clone();
    let fields = match read_form(request).await {
        Ok(fields) => fields,
        Err(error) => return error.into_response(),
    };
    let token = session::field(&fields, "token").unwrap_or("").trim();
    match state
        .auth
        .authenticate(Some(&format!("token {token}")))
        .await
    {
        Ok(principal) => {
            let id = state.sessions.start(principal);
            session::with_cookie(
                session::cookie(Some(&id), &headers, &state),
                Redirect::to(HOME),
            )
        }
        Err(ApiError::Internal(error)) => UiError::Internal(error).into_response(),
        Err(_) => (
            axum::http::StatusCode::UNAUTHORIZED,
            login_page(Some("That token is not valid.")),
        )
            .into_response(),
    }
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    _form: SignedForm,
) -> Response {
    if let Some(id) = session::session_id(&headers) {
        state.sessions.end(&id);
    }
    session::with_cookie(session::cookie(None, &headers, &state), Redirect::to(LOGIN))
}

/// A scope's title: `acme/widgets`, `acme` (organization) or `app 3`.
pub fn scope_title(scope: &HookScope) -> String {
    match scope {
        HookScope::Repository { owner, repo } => format!("{owner}/{repo}"),
        HookScope::Organization { org } => format!("{org} (organization)"),
        HookScope::App { app_id } => format!("App {app_id}"),
    }
}

/// Every repository and organization hook the session's token manages, grouped by scope.
pub async fn overview(State(state): State<AppState>, session: Session) -> Result<Markup, UiError> {
    let hooks = state.store.list_all_hooks().await?;
    let mut groups: BTreeMap<String, Vec<crate::store::Hook>> = BTreeMap::new();
    for hook in hooks
        .into_iter()
        .filter(|hook| may_manage(&session, &hook.scope))
    {
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
            p.muted { "Repositories and organizations of " (owners) "." }
            @if groups.is_empty() {
                p.empty { "No webhooks yet." }
            }
            @for (title, hooks) in &groups {
                section.scope aria-label=(title) {
                    h2 { (title) }
                    ul.hooks {
                        @for hook in hooks {
                            li {
                                (health_dot(&hook.last_response))
                                a href=(hook_url(&hook.scope, hook.id)) { (hook.settings.config.url) }
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
