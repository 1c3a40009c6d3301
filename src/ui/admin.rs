//! Admin pages: the registered apps (each with its webhook's page) and the owner tokens.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::pages::{Done, done_notice, done_url};
use super::session::{self, Session, SignedForm};
use super::{UiError, csrf_input, hook_url, layout};
use crate::core::access::require_admin;
use crate::core::admin::TokenRequest;
use crate::domain::hook::HookScope;
use crate::domain::names::Login;
use crate::domain::timestamp::Timestamp;
use crate::store::{TokenRecord, TokenScope};
use crate::web::AppState;

pub async fn apps(State(state): State<AppState>, session: Session) -> Result<Markup, UiError> {
    require_admin(&session.principal)?;
    let apps = state.core.apps(&session.principal).await?;
    Ok(layout(
        "Apps",
        Some(&session),
        html! {
            h1 { "GitHub Apps" }
            @if apps.is_empty() { p.empty { "No apps registered. " code { "hookpost app create" } " registers one." } }
            table {
                thead { tr { th { "App" } th { "Client id" } th { "Events" } th { "Installations" } th { "Webhook" } } }
                tbody {
                    @for app in &apps {
                        tr {
                            td data-label="App" { (app.name) " " span.muted { "(" (app.slug) ", id " (app.id) ")" } }
                            td data-label="Client id" { code.nowrap { (app.client_id) } }
                            td data-label="Events" { (app.events.join(", ")) }
                            td data-label="Installations" { (app.installations_count) }
                            td data-label="Webhook" { a href=(hook_url(&HookScope::App { app_id: app.id }, app.hook_id)) { "Configuration and deliveries" } }
                        }
                    }
                }
            }
        },
    ))
}

/// How long a token made on the tokens page may live, as offered by its form.
const EXPIRY_CHOICES: [(&str, &str); 5] = [
    ("", "Never"),
    ("7", "7 days"),
    ("30", "30 days"),
    ("90", "90 days"),
    ("365", "1 year"),
];

/// A token's state as the table shows it.
fn token_status(token: &TokenRecord, now: Timestamp) -> &'static str {
    if token.revoked_at.is_some() {
        "Revoked"
    } else if token.is_valid_at(now) {
        "Active"
    } else {
        "Expired"
    }
}

/// An optional instant as the table shows it.
fn when(at: Option<Timestamp>, otherwise: &'static str) -> Markup {
    match at {
        Some(at) => html! { time datetime=(at.to_github()) { (at.to_github()) } },
        None => html! { span.muted { (otherwise) } },
    }
}

fn tokens_page(
    session: &Session,
    tokens: &[TokenRecord],
    created: Option<&str>,
    error: Option<&str>,
    done: Option<&str>,
) -> Markup {
    let now = Timestamp::now();
    layout(
        "Tokens",
        Some(session),
        html! {
            h1 { "Owner tokens" }
            (done_notice(done))
            @if let Some(token) = created {
                div.notice role="status" {
                    p { "New token — copy it now, it is not shown again:" }
                    p { code #new-token { (token) } }
                }
            }
            @if let Some(error) = error { p.error role="alert" { (error) } }
            table #tokens {
                thead { tr { th { "Id" } th { "Owners" } th { "Scope" } th { "Created" } th { "Expires" } th { "Last used" } th { "Status" } th {} } }
                tbody {
                    @for token in tokens {
                        @let status = token_status(token, now);
                        tr data-token-id=(token.id) {
                            td data-label="Id" { (token.id) }
                            td data-label="Owners" { (token.owners.iter().map(Login::as_str).collect::<Vec<_>>().join(", ")) }
                            td data-label="Scope" { (token.scope.as_str()) }
                            td data-label="Created" { (when(Some(token.created_at), "")) }
                            td data-label="Expires" { (when(token.expires_at, "never")) }
                            td data-label="Last used" { (when(token.last_used_at, "never")) }
                            td.status data-label="Status" { (status) }
                            td {
                                @if status != "Revoked" {
                                    form method="post" action={"/ui/admin/tokens/" (token.id) "/revoke"} {
                                        (csrf_input(session))
                                        button.danger type="submit" { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Create a token" }
            form method="post" action="/ui/admin/tokens" {
                (csrf_input(session))
                label for="owners" { "Owners (comma separated accounts)" }
                input #owners type="text" name="owners" required placeholder="acme, alice";
                label for="scope" { "May" }
                select #scope name="scope" {
                    option value="manage" selected { "manage the owners' webhooks and publish their events" }
                    option value="publish" { "publish events only" }
                }
                label for="expires" { "Expires after" }
                select #expires name="expires_in_days" {
                    @for (value, label) in EXPIRY_CHOICES {
                        option value=(value) { (label) }
                    }
                }
                button.primary type="submit" { "Create token" }
            }
        },
    )
}

/// The tokens page; a token just created (handed over by its cookie) is shown once.
pub async fn tokens(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Query(done): Query<Done>,
) -> Result<Response, UiError> {
    require_admin(&session.principal)?;
    let tokens = state.core.tokens(&session.principal).await?;
    let created = session::new_token(&headers);
    let page = tokens_page(
        &session,
        &tokens,
        created.as_deref(),
        None,
        done.done.as_deref(),
    );
    Ok(match created {
        Some(_) => session::with_cookie(session::new_token_cookie(None, &headers, &state), page),
        None => page.into_response(),
    })
}

/// Reads the create form: owners, scope and expiry; `None` when an owner is not an account
/// name or none is given.
fn read_token_form(form: &SignedForm) -> Option<TokenRequest> {
    let owners: Vec<Login> = form
        .get("owners")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|owner| !owner.is_empty())
        .map(Login::parse)
        .collect::<Option<_>>()
        .filter(|owners: &Vec<Login>| !owners.is_empty())?;
    let scope = TokenScope::parse(form.get("scope").unwrap_or("manage"))?;
    let expires_at = match form.get("expires_in_days").unwrap_or("") {
        "" => None,
        days => {
            let days: u64 = days.parse().ok().filter(|days| (1..=3650).contains(days))?;
            Some(Timestamp::now().after(Duration::from_secs(days * 86_400)))
        }
    };
    Some(TokenRequest {
        owners,
        scope,
        expires_at,
    })
}

/// Creates a token, then sends the browser to the tokens page, which shows it once
/// (post/redirect/get: reloading that page creates nothing).
pub async fn create_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: SignedForm,
) -> Result<Response, UiError> {
    require_admin(&form.session.principal)?;
    let Some(request) = read_token_form(&form) else {
        let tokens = state.core.tokens(&form.session.principal).await?;
        let page = tokens_page(
            &form.session,
            &tokens,
            None,
            Some("Name one or more valid account names."),
            None,
        );
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    let (_, token) = state
        .core
        .create_token(&form.session.principal, request)
        .await?;
    Ok(session::with_cookie(
        session::new_token_cookie(Some(token.expose()), &headers, &state),
        Redirect::to("/ui/admin/tokens"),
    ))
}

/// Revokes a token, then shows the tokens again (post/redirect/get).
pub async fn revoke_token(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Redirect, UiError> {
    state.core.revoke_token(&form.session.principal, id).await?;
    Ok(Redirect::to(&done_url("/ui/admin/tokens", "revoked")))
}
