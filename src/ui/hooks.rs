//! A hook's pages: create, show (settings and recent deliveries), edit, delete, ping.
//!
//! Forms are read into a typed `HookInput` and checked by the same domain rules as the
//! API's bodies (`HookSettings::new`, `HookPatch::from_input`), so the UI accepts what the
//! API accepts and says why it refuses the rest, with the API's field names.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::deliveries::{self, LogView};
use super::pages::{done_notice, done_url, scope_title};
use super::session::{Session, SignedForm};
use super::{HookPath, UiError, csrf_input, health_dot, hook_url, layout};
use crate::core::access::authorize;
use crate::domain::hook::{HookInput, HookPatch, HookScope, HookSettings, SECRET_MASK, masked_url};
use crate::domain::names::{Login, RepoName};
use crate::domain::order::DeliveryOrder;
use crate::domain::retry::RetrySchedule;
use crate::domain::secret::Secret;
use crate::domain::signature::SignatureScheme;
use crate::domain::validate::ValidationErrors;
use crate::store::Hook;
use crate::web::{ApiBase, AppState};

/// The events offered as checkboxes; others can be typed in.
const COMMON_EVENTS: &[&str] = &[
    "push",
    "pull_request",
    "issues",
    "issue_comment",
    "create",
    "delete",
    "release",
    "workflow_run",
];

/// The events an app's webhook is offered: the installation's own, then the common ones.
const APP_EVENTS: &[&str] = &[
    "installation",
    "installation_repositories",
    "push",
    "pull_request",
    "issues",
    "check_suite",
    "check_run",
    "release",
];

/// The events offered as checkboxes for a hook of `scope`.
fn offered_events(scope: &HookScope) -> &'static [&'static str] {
    match scope {
        HookScope::App { .. } => APP_EVENTS,
        _ => COMMON_EVENTS,
    }
}

/// What the form shows: a new hook's defaults, or a stored hook's settings.
struct FormValues<'a> {
    url: &'a str,
    json: bool,
    has_secret: bool,
    /// The secret typed into a refused form, given back so that nothing typed is lost
    /// (never a stored one: pages show no stored secret).
    typed_secret: Option<&'a str>,
    verify_ssl: bool,
    events: &'a [String],
    active: bool,
    headers: String,
    signature: SignatureScheme,
    /// The hook's own retry schedule; empty follows the server's.
    retry_schedule: String,
    /// Deliveries per second at most; empty for no limit.
    rate_limit: String,
    ordering: DeliveryOrder,
}

impl<'a> FormValues<'a> {
    /// What was typed into a form that was refused, so that nothing typed is lost.
    fn typed(input: &'a HookInput, has_secret: bool) -> Self {
        FormValues {
            url: &input.url,
            json: input.content_type != "form",
            has_secret,
            typed_secret: input
                .secret
                .as_ref()
                .map(Secret::expose)
                .filter(|secret| !secret.is_empty()),
            verify_ssl: !input.insecure_ssl,
            events: &input.events,
            active: input.active,
            headers: input
                .headers
                .iter()
                .map(|(name, value)| format!("{name}: {value}"))
                .collect::<Vec<_>>()
                .join("\n"),
            signature: input
                .signature
                .as_deref()
                .and_then(SignatureScheme::parse)
                .unwrap_or(SignatureScheme::Github),
            retry_schedule: input.retry_schedule.clone().unwrap_or_default(),
            rate_limit: input.rate_limit.clone().unwrap_or_default(),
            ordering: input
                .ordering
                .as_deref()
                .and_then(|text| DeliveryOrder::parse(text).ok())
                .unwrap_or_default(),
        }
    }
}

/// The messages of the problems with the API field `field` (or inside it:
/// `config.headers.X-A`, `events[1]`), shown under its input.
fn field_errors(errors: Option<&ValidationErrors>, field: &str) -> Markup {
    let messages: Vec<&str> = errors
        .map(|errors| errors.0.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|error| {
            error
                .field
                .strip_prefix(field)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        })
        .map(|error| error.message.as_str())
        .collect();
    html! {
        @for message in messages { p.field-error role="alert" { (message) } }
    }
}

fn settings_fields(
    values: &FormValues<'_>,
    errors: Option<&ValidationErrors>,
    offered: &[&str],
) -> Markup {
    let others: Vec<&str> = values
        .events
        .iter()
        .map(String::as_str)
        .filter(|event| *event != "*" && !offered.contains(event))
        .collect();
    html! {
        label for="url" { "Payload URL" }
        input #url type="url" name="url" value=(values.url) required placeholder="https://example.com/hook";
        (field_errors(errors, "config.url"))
        label for="content_type" { "Content type" }
        select #content_type name="content_type" {
            option value="json" selected[values.json] { "application/json" }
            option value="form" selected[!values.json] { "application/x-www-form-urlencoded" }
        }
        (field_errors(errors, "config.content_type"))
        label for="secret" { "Secret" }
        input #secret type="password" name="secret" autocomplete="new-password" value=[values.typed_secret]
            placeholder=(if values.has_secret { "unchanged (a secret is set)" } else { "none" });
        @if values.has_secret {
            div.check {
                input #remove_secret type="checkbox" name="remove_secret" value="1";
                label for="remove_secret" { "Remove the secret (deliveries are no longer signed)" }
            }
        }
        label for="signature" { "Signature headers" }
        select #signature name="signature" {
            @for (scheme, label) in [
                (SignatureScheme::Github, "GitHub's (X-Hub-Signature-256)"),
                (SignatureScheme::Standard, "Standard Webhooks (webhook-signature; needs a whsec_ secret)"),
                (SignatureScheme::Both, "Both"),
            ] {
                option value=(scheme.as_str()) selected[values.signature == scheme] { (label) }
            }
        }
        (field_errors(errors, "config.signature"))
        (field_errors(errors, "config.secret"))
        label for="secret_overlap" { "When the secret changes, the old one still signs (Standard Webhooks only)" }
        select #secret_overlap name="secret_overlap" {
            @for (value, label) in [("", "not at all"), ("1h", "for an hour"), ("24h", "for a day"), ("7d", "for a week")] {
                option value=(value) { (label) }
            }
        }
        (field_errors(errors, "config.secret_overlap"))
        label for="retry_schedule" { "Retry schedule (e.g. " code { "10s,1m,1h" } ", or " code { "none" } "; empty for the server's)" }
        input #retry_schedule type="text" name="retry_schedule" value=(values.retry_schedule)
            placeholder="the server's schedule" autocomplete="off";
        (field_errors(errors, "config.retry_schedule"))
        label for="rate_limit" { "Rate limit (deliveries per second, every attempt counted; empty for none)" }
        input #rate_limit type="number" name="rate_limit" min="1" step="1" value=(values.rate_limit)
            placeholder="no limit" autocomplete="off";
        (field_errors(errors, "config.rate_limit"))
        label for="ordering" { "Order of deliveries" }
        select #ordering name="ordering" {
            @for (order, label) in [
                (DeliveryOrder::Any, "Side by side (as GitHub sends them)"),
                (DeliveryOrder::Fifo, "One at a time, in the order events happened (FIFO)"),
            ] {
                option value=(order.as_str()) selected[values.ordering == order] { (label) }
            }
        }
        (field_errors(errors, "config.ordering"))
        div.check {
            input #verify_ssl type="checkbox" name="verify_ssl" value="1" checked[values.verify_ssl];
            label for="verify_ssl" { "Enable SSL verification" }
        }
        fieldset {
            legend { "Which events should trigger this webhook?" }
            div.check {
                input #event_all type="checkbox" name="events" value="*" checked[values.events.iter().any(|e| e == "*")];
                label for="event_all" { "Send me everything" }
            }
            @for event in offered {
                div.check {
                    input id={"event_" (event)} type="checkbox" name="events" value=(event)
                        checked[values.events.iter().any(|e| e == event)];
                    label for={"event_" (event)} { (event) }
                }
            }
            label for="other_events" { "Other events (comma separated)" }
            input #other_events type="text" name="other_events" value=(others.join(", "));
            (field_errors(errors, "events"))
        }
        label for="headers" { "Custom headers (one " code { "Name: value" } " per line)" }
        textarea #headers name="headers" rows="3" { (values.headers) }
        (field_errors(errors, "config.headers"))
        div.check {
            input #active type="checkbox" name="active" value="1" checked[values.active];
            label for="active" { "Active" }
        }
    }
}

/// The settings a form stands for; an empty secret field keeps the stored secret (it is
/// never shown back), the "remove" box removes it.
fn input_from(form: &SignedForm) -> HookInput {
    let mut events: Vec<String> = form.all("events");
    events.extend(
        form.get("other_events")
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|event| !event.is_empty())
            .map(str::to_owned),
    );
    let headers = form
        .get("headers")
        .unwrap_or("")
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    HookInput {
        active: form.get("active").is_some(),
        events,
        url: form.get("url").unwrap_or("").trim().to_owned(),
        content_type: form.get("content_type").unwrap_or("json").to_owned(),
        secret: if form.get("remove_secret").is_some() {
            Some(Secret::new(""))
        } else {
            form.get("secret")
                .filter(|secret| !secret.is_empty() && *secret != SECRET_MASK)
                .map(Secret::new)
        },
        insecure_ssl: form.get("verify_ssl").is_none(),
        headers,
        signature: form.get("signature").map(str::to_owned),
        secret_overlap: form.get("secret_overlap").map(str::to_owned),
        retry_schedule: Some(form.get("retry_schedule").unwrap_or("").trim().to_owned()),
        rate_limit: Some(form.get("rate_limit").unwrap_or("").trim().to_owned()),
        ordering: form.get("ordering").map(str::to_owned),
    }
}

fn problems(errors: &ValidationErrors) -> Markup {
    html! {
        div.error role="alert" {
            p { "The webhook was not saved:" }
            ul { @for error in &errors.0 { li { (error.field) ": " (error.message) } } }
        }
    }
}

#[derive(serde::Deserialize)]
pub struct NewQuery {
    target: Option<String>,
}

/// The "Add webhook" page: empty, or with what was typed and what was wrong with it.
fn new_page(
    session: &Session,
    target: &str,
    refused: Option<(&ValidationErrors, &HookInput)>,
) -> Markup {
    let errors = refused.map(|(errors, _)| errors);
    let defaults = FormValues {
        url: "",
        json: true,
        has_secret: false,
        typed_secret: None,
        verify_ssl: true,
        events: &["push".to_owned()],
        active: true,
        headers: String::new(),
        signature: SignatureScheme::Github,
        retry_schedule: String::new(),
        rate_limit: String::new(),
        ordering: DeliveryOrder::Any,
    };
    layout(
        "Add webhook",
        Some(session),
        html! {
            h1 { "Add webhook" }
            @if let Some(errors) = errors { (problems(errors)) }
            form.settings method="post" action="/ui/hooks/new" {
                (csrf_input(session))
                label for="target" { "Repository (" code { "owner/name" } ") or organization" }
                input #target type="text" name="target" value=(target) required placeholder="acme/widgets";
                @match refused {
                    Some((_, input)) => (settings_fields(&FormValues::typed(input, false), errors, COMMON_EVENTS)),
                    None => (settings_fields(&defaults, errors, COMMON_EVENTS)),
                }
                button.primary type="submit" { "Add webhook" }
            }
        },
    )
}

pub async fn new_form(session: Session, Query(query): Query<NewQuery>) -> Markup {
    new_page(&session, query.target.as_deref().unwrap_or(""), None)
}

/// `owner/name` is a repository, a bare name an organization.
fn parse_target(target: &str) -> Option<HookScope> {
    match target.trim().split_once('/') {
        Some((owner, repo)) => Some(HookScope::Repository {
            owner: Login::parse(owner)?,
            repo: RepoName::parse(repo)?,
        }),
        None => Some(HookScope::Organization {
            org: Login::parse(target.trim())?,
        }),
    }
}

pub async fn create(
    State(state): State<AppState>,
    ApiBase(base): ApiBase,
    form: SignedForm,
) -> Result<Response, UiError> {
    let target = form.get("target").unwrap_or("").to_owned();
    let Some(scope) =
        parse_target(&target).and_then(|scope| authorize(&form.session.principal, scope).ok())
    else {
        let message = format!("You cannot add webhooks to {target:?}.");
        return Err(UiError::BadRequest(message));
    };
    let input = input_from(&form);
    let settings = match HookSettings::new(&input, state.core.hook_rules()) {
        Ok(settings) => settings,
        Err(errors) => {
            let page = new_page(&form.session, &target, Some((&errors, &input)));
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let hook = state.core.create_hook(scope, settings, &base).await?.hook;
    Ok(Redirect::to(&done_url(&hook_url(&hook.scope, hook.id), "created")).into_response())
}

async fn find(state: &AppState, path: &HookPath) -> Result<Hook, UiError> {
    Ok(state.core.hook(&path.scope, path.hook_id).await?)
}

/// A hook's page; after a refused update, its form shows what was typed and what was wrong.
fn hook_page(
    path: &HookPath,
    hook: &Hook,
    warnings: &[String],
    log: Markup,
    refused: Option<(&ValidationErrors, &HookInput)>,
    done: Option<&str>,
    title: &str,
) -> Markup {
    let errors = refused.map(|(errors, _)| errors);
    let config = &hook.settings.config;
    let headers: Vec<String> = config
        .headers
        .masked()
        .iter()
        .map(|(name, value)| format!("{name}: {value}"))
        .collect();
    let url = masked_url(&config.url);
    let values = FormValues {
        url: &url,
        json: config.content_type.as_str() == "json",
        has_secret: config.secret.is_some(),
        typed_secret: None,
        verify_ssl: !config.insecure_ssl,
        events: &hook.settings.events,
        active: hook.settings.active,
        headers: headers.join("\n"),
        signature: config.signature,
        retry_schedule: config
            .retry_schedule
            .as_ref()
            .map(RetrySchedule::to_text)
            .unwrap_or_default(),
        rate_limit: config
            .rate_limit
            .map(|rate| rate.per_second().to_string())
            .unwrap_or_default(),
        ordering: config.ordering,
    };
    let values = match refused {
        Some((_, input)) => FormValues::typed(input, config.secret.is_some()),
        None => values,
    };
    let base = path.base();
    layout(
        &format!("Webhook {}", hook.id),
        Some(&path.session),
        html! {
            p.crumbs { a href=(super::pages::HOME) { "Webhooks" } " / " (title) }
            div.heading {
                h1 { (health_dot(&hook.last_response)) " " (url) }
                form method="post" action={(base) "/ping"} {
                    (csrf_input(&path.session))
                    button type="submit" { "Ping" }
                }
            }
            @if let Some(disabled) = &hook.disabled {
                div.warning #disabled role="status" {
                    p {
                        "This webhook was disabled " time datetime=(disabled.at.to_github()) title=(disabled.at.to_github()) { (disabled.at.to_github()) }
                        ": " (disabled.reason) ". Its events are held, not lost (see "
                        a href={(base) "?filter=held#deliveries"} { "Held" } "), and are delivered in the order they were published when you re-enable it."
                    }
                    form method="post" action={(base) "/enable"} {
                        (csrf_input(&path.session))
                        button.primary type="submit" { "Re-enable webhook" }
                    }
                }
            } @else if !hook.settings.active {
                p.warning #inactive role="status" { "This webhook is inactive: events are not delivered to it, and it is not pinged. Tick “Active” in its settings to resume." }
            }
            (done_notice(done))
            @for warning in warnings { p.warning role="alert" { (warning) } }
            nav.tabs aria-label="Webhook" {
                a href="#deliveries" { "Recent Deliveries" }
                a href="#settings" { "Settings" }
            }
            (log)
            section #settings aria-labelledby="settings-title" {
                h2 #settings-title { "Settings" }
                @if let Some(errors) = errors { (problems(errors)) }
                form.settings method="post" action=(base) {
                    (csrf_input(&path.session))
                    (settings_fields(&values, errors, offered_events(&hook.scope)))
                    button.primary type="submit" { "Update webhook" }
                }
                @if matches!(hook.scope, HookScope::App { .. }) {
                    p.muted { "An app's webhook goes with its app: it is not deleted on its own." }
                } @else {
                    p { a.danger href={(base) "/delete"} { "Delete webhook…" } }
                }
            }
        },
    )
}

/// What a hook's page calls its owner: `owner/name`, the organization, or the app by its
/// name.
async fn title_of(state: &AppState, path: &HookPath, hook: &Hook) -> Result<String, UiError> {
    let HookScope::App { app_id } = hook.scope else {
        return Ok(scope_title(&hook.scope));
    };
    let apps = state.core.apps(&path.session.principal).await?;
    Ok(apps.iter().find(|app| app.id == app_id).map_or_else(
        || scope_title(&hook.scope),
        |app| format!("{} (app)", app.name),
    ))
}

pub async fn show(
    State(state): State<AppState>,
    path: HookPath,
    Query(view): Query<LogView>,
) -> Result<Markup, UiError> {
    let hook = find(&state, &path).await?;
    let log = deliveries::section(&state, &path, &view).await?;
    let warnings = state.core.hook_warnings(&hook);
    let title = title_of(&state, &path, &hook).await?;
    Ok(hook_page(
        &path,
        &hook,
        &warnings,
        log,
        None,
        view.done.as_deref(),
        &title,
    ))
}

pub async fn update(
    State(state): State<AppState>,
    path: HookPath,
    form: SignedForm,
) -> Result<Response, UiError> {
    let input = input_from(&form);
    let patch = match HookPatch::from_input(&input, state.core.hook_rules()) {
        Ok(patch) => patch,
        Err(errors) => {
            let hook = find(&state, &path).await?;
            let log = deliveries::section(&state, &path, &LogView::default()).await?;
            let warnings = state.core.hook_warnings(&hook);
            let title = title_of(&state, &path, &hook).await?;
            let page = hook_page(
                &path,
                &hook,
                &warnings,
                log,
                Some((&errors, &input)),
                None,
                &title,
            );
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    state
        .core
        .update_hook(&path.scope, path.hook_id, patch)
        .await?;
    Ok(Redirect::to(&done_url(&path.base(), "updated")).into_response())
}

/// "Re-enable webhook" on a disabled hook's page: active again, its held deliveries sent
/// in order.
pub async fn enable(
    State(state): State<AppState>,
    path: HookPath,
    _form: SignedForm,
) -> Result<Redirect, UiError> {
    state
        .core
        .update_hook(&path.scope, path.hook_id, HookPatch::activate())
        .await?;
    Ok(Redirect::to(&done_url(&path.base(), "enabled")))
}

/// An app's webhook is not deleted on its own (GitHub has no such call either).
fn refuse_app_hook(hook: &Hook) -> Result<(), UiError> {
    match hook.scope {
        HookScope::App { .. } => Err(UiError::BadRequest(
            "An app's webhook goes with its app: it is not deleted on its own.".to_owned(),
        )),
        _ => Ok(()),
    }
}

pub async fn confirm_delete(
    State(state): State<AppState>,
    path: HookPath,
) -> Result<Markup, UiError> {
    let hook = find(&state, &path).await?;
    refuse_app_hook(&hook)?;
    Ok(layout(
        "Delete webhook",
        Some(&path.session),
        html! {
            section.narrow {
                h1 { "Delete this webhook?" }
                p { "Deliveries to " strong { (masked_url(&hook.settings.config.url)) } " stop, and its delivery log is deleted. This cannot be undone." }
                form method="post" action={(path.base()) "/delete"} {
                    (csrf_input(&path.session))
                    button.danger type="submit" { "Yes, delete webhook" }
                    " "
                    a href=(path.base()) { "Cancel" }
                }
            }
        },
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    path: HookPath,
    _form: SignedForm,
) -> Result<Redirect, UiError> {
    refuse_app_hook(&find(&state, &path).await?)?;
    state.core.delete_hook(&path.scope, path.hook_id).await?;
    Ok(Redirect::to(&done_url(super::pages::HOME, "deleted")))
}

pub async fn ping(
    State(state): State<AppState>,
    path: HookPath,
    ApiBase(base): ApiBase,
    _form: SignedForm,
) -> Result<Redirect, UiError> {
    let hook = find(&state, &path).await?;
    if !hook.settings.active {
        // GitHub pings inactive hooks not at all; say so rather than seem to do it.
        return Err(UiError::BadRequest(
            "This webhook is inactive, so it is not pinged: make it active in its settings first."
                .to_owned(),
        ));
    }
    state.core.ping(&path.scope, path.hook_id, &base).await?;
    Ok(Redirect::to(&done_url(&path.base(), "pinged")))
}
