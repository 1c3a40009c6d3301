//! Admin pages: the registered apps (each with its webhook's page) and the owner tokens.

use axum::extract::State;
use maud::{Markup, html};

use super::session::{Session, SignedForm};
use super::{UiError, csrf_input, hook_url, layout};
use crate::core::access::require_admin;
use crate::domain::hook::HookScope;
use crate::domain::names::Login;
use crate::domain::secret::Secret;
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
                            td { (app.name) " " span.muted { "(" (app.slug) ", id " (app.id) ")" } }
                            td { code { (app.client_id) } }
                            td { (app.events.join(", ")) }
                            td { (app.installations_count) }
                            td { a href=(hook_url(&HookScope::App { app_id: app.id }, app.hook_id)) { "Configuration and deliveries" } }
                        }
                    }
                }
            }
        },
    ))
}

fn tokens_page(
    session: &Session,
    tokens: &[crate::store::TokenRecord],
    created: Option<&str>,
    error: Option<&str>,
) -> Markup {
    layout(
        "Tokens",
        Some(session),
        html! {
            h1 { "Owner tokens" }
            @if let Some(token) = created {
                div.notice role="status" {
                    p { "New token — copy it now, it is not shown again:" }
                    p { code #new-token { (token) } }
                }
            }
            @if let Some(error) = error { p.error role="alert" { (error) } }
            table {
                thead { tr { th { "Id" } th { "Owners" } } }
                tbody {
                    @for token in tokens {
                        tr {
                            td { (token.id) }
                            td { (token.owners.iter().map(Login::as_str).collect::<Vec<_>>().join(", ")) }
                        }
                    }
                }
            }
            h2 { "Create a token" }
            form method="post" action="/ui/admin/tokens" {
                (csrf_input(session))
                label for="owners" { "Owners (comma separated accounts)" }
                input #owners type="text" name="owners" required placeholder="acme, alice";
                button.primary type="submit" { "Create token" }
            }
        },
    )
}

pub async fn tokens(State(state): State<AppState>, session: Session) -> Result<Markup, UiError> {
    require_admin(&session.principal)?;
    let tokens = state.core.tokens(&session.principal).await?;
    Ok(tokens_page(&session, &tokens, None, None))
}

pub async fn create_token(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Markup, UiError> {
    require_admin(&form.session.principal)?;
    let owners: Option<Vec<Login>> = form
        .get("owners")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|owner| !owner.is_empty())
        .map(Login::parse)
        .collect();
    let (created, error) = match owners.filter(|owners| !owners.is_empty()) {
        Some(owners) => {
            let (_, token) = state
                .core
                .create_token(&form.session.principal, owners)
                .await?;
            (Some(token), None)
        }
        None => (None, Some("Name one or more valid account names.")),
    };
    let tokens = state.core.tokens(&form.session.principal).await?;
    Ok(tokens_page(
        &form.session,
        &tokens,
        created.as_ref().map(Secret::expose),
        error,
    ))
}
