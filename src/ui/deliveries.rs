//! "Recent Deliveries": a hook's attempts, newest first, filterable and paged; each row
//! opens into Request and Response tabs; new attempts arrive by server-sent events; a chart
//! of the last 24 hours.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::Redirect;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use maud::{Markup, html};

use super::pages::done_url;
use super::session::SignedForm;
use super::{HookPath, UiError, csrf_input};
use crate::core::CoreError;
use crate::core::deliveries::Capped;
use crate::domain::timestamp::Timestamp;
use crate::store::{AttemptId, AttemptQuery, AttemptSummary, Recovery, StatusClass, Trigger};
use crate::web::AppState;

/// Rows per page.
const PAGE: u32 = 30;

/// How often a live page looks for new attempts (the store is shared by every process, so
/// it is asked rather than told).
const LIVE_INTERVAL: Duration = Duration::from_secs(1);

/// Attempts read at most for the 24-hour chart.
const CHART_LIMIT: u32 = 5000;

/// The log's filter and page, from the query string.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct LogView {
    /// `failed`, `retries`, `redeliveries` or `held`; anything else is all.
    #[serde(default)]
    filter: Option<String>,
    /// Attempts older than this id (the next page).
    #[serde(default)]
    before: Option<AttemptId>,
    /// The page of attempts just newer than this id (the previous page).
    #[serde(default)]
    newer: Option<AttemptId>,
    /// `oldest`: the log's last page.
    #[serde(default)]
    end: Option<String>,
    /// Only the attempts of one delivery (its `X-GitHub-Delivery`).
    #[serde(default)]
    guid: Option<String>,
    /// For the live stream: attempts newer than this id.
    #[serde(default)]
    after: Option<AttemptId>,
    /// A recovery just started, whose progress the page shows.
    #[serde(default)]
    recovery: Option<i64>,
    /// What was just done, said once ([`super::pages::done_notice`]).
    #[serde(default)]
    pub done: Option<String>,
}

impl LogView {
    fn filter(&self) -> &str {
        match self.filter.as_deref() {
            Some("failed") => "failed",
            Some("retries") => "retries",
            Some("redeliveries") => "redeliveries",
            Some("held") => "held",
            _ => "all",
        }
    }

    /// Which page the view asks for.
    fn page(&self) -> Page {
        match (self.before, self.newer, self.end.as_deref()) {
            (Some(before), _, _) => Page::Older(before),
            (None, Some(after), _) => Page::Newer(after),
            (None, None, Some("oldest")) => Page::Oldest,
            _ => Page::Newest,
        }
    }

    /// The query of one page of the view.
    fn page_query(&self, page: Page) -> AttemptQuery {
        let newest = self.query(None, PAGE);
        match page {
            Page::Newest => newest,
            Page::Older(before) => self.query(Some(before), PAGE),
            Page::Newer(after) => AttemptQuery {
                after: Some(after),
                oldest_first: true,
                ..newest
            },
            Page::Oldest => AttemptQuery {
                oldest_first: true,
                ..newest
            },
        }
    }

    /// A link to this view's `page` (its filter kept).
    fn link(&self, base: &str, page: Page) -> String {
        let mut link = format!("{base}?filter={}", self.filter());
        if let Some(guid) = &self.guid {
            link.push_str("&guid=");
            link.push_str(&url_encoded(guid));
        }
        match page {
            Page::Newest => {}
            Page::Older(before) => link.push_str(&format!("&before={before}")),
            Page::Newer(after) => link.push_str(&format!("&newer={after}")),
            Page::Oldest => link.push_str("&end=oldest"),
        }
        link.push_str("#deliveries");
        link
    }

    fn query(&self, before: Option<AttemptId>, limit: u32) -> AttemptQuery {
        AttemptQuery {
            before,
            limit,
            guid: self.guid.clone(),
            status: match self.filter() {
                "failed" => Some(StatusClass::Failure),
                "held" => Some(StatusClass::Held),
                _ => None,
            },
            trigger: match self.filter() {
                "retries" => Some(Trigger::Retry),
                "redeliveries" => Some(Trigger::Redelivery),
                _ => None,
            },
            ..AttemptQuery::default()
        }
    }
}

/// A page of the log: the newest, those older or newer than a cursor, or the oldest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    Newest,
    Older(AttemptId),
    Newer(AttemptId),
    Oldest,
}

/// The most rows a page's counts read (past it they say "1,000+").
const COUNT_CAP: u32 = 1000;

/// `1,234`.
fn thousands(count: u64) -> String {
    let digits = count.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A capped count as a person reads it: `245`, or `1,000+`.
fn capped(count: Capped) -> String {
    if count.more {
        format!("{}+", thousands(count.count))
    } else {
        thousands(count.count)
    }
}

/// Where a page is in the log: "31–60 of 245", or, past the counts' cap, "30 older than
/// the newest 1,000".
fn position(newer: Capped, shown: usize, total: Capped) -> String {
    let shown = shown as u64;
    if newer.more {
        return format!("{shown} older than the newest {}", thousands(newer.count));
    }
    format!(
        "{}–{} of {}",
        thousands(newer.count + 1),
        thousands(newer.count + shown),
        capped(total)
    )
}

/// A value for a query string.
fn url_encoded(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A page's attempts grouped by delivery (`guid`), each group where its newest attempt
/// is, newest first within it.
fn by_delivery(attempts: &[AttemptSummary]) -> Vec<Vec<&AttemptSummary>> {
    let mut groups: Vec<Vec<&AttemptSummary>> = Vec::new();
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for attempt in attempts {
        match index.get(attempt.guid.as_str()) {
            Some(&at) => groups[at].push(attempt),
            None => {
                index.insert(&attempt.guid, groups.len());
                groups.push(vec![attempt]);
            }
        }
    }
    groups
}

/// One delivery's attempts on a page; a link to all of them when some may be on other
/// pages (the oldest shown is not the publish's first attempt).
fn group(path: &HookPath, view: &LogView, attempts: &[&AttemptSummary], now: Timestamp) -> Markup {
    let guid = attempts.first().map_or("", |attempt| attempt.guid.as_str());
    let complete = attempts.last().is_none_or(|oldest| {
        oldest.status == "held"
            || (oldest.trigger == Trigger::Publish && oldest.attempt_number == 1)
    });
    html! {
        li.group data-guid=(guid) {
            ol.attempts {
                @for attempt in attempts { (row(path, attempt, now)) }
            }
            @if !complete && view.guid.is_none() {
                a.all-attempts href={(path.base()) "?guid=" (url_encoded(guid)) "#deliveries"} { "All attempts of this delivery" }
            }
        }
    }
}

fn succeeded(attempt: &AttemptSummary) -> bool {
    (200..400).contains(&attempt.status_code)
}

/// "3 minutes ago", for a row; the exact time is in its `<time>` element.
fn ago(at: Timestamp, now: Timestamp) -> String {
    let seconds = (now.0 - at.0).max(0) / 1000;
    match seconds {
        0..=59 => "just now".to_owned(),
        60..=3599 => format!("{} min ago", seconds / 60),
        3600..=86_399 => format!("{} h ago", seconds / 3600),
        _ => format!("{} days ago", seconds / 86_400),
    }
}

/// "in 5 min", for a retry still to come.
fn until(at: Timestamp, now: Timestamp) -> String {
    let seconds = (at.0 - now.0).max(0) / 1000;
    match seconds {
        0..=59 => "in under a minute".to_owned(),
        60..=3599 => format!("in {} min", seconds / 60),
        3600..=86_399 => format!("in {} h", seconds / 3600),
        _ => format!("in {} days", seconds / 86_400),
    }
}

/// How long an attempt waited for its hook's rate limit: `0.4 s`, `12 s`, `3 min`.
fn waited_for(from: Timestamp, until: Timestamp) -> String {
    let ms = (until.0 - from.0).max(0);
    match ms {
        0..10_000 => format!("{:.1} s", ms as f64 / 1000.0),
        10_000..120_000 => format!("{} s", ms / 1000),
        _ => format!("{} min", ms / 60_000),
    }
}

/// One delivery row; it opens into the attempt's details, fetched when first opened. A
/// held delivery has no attempt to open.
pub fn row(path: &HookPath, attempt: &AttemptSummary, now: Timestamp) -> Markup {
    if attempt.status == "held" {
        return html! {
            li.delivery.held data-id=(attempt.id) data-guid=(attempt.guid) {
                span.dot.held role="img" aria-label="Held" {}
                span.guid { (attempt.guid) }
                span.event { (attempt.event) }
                span.badge title="Held while the webhook is disabled; delivered in order when it is re-enabled" { "held" }
                time.ago datetime=(attempt.delivered_at.to_github()) title=(attempt.delivered_at.to_github()) { "published " (ago(attempt.delivered_at, now)) }
            }
        };
    }
    let event = match &attempt.action {
        Some(action) => format!("{}.{action}", attempt.event),
        None => attempt.event.clone(),
    };
    let ok = succeeded(attempt);
    html! {
        li.delivery data-id=(attempt.id) data-guid=(attempt.guid) {
            details data-src={(path.base()) "/deliveries/" (attempt.id)} {
                summary {
                    span class=(if ok { "dot ok" } else { "dot failed" }) role="img"
                        aria-label=(if ok { "Succeeded" } else { "Failed" }) {}
                    span.guid { (attempt.guid) }
                    span.event { (event) }
                    @match attempt.trigger {
                        Trigger::Publish => {},
                        Trigger::Retry => span.badge title="An automatic retry" { "retry " (attempt.attempt_number - 1) },
                        Trigger::Redelivery => span.badge title="A manual redelivery" { "redelivery" },
                        Trigger::Recovery => span.badge title="Redelivered by a recovery of failed deliveries" { "recovery" },
                    }
                    @if let Some(waited) = attempt.throttled_at {
                        span.badge title={"Waited for the hook's rate limit from " (waited.to_github())} {
                            "rate-limited " (waited_for(waited, attempt.delivered_at))
                        }
                    }
                    time.ago datetime=(attempt.delivered_at.to_github()) title=(attempt.delivered_at.to_github()) { (ago(attempt.delivered_at, now)) }
                    span.duration { (format!("{:.2} s", attempt.duration_ms as f64 / 1000.0)) }
                    span.status { (plain_status(attempt.status_code, &attempt.status)) }
                    @if let Some(next) = attempt.next_attempt_at {
                        span.next { "next retry " time datetime=(next.to_github()) title=(next.to_github()) { (until(next, now)) } }
                    }
                }
                div.detail { p.muted { "Loading…" } }
            }
        }
    }
}

/// An attempt's status as a person reads it: `200 OK`, `500 Invalid HTTP Response` (the
/// log's status already ends with the code GitHub repeats there), `timed out`.
fn plain_status(code: u16, status: &str) -> String {
    if code == 0 {
        return status.to_owned();
    }
    let status = status.strip_suffix(&format!(": {code}")).unwrap_or(status);
    format!("{code} {status}")
}

/// Successes and failures per hour over the last 24 hours, as a bar chart.
fn chart(attempts: &[AttemptSummary], now: Timestamp) -> Markup {
    const HOUR: i64 = 3_600_000;
    let mut hours = [(0u32, 0u32); 24];
    for attempt in attempts {
        let age = now.0 - attempt.delivered_at.0;
        if !(0..24 * HOUR).contains(&age) {
            continue;
        }
        let slot = 23 - usize::try_from(age / HOUR).unwrap_or(0);
        if succeeded(attempt) {
            hours[slot].0 += 1;
        } else {
            hours[slot].1 += 1;
        }
    }
    let highest = hours
        .iter()
        .map(|(ok, failed)| ok + failed)
        .max()
        .unwrap_or(0)
        .max(1);
    let (ok_total, failed_total): (u32, u32) = hours
        .iter()
        .fold((0, 0), |(a, b), (ok, failed)| (a + ok, b + failed));
    // Only the newest attempts are read: past that many, the counts are a floor, and say so.
    let capped = attempts.len() >= CHART_LIMIT as usize;
    let summary = if capped {
        format!(
            "Last 24 hours: more than {CHART_LIMIT} attempts; the newest {CHART_LIMIT}: \
             {ok_total} succeeded, {failed_total} failed"
        )
    } else {
        format!("Last 24 hours: {ok_total} succeeded, {failed_total} failed")
    };
    let height = |count: u32| f64::from(count) * 40.0 / f64::from(highest);
    html! {
        figure.chart {
            svg viewBox="0 0 240 44" role="img" aria-label=(summary) preserveAspectRatio="none" {
                @for (slot, (ok, failed)) in hours.iter().enumerate() {
                    @let x = slot as f64 * 10.0 + 1.0;
                    @let ok_height = height(*ok);
                    @let failed_height = height(*failed);
                    @let ago = 24 - slot;
                    g {
                        title { (ago) "–" (ago - 1) " h ago: " (ok) " succeeded, " (failed) " failed" }
                        rect.hour x=(x - 1.0) y="0" width="10" height="44" {}
                        rect.ok x=(x) y=(42.0 - ok_height) width="8" height=(ok_height) {}
                        rect.failed x=(x) y=(42.0 - ok_height - failed_height) width="8" height=(failed_height) {}
                    }
                }
            }
            div.axis aria-hidden="true" {
                span { "24 h ago" } span { "18 h" } span { "12 h" } span { "6 h" } span { "now" }
            }
            figcaption { (summary) " (per hour; point at a bar for its counts)" }
        }
    }
}

/// The "Recent Deliveries" section of a hook's page.
pub async fn section(state: &AppState, path: &HookPath, view: &LogView) -> Result<Markup, UiError> {
    let now = Timestamp::now();
    let attempts_of =
        async |query: AttemptQuery| state.core.attempts(&path.scope, path.hook_id, query).await;
    let mut page = view.page();
    let mut attempts = attempts_of(view.page_query(page)).await?.attempts;
    // A page newer than a cursor that comes short is the newest page.
    if matches!(page, Page::Newer(_)) && attempts.len() < PAGE as usize {
        page = Page::Newest;
        attempts = attempts_of(view.page_query(page)).await?.attempts;
    }
    let first = page == Page::Newest;
    let count = async |query: AttemptQuery, cap: u32| {
        state
            .core
            .count_attempts(&path.scope, path.hook_id, query, cap)
            .await
    };
    let newest = attempts.first().map(|attempt| attempt.id);
    let oldest = attempts.last().map(|attempt| attempt.id);
    let mut paging = None;
    if let (Some(newest), Some(oldest)) = (newest, oldest) {
        let unpaged = view.query(None, PAGE);
        let total = count(unpaged.clone(), COUNT_CAP).await?;
        let newer = AttemptQuery {
            after: Some(newest),
            ..unpaged.clone()
        };
        let newer = count(newer, COUNT_CAP).await?;
        let has_older = count(view.query(Some(oldest), PAGE), 1).await?.count > 0;
        paging = Some((
            position(newer, attempts.len(), total),
            newer.count > 0,
            has_older,
        ));
    }
    // The chart is of the last 24 hours: on the first page only.
    let recent = if first {
        Some(
            attempts_of(LogView::default().query(None, CHART_LIMIT))
                .await?
                .attempts,
        )
    } else {
        None
    };
    let base = path.base();
    let after = newest.map_or(0, |id| id.0);
    // Held deliveries are listed by delivery, not attempt: no live stream of attempts.
    let live = first && view.filter() != "held";
    let mut live_url = format!("{base}/live?filter={}&after={after}", view.filter());
    if let Some(guid) = &view.guid {
        live_url.push_str(&format!("&guid={}", url_encoded(guid)));
    }
    let recovery = match view.recovery {
        Some(id) => Some(state.core.recovery(&path.scope, path.hook_id, id).await?),
        None => None,
    };
    // Held deliveries are counted in their filter's label: a disabled hook's page says how
    // many events wait for it.
    let held_query = AttemptQuery {
        status: Some(StatusClass::Held),
        ..AttemptQuery::default()
    };
    let held = count(held_query, COUNT_CAP).await?;
    let held_label = if held.count == 0 {
        "Held".to_owned()
    } else {
        format!("Held ({})", capped(held))
    };
    let filters = [
        ("all", "All"),
        ("failed", "Failed"),
        ("retries", "Retries"),
        ("redeliveries", "Redeliveries"),
        ("held", held_label.as_str()),
    ];
    Ok(html! {
        section #deliveries aria-labelledby="deliveries-title" {
            h2 #deliveries-title { "Recent Deliveries" }
            @if let Some(recovery) = &recovery { (recovery_notice(recovery)) }
            form.recover method="post" action={(base) "/recover"} {
                (csrf_input(&path.session))
                label for="recover_since" { "Redeliver failed deliveries published in the last" }
                select #recover_since name="since" {
                    @for (value, label, _) in RECOVERY_WINDOWS {
                        option value=(value) selected[value == "24h"] { (label) }
                    }
                }
                button type="submit" { "Redeliver failed" }
            }
            @if let Some(recent) = &recent { (chart(recent, now)) }
            nav.filters aria-label="Filter deliveries" {
                @for (value, label) in filters {
                    a href={(base) "?filter=" (value) "#deliveries"}
                        aria-current=[(view.filter() == value && view.guid.is_none()).then_some("page")] { (label) }
                }
            }
            @if let Some(guid) = &view.guid {
                p.muted.one-delivery { "Every attempt of delivery " code { (guid) } ". "
                    a href={(base) "#deliveries"} { "All deliveries" } }
            }
            ol.deliveries #delivery-list data-live=[live.then_some(live_url)] {
                @for attempts in by_delivery(&attempts) { (group(path, view, &attempts, now)) }
            }
            @if attempts.is_empty() {
                p.empty #no-deliveries {
                    @match (view.filter(), page != Page::Newest) {
                        (_, true) => "No older deliveries.",
                        ("failed", _) => "No failed deliveries.",
                        ("retries", _) => "No automatic retries.",
                        ("redeliveries", _) => "No redeliveries.",
                        ("held", _) => "No held deliveries: only a webhook disabled after failing for too long holds its events.",
                        _ => "No deliveries yet.",
                    }
                }
            }
            @if let (Some((position, has_newer, has_older)), Some(newest), Some(oldest)) = (&paging, newest, oldest) {
                nav.pages aria-label="Pages of deliveries" {
                    span.position { (if view.filter() == "held" { "Held deliveries " } else { "Attempts " }) (position) }
                    @if *has_newer {
                        a.button.first href=(view.link(&base, Page::Newest)) { "Newest" }
                        a.button.newer href=(view.link(&base, Page::Newer(newest))) { "Newer" }
                    }
                    @if *has_older {
                        a.button.older href=(view.link(&base, Page::Older(oldest))) { "Older" }
                        a.button.last href=(view.link(&base, Page::Oldest)) { "Oldest" }
                    }
                }
            }
        }
    })
}

/// The windows the "Redeliver failed" form offers: value, label, hours.
const RECOVERY_WINDOWS: [(&str, &str, i64); 4] = [
    ("1h", "hour", 1),
    ("24h", "24 hours", 24),
    ("7d", "7 days", 7 * 24),
    ("30d", "30 days", 30 * 24),
];

/// What a recovery has done so far.
fn recovery_notice(recovery: &Recovery) -> Markup {
    html! {
        p.notice #recovery role="status" {
            @if recovery.queued == 0 {
                "Nothing to redeliver: no delivery in that window had failed last."
            } @else if recovery.is_running() {
                "Redelivering " (recovery.queued) " failed deliveries: " (recovery.done)
                " attempted so far (" (recovery.succeeded) " succeeded, " (recovery.failed)
                " failed). Reload to follow it."
            } @else {
                "Redelivered " (recovery.queued) " failed deliveries: " (recovery.succeeded)
                " succeeded, " (recovery.failed) " failed."
            }
        }
    }
}

/// Starts a recovery of the hook's failed deliveries of the chosen window, then shows its
/// progress on the hook's page.
pub async fn recover(
    State(state): State<AppState>,
    path: HookPath,
    form: SignedForm,
) -> Result<Redirect, UiError> {
    let chosen = form.get("since").unwrap_or_default();
    let hours = RECOVERY_WINDOWS
        .iter()
        .find(|(value, _, _)| *value == chosen)
        .map(|(_, _, hours)| *hours)
        .ok_or_else(|| UiError::BadRequest(format!("{chosen:?} is not a window offered")))?;
    let since = Timestamp(Timestamp::now().0 - hours * 3_600_000);
    let recovery = state
        .core
        .recover(&path.scope, path.hook_id, since, None)
        .await?;
    Ok(Redirect::to(&format!(
        "{}?recovery={}#deliveries",
        path.base(),
        recovery.id
    )))
}

/// The most bytes of a binary body shown as hex (the rest is said, not shown).
const HEX_SHOWN: usize = 4096;

/// A body as a person can read it: pretty-printed JSON or text with its size, an empty one
/// said to be empty, a binary one as a hex dump (and its base64 to copy), each with a copy
/// button. `id` names the block for the button.
fn body_view(id: &str, bytes: &[u8]) -> Markup {
    let size = bytes.len();
    if size == 0 {
        return html! { p.muted.empty-body { "Empty body (0 bytes)." } };
    }
    let copy = |target: &str| {
        html! { button.copy type="button" data-copy=(target) { "Copy" } }
    };
    match std::str::from_utf8(bytes) {
        Ok(_) => html! {
            p.muted.size { (size) " bytes " (copy(id)) }
            pre.payload #(id) { (pretty(bytes)) }
        },
        Err(_) => {
            use base64::Engine;
            let base64_id = format!("{id}-base64");
            html! {
                p.muted.size { "Binary body, " (size) " bytes, shown as hex"
                    @if size > HEX_SHOWN { " (the first " (HEX_SHOWN) ")" } "." }
                pre.payload.hex #(id) { (hex_dump(&bytes[..size.min(HEX_SHOWN)])) }
                details.base64 {
                    summary { "Base64 " (copy(&base64_id)) }
                    pre.payload #(base64_id) { (base64::engine::general_purpose::STANDARD.encode(bytes)) }
                }
            }
        }
    }
}

/// Sixteen bytes a line: offset, hex, and the printable ASCII beside them.
fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 4 + bytes.len() / 16 * 12);
    for (line, chunk) in bytes.chunks(16).enumerate() {
        out.push_str(&format!("{:08x}  ", line * 16));
        for index in 0..16 {
            match chunk.get(index) {
                Some(byte) => out.push_str(&format!("{byte:02x} ")),
                None => out.push_str("   "),
            }
        }
        out.push(' ');
        out.extend(chunk.iter().map(|byte| {
            if byte.is_ascii_graphic() || *byte == b' ' {
                char::from(*byte)
            } else {
                '.'
            }
        }));
        out.push('\n');
    }
    out
}

/// Pretty-printed JSON, or the text as it is.
fn pretty(bytes: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|value| serde_json::to_string_pretty(&value).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned())
}

fn header_list(headers: &[(String, String)]) -> Markup {
    html! {
        pre.headers { @for (name, value) in headers { (name) ": " (value) "\n" } }
    }
}

/// One attempt's Request and Response tabs (an HTML fragment for an opened row).
pub async fn detail(State(state): State<AppState>, path: HookPath) -> Result<Markup, UiError> {
    let attempt_id = path.delivery_id.ok_or(UiError::NotFound)?;
    let view = state
        .core
        .attempt(&path.scope, path.hook_id, attempt_id)
        .await?;
    let detail = &view.detail;
    let id = detail.summary.id;
    Ok(html! {
        div.tabset {
            div role="tablist" aria-label="Attempt" {
                button role="tab" id={"req-tab-" (id)} aria-controls={"req-" (id)} aria-selected="true" { "Request" }
                button role="tab" id={"res-tab-" (id)} aria-controls={"res-" (id)} aria-selected="false" tabindex="-1" {
                    "Response" @if detail.summary.status_code != 0 { " " (detail.summary.status_code) }
                }
            }
            div role="tabpanel" id={"req-" (id)} aria-labelledby={"req-tab-" (id)} {
                p { strong { "POST" } " " code { (detail.url) } }
                h3 { "Headers" }
                (header_list(&detail.request_headers))
                h3 { "Payload" }
                (body_view(&format!("payload-{id}"), &view.payload))
            }
            div role="tabpanel" id={"res-" (id)} aria-labelledby={"res-tab-" (id)} hidden {
                p { "Status: " strong { (detail.summary.status) } }
                @if detail.summary.status_code == 0 {
                    p.muted.no-response { "No response: the receiver answered nothing (" (detail.summary.status) "), so there are no headers or body to show." }
                } @else {
                    h3 { "Headers" }
                    (header_list(&detail.response_headers))
                    h3 { "Body" }
                    (body_view(&format!("body-{id}"), &detail.response_body))
                }
            }
            form method="post" action={(path.base()) "/deliveries/" (id) "/attempts"} {
                (csrf_input(&path.session))
                button type="submit" { "Redeliver" }
            }
        }
    })
}

pub async fn redeliver(
    State(state): State<AppState>,
    path: HookPath,
    _form: SignedForm,
) -> Result<Redirect, UiError> {
    let attempt_id = path.delivery_id.ok_or(UiError::NotFound)?;
    state
        .core
        .redeliver(&path.scope, path.hook_id, attempt_id)
        .await?;
    Ok(Redirect::to(&done_url(
        &format!("{}#deliveries", path.base()),
        "redelivered",
    )))
}

/// How often at most a live page's chart is drawn again while attempts arrive.
const CHART_INTERVAL: Duration = Duration::from_secs(5);

/// What a live page's stream knows: the newest attempt it has sent, the newest its chart
/// counts, and events read but not sent yet.
struct Live {
    state: AppState,
    path: HookPath,
    view: LogView,
    after: AttemptId,
    charted: AttemptId,
    chart_drawn: tokio::time::Instant,
    ready: std::collections::VecDeque<Event>,
}

impl Live {
    /// Reads what arrived since the last look: new rows (matching the filter) and, at
    /// most every [`CHART_INTERVAL`], the chart again when any attempt arrived.
    async fn look(&mut self) -> Result<(), CoreError> {
        let core = &self.state.core;
        let (scope, hook_id) = (&self.path.scope, self.path.hook_id);
        let page = core
            .attempts(scope, hook_id, self.view.query(None, PAGE))
            .await?;
        let now = Timestamp::now();
        let mut fresh: Vec<&AttemptSummary> = page
            .attempts
            .iter()
            .filter(|attempt| attempt.id > self.after)
            .collect();
        if !fresh.is_empty() {
            fresh.reverse();
            let rows: String = fresh
                .iter()
                .map(|attempt| row(&self.path, attempt, now).into_string())
                .collect();
            self.after = fresh.last().map_or(self.after, |attempt| attempt.id);
            self.ready
                .push_back(Event::default().event("attempts").data(rows));
        }
        if self.chart_drawn.elapsed() < CHART_INTERVAL {
            return Ok(());
        }
        let newest = core
            .attempts(scope, hook_id, LogView::default().query(None, 1))
            .await?
            .attempts
            .first()
            .map_or(AttemptId(0), |attempt| attempt.id);
        if newest > self.charted {
            let recent = core
                .attempts(scope, hook_id, LogView::default().query(None, CHART_LIMIT))
                .await?;
            let drawn = chart(&recent.attempts, now).into_string();
            self.ready
                .push_back(Event::default().event("chart").data(drawn));
            self.charted = newest;
            self.chart_drawn = tokio::time::Instant::now();
        }
        Ok(())
    }
}

/// Server-sent events: each new attempt (matching the filter) as a rendered row, oldest
/// first, and the chart drawn again as attempts arrive, for as long as the page is open.
pub async fn live(
    State(state): State<AppState>,
    path: HookPath,
    Query(view): Query<LogView>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let after = view.after.unwrap_or(AttemptId(0));
    let live = Live {
        state,
        path,
        view,
        after,
        charted: after,
        chart_drawn: tokio::time::Instant::now(),
        ready: std::collections::VecDeque::new(),
    };
    let stream = futures_util::stream::unfold(live, |mut live| async move {
        loop {
            if let Some(event) = live.ready.pop_front() {
                return Some((Ok(event), live));
            }
            tokio::time::sleep(LIVE_INTERVAL).await;
            // A failed read is tried again at the next look.
            let _ = live.look().await;
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_say_their_code_once() {
        assert_eq!(plain_status(200, "OK"), "200 OK");
        assert_eq!(
            plain_status(500, "Invalid HTTP Response: 500"),
            "500 Invalid HTTP Response"
        );
        assert_eq!(plain_status(0, "timed out"), "timed out");
    }

    #[test]
    fn bodies_are_shown_as_text_said_empty_or_dumped_as_hex() {
        let text = body_view("b", br#"{"ok":true}"#).into_string();
        assert!(text.contains("11 bytes") && text.contains("&quot;ok&quot;: true"));
        assert!(text.contains(r#"data-copy="b""#), "a copy button");
        assert!(
            body_view("b", b"")
                .into_string()
                .contains("Empty body (0 bytes).")
        );
        let binary = body_view("b", &[0xff, 0x00, b'A', 0x80]).into_string();
        assert!(
            binary.contains("Binary body, 4 bytes, shown as hex"),
            "{binary}"
        );
        assert!(binary.contains("00000000  ff 00 41 80"), "{binary}");
        assert!(binary.contains("/wBBgA=="), "and as base64: {binary}");
        let big = body_view("b", &vec![0xfe; HEX_SHOWN + 1]).into_string();
        assert!(big.contains("(the first 4096)"));
    }

    #[test]
    fn pages_say_where_they_are_exactly_or_past_the_cap() {
        let exact = |count| Capped { count, more: false };
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(position(exact(0), 30, exact(68)), "1–30 of 68");
        assert_eq!(position(exact(38), 30, exact(68)), "39–68 of 68");
        let many = Capped {
            count: 1000,
            more: true,
        };
        assert_eq!(position(exact(30), 30, many), "31–60 of 1,000+");
        assert_eq!(position(many, 30, many), "30 older than the newest 1,000");
    }

    fn attempt(id: i64, guid: &str, delivered_at: Timestamp) -> AttemptSummary {
        AttemptSummary {
            id: AttemptId(id),
            guid: guid.to_owned(),
            delivered_at,
            redelivery: false,
            duration_ms: 1,
            status: "OK".to_owned(),
            status_code: 200,
            event: "push".to_owned(),
            action: None,
            installation_id: None,
            repository_id: None,
            throttled_at: None,
            attempt_number: 1,
            trigger: Trigger::Publish,
            next_attempt_at: None,
        }
    }

    #[test]
    fn a_page_groups_attempts_by_delivery_where_the_newest_is() {
        let now = Timestamp::now();
        let page = [
            attempt(5, "b", now),
            attempt(4, "a", now),
            attempt(3, "b", now),
            attempt(2, "c", now),
            attempt(1, "a", now),
        ];
        let groups: Vec<Vec<i64>> = by_delivery(&page)
            .iter()
            .map(|group| group.iter().map(|attempt| attempt.id.0).collect())
            .collect();
        assert_eq!(groups, [vec![5, 3], vec![4, 1], vec![2]]);
    }

    #[test]
    fn a_chart_past_its_read_says_its_counts_are_capped() {
        let now = Timestamp::now();
        let few: Vec<AttemptSummary> = (0..3).map(|id| attempt(id, "g", now)).collect();
        assert!(
            chart(&few, now)
                .into_string()
                .contains("Last 24 hours: 3 succeeded, 0 failed")
        );
        let many: Vec<AttemptSummary> = (0..i64::from(CHART_LIMIT))
            .map(|id| attempt(id, "g", now))
            .collect();
        assert!(
            chart(&many, now)
                .into_string()
                .contains("more than 5000 attempts; the newest 5000")
        );
    }
}
