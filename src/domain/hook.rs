//! Webhooks as GitHub defines them: where they live ([`HookScope`]), what they are
//! ([`HookSettings`]), and how create and update bodies become them.
//!
//! Invariant: a [`HookSettings`] value always holds an absolute http(s) URL, valid event
//! names, and custom headers that are legal on the wire and reserved by nobody else.

use std::collections::BTreeMap;

use serde_json::Value;

use super::ids::AppId;
use super::names::{Login, RepoName};
use super::order::DeliveryOrder;
use super::rate::RateLimit;
use super::retry::RetrySchedule;
use super::signature::{PreviousSecret, SignatureScheme, parse_overlap, standard_key};
use super::timestamp::Timestamp;
use super::validate::{ErrorCode, Problems, ValidationErrors};

pub use super::secret::SECRET_MASK;
use super::secret::Secret;

/// Where a hook is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookScope {
    Repository { owner: Login, repo: RepoName },
    Organization { org: Login },
    App { app_id: AppId },
}

impl HookScope {
    /// The account whose owner tokens may manage this hook (none for an app's hook).
    pub fn account(&self) -> Option<&Login> {
        match self {
            HookScope::Repository { owner, .. } => Some(owner),
            HookScope::Organization { org } => Some(org),
            HookScope::App { .. } => None,
        }
    }

    /// GitHub's `type` field of the hook object.
    pub fn type_name(&self) -> &'static str {
        match self {
            HookScope::Repository { .. } => "Repository",
            HookScope::Organization { .. } => "Organization",
            HookScope::App { .. } => "App",
        }
    }
}

/// How the payload is put in the request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    /// `application/json`: the body is the payload.
    Json,
    /// `application/x-www-form-urlencoded`: the body is `payload=<url-encoded JSON>`.
    Form,
}

impl ContentType {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "json" => Some(ContentType::Json),
            "form" => Some(ContentType::Form),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::Json => "json",
            ContentType::Form => "form",
        }
    }
}

/// Extra request headers sent with every delivery (APIGit's custom headers), in the order
/// given, names unique regardless of case. `Debug` shows the names only: values may be
/// credentials.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CustomHeaders(Vec<(String, String)>);

impl std::fmt::Debug for CustomHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.0
                    .iter()
                    .map(|(name, _)| format!("{name}: {SECRET_MASK}")),
            )
            .finish()
    }
}

impl CustomHeaders {
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(existing, _)| existing.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// Reads what the store wrote with [`CustomHeaders::to_json`].
    pub fn from_json(value: &Value) -> Self {
        let pairs = value
            .as_object()
            .map(|obj| {
                obj.iter()
                    .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        CustomHeaders(pairs)
    }

    pub fn to_json(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(name, value)| (name.clone(), Value::String(value.clone())))
                .collect(),
        )
    }

    /// Whether a header's value is a credential: `Authorization`, `Proxy-Authorization`,
    /// or a name with `token`, `secret` or `key` in it, in any case.
    pub fn is_sensitive(name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        name == "authorization"
            || name == "proxy-authorization"
            || ["token", "secret", "key"]
                .iter()
                .any(|word| name.contains(word))
    }

    /// The headers as every front shows them, to their owner too: credentials masked (sent
    /// back masked, a value is kept as it is).
    pub fn masked(&self) -> BTreeMap<String, String> {
        self.0
            .iter()
            .map(|(name, value)| {
                let shown = if Self::is_sensitive(name) {
                    SECRET_MASK
                } else {
                    value
                };
                (name.clone(), shown.to_owned())
            })
            .collect()
    }
}

/// The server-wide rules a hook's fields are checked against.
#[derive(Debug, Clone, Default)]
pub struct HookRules {
    /// Lower-cased `x-<alias>-` prefixes of `--header-alias`, reserved like `x-github-`.
    reserved_prefixes: Vec<String>,
}

/// Headers that Hookpost itself sets or that would break the HTTP framing.
const RESERVED_HEADERS: [&str; 6] = [
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "user-agent",
];

impl HookRules {
    /// `aliases` are the `--header-alias` names (e.g. `Gogs`), whose headers Hookpost sets.
    pub fn new(aliases: &[String]) -> Self {
        let mut reserved_prefixes = vec!["x-github-".to_owned(), "x-hub-".to_owned()];
        reserved_prefixes.extend(
            aliases
                .iter()
                .map(|alias| format!("x-{}-", alias.to_ascii_lowercase())),
        );
        HookRules { reserved_prefixes }
    }

    /// Header names Hookpost sets itself (lower case).
    pub fn reserved_names(&self) -> &'static [&'static str] {
        &RESERVED_HEADERS
    }

    /// Header name prefixes Hookpost sets itself (lower case, e.g. `x-github-`).
    pub fn reserved_prefixes(&self) -> &[String] {
        &self.reserved_prefixes
    }

    fn is_reserved(&self, name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        RESERVED_HEADERS.contains(&lower.as_str())
            || self
                .reserved_prefixes
                .iter()
                .any(|prefix| lower.starts_with(prefix.as_str()))
    }
}

/// A hook's `config` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookConfig {
    /// Absolute http(s) URL, kept exactly as the client wrote it.
    pub url: String,
    pub content_type: ContentType,
    /// `None` means deliveries are not signed.
    pub secret: Option<Secret>,
    /// `true` skips TLS certificate verification for this hook (GitHub's `insecure_ssl: "1"`).
    pub insecure_ssl: bool,
    pub headers: CustomHeaders,
    /// Which signature headers deliveries carry (Hookpost's extension; GitHub's by default).
    pub signature: SignatureScheme,
    /// The secret before the latest rotation, still signing Standard deliveries beside the
    /// new one until it expires.
    pub previous_secret: Option<PreviousSecret>,
    /// The hook's own retry schedule (Hookpost's extension); `None` follows the server's.
    pub retry_schedule: Option<RetrySchedule>,
    /// At most this many attempts per second (Hookpost's extension); `None`: no limit.
    pub rate_limit: Option<RateLimit>,
    /// Side by side, or one at a time in commit order (Hookpost's extension).
    pub ordering: DeliveryOrder,
}

impl HookConfig {
    /// What is wrong with the pairing of this config's signature scheme and secret, if
    /// anything: the Standard scheme needs a `whsec_` secret.
    pub fn signature_problem(&self) -> Option<&'static str> {
        let fits = self
            .secret
            .as_ref()
            .is_some_and(|secret| standard_key(secret.expose()).is_some());
        (self.signature.signs_standard() && !fits).then_some(STANDARD_SECRET_NEEDED)
    }

    /// The previous secret while it still signs at `now` (Standard scheme only).
    pub fn live_previous_secret(&self, now: Timestamp) -> Option<&Secret> {
        self.previous_secret
            .as_ref()
            .filter(|_| self.signature.signs_standard())
            .and_then(|previous| previous.live_at(now))
    }
}

/// Why a secret does not do for the Standard Webhooks scheme.
pub const STANDARD_SECRET_NEEDED: &str = "a hook signed the Standard Webhooks way (signature \
     \"standard\" or \"both\") needs a secret: whsec_ and the base64 of 24 to 64 random bytes";

/// Everything a client sets on a hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookSettings {
    pub name: String,
    pub active: bool,
    /// Event names, or `*` for all; no duplicates.
    pub events: Vec<String>,
    pub config: HookConfig,
}

impl HookSettings {
    /// The settings a form or a command line gives (a `web` hook; the content type is
    /// `json` or `form`).
    ///
    /// # Errors
    /// Every invalid field, at once, named as in the API (`config.url`, `events[1]`, …).
    pub fn new(input: &HookInput, rules: &HookRules) -> Result<Self, ValidationErrors> {
        let mut problems = Problems::new("Hook");
        // A form or a command line that names no event made a hook that receives nothing
        // (the API's own reader defaults to `push`, as GitHub does).
        if input.events.is_empty() {
            problems.push(
                "events",
                ErrorCode::MissingField,
                "choose at least one event",
            );
        }
        let events = check_events(
            &mut problems,
            "events",
            input.events.iter().map(String::as_str),
        );
        let config = ConfigPatch::from_input(&mut problems, input, rules);
        let settings =
            HookSettings::assemble("web", input.active, events.unwrap_or_default(), &config);
        if let Some(problem) = settings.config.signature_problem() {
            problems.invalid("config.secret", problem);
        }
        problems.finish(|| settings)
    }

    pub(crate) fn assemble(
        name: &str,
        active: bool,
        events: Vec<String>,
        config: &ConfigPatch,
    ) -> Self {
        let mut settings = HookSettings {
            name: name.to_owned(),
            active,
            events,
            config: HookConfig {
                url: String::new(),
                content_type: ContentType::Form,
                secret: None,
                insecure_ssl: false,
                headers: CustomHeaders::default(),
                signature: SignatureScheme::Github,
                previous_secret: None,
                retry_schedule: None,
                rate_limit: None,
                ordering: DeliveryOrder::Any,
            },
        };
        config.apply(&mut settings.config);
        settings
    }
}

/// A hook's settings as a form or a command line has them, before the domain's checks:
/// typed values, no JSON in between.
#[derive(Debug, Clone, Default)]
pub struct HookInput {
    pub active: bool,
    /// An update with none leaves the hook's events as they are.
    pub events: Vec<String>,
    pub url: String,
    /// `json` or `form`.
    pub content_type: String,
    /// `None` leaves the secret as it is (none, for a new hook); an empty one removes it.
    pub secret: Option<Secret>,
    pub insecure_ssl: bool,
    pub headers: Vec<(String, String)>,
    /// `github`, `standard` or `both`; `None` leaves the scheme as it is (GitHub's, for a
    /// new hook).
    pub signature: Option<String>,
    /// With a new secret: how long the old one still signs (`24h`, …; `None`: not at all).
    pub secret_overlap: Option<String>,
    /// The hook's own retry schedule (`10s,1m`, `none`); empty follows the server's, and
    /// `None` leaves it as it is.
    pub retry_schedule: Option<String>,
    /// Deliveries per second at most; empty for no limit, and `None` leaves it as it is.
    pub rate_limit: Option<String>,
    /// `none` or `fifo`; `None` leaves it as it is.
    pub ordering: Option<String>,
}

/// An event name as GitHub spells them: `[a-z_]{1,64}`.
pub fn is_event_name(text: &str) -> bool {
    (1..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// The most event names one list may give (a hook's `events`, or an update's
/// `add_events` / `remove_events`).
pub const MAX_EVENTS: usize = 256;
/// The most custom headers a hook may have.
pub const MAX_HEADERS: usize = 50;
/// The longest custom header name, in characters.
pub const MAX_HEADER_NAME: usize = 256;
/// The longest custom header value, in characters.
pub const MAX_HEADER_VALUE: usize = 4096;
/// The longest hook URL, in characters.
pub const MAX_URL: usize = 2048;

/// Checks event names (`*` is allowed); duplicates are dropped, order kept. Linear in the
/// input, and a list over [`MAX_EVENTS`] is refused before any name is looked at.
pub(crate) fn check_events<'a>(
    problems: &mut Problems,
    key: &str,
    names: impl IntoIterator<Item = &'a str>,
) -> Option<Vec<String>> {
    let names: Vec<&str> = names.into_iter().collect();
    if names.len() > MAX_EVENTS {
        problems.invalid(
            key,
            format!("at most {MAX_EVENTS} events, not {}", names.len()),
        );
        return None;
    }
    let mut seen = std::collections::HashSet::with_capacity(names.len());
    let mut events: Vec<String> = Vec::new();
    let mut valid = true;
    for (index, name) in names.into_iter().enumerate() {
        if name != "*" && !is_event_name(name) {
            problems.invalid(
                &format!("{key}[{index}]"),
                format!("{name:?} is not an event name ([a-z_]{{1,64}} or \"*\")"),
            );
            valid = false;
        } else if seen.insert(name) {
            events.push(name.to_owned());
        }
    }
    valid.then_some(events)
}

/// An HTTP field name (RFC 9110 `token`) of at most [`MAX_HEADER_NAME`] characters.
fn is_header_name(name: &str) -> bool {
    (1..=MAX_HEADER_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// An HTTP field value: no control characters but horizontal tab.
fn is_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| (b >= 0x20 && b != 0x7f) || b == b'\t')
}

/// The fields of a `config` object a request sets; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigPatch {
    pub(crate) url: Option<String>,
    pub(crate) content_type: Option<ContentType>,
    /// `Some(None)` clears the secret (an empty string, as on GitHub).
    pub(crate) secret: Option<Option<Secret>>,
    pub(crate) insecure_ssl: Option<bool>,
    pub(crate) headers: Option<CustomHeaders>,
    pub(crate) signature: Option<SignatureScheme>,
    /// With a new `secret`: until when the old one still signs (Standard scheme only).
    pub(crate) rotated_until: Option<Timestamp>,
    /// `Some(None)` goes back to the server's schedule.
    pub(crate) retry_schedule: Option<Option<RetrySchedule>>,
    /// `Some(None)` removes the limit.
    pub(crate) rate_limit: Option<Option<RateLimit>>,
    pub(crate) ordering: Option<DeliveryOrder>,
}

impl ConfigPatch {
    /// The config a form or a command line sets: every field.
    fn from_input(problems: &mut Problems, input: &HookInput, rules: &HookRules) -> Self {
        let headers = input
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), Some(value.as_str())));
        ConfigPatch {
            url: checked_url(problems, "config", &input.url),
            content_type: check_content_type(problems, "config", &input.content_type),
            secret: input
                .secret
                .as_ref()
                .map(|secret| Some(secret.clone()).filter(|secret| !secret.expose().is_empty())),
            insecure_ssl: Some(input.insecure_ssl),
            headers: check_headers(problems, headers, rules, "config"),
            signature: input
                .signature
                .as_deref()
                .and_then(|text| check_signature_scheme(problems, "config", text)),
            rotated_until: input
                .secret_overlap
                .as_deref()
                .filter(|text| !text.is_empty())
                .and_then(|text| {
                    let new_secret = input
                        .secret
                        .as_ref()
                        .is_some_and(|secret| !secret.expose().is_empty());
                    check_overlap(problems, "config", text, new_secret)
                }),
            retry_schedule: input
                .retry_schedule
                .as_deref()
                .and_then(|text| match text.trim() {
                    "" => Some(None),
                    text => check_retry_schedule(problems, "config", text).map(Some),
                }),
            rate_limit: input
                .rate_limit
                .as_deref()
                .and_then(|text| match text.trim() {
                    "" => Some(None),
                    text => {
                        let rate = text.parse::<i64>().unwrap_or(0);
                        check_rate_limit(problems, "config", rate).map(Some)
                    }
                }),
            ordering: input
                .ordering
                .as_deref()
                .and_then(|text| check_ordering(problems, "config", text)),
        }
    }

    /// Checks what the patch says alone: a patch that asks for the Standard scheme gives
    /// a `whsec_` secret with it (whatever the hook had).
    pub(crate) fn check_signature(&self, problems: &mut Problems, key: &str) {
        if !self.signature.is_some_and(SignatureScheme::signs_standard) {
            return;
        }
        let fits =
            matches!(&self.secret, Some(Some(secret)) if standard_key(secret.expose()).is_some());
        if !fits {
            problems.invalid(&format!("{key}.secret"), STANDARD_SECRET_NEEDED);
        }
    }

    pub fn apply(&self, config: &mut HookConfig) {
        if let Some(url) = &self.url {
            config.url = keep_masked_password(url, &config.url);
        }
        if let Some(content_type) = self.content_type {
            config.content_type = content_type;
        }
        if let Some(secret) = &self.secret
            && *secret != config.secret
        {
            let old = std::mem::replace(&mut config.secret, secret.clone());
            config.previous_secret = self
                .rotated_until
                .zip(old)
                .map(|(expires_at, secret)| PreviousSecret { secret, expires_at });
        }
        if let Some(signature) = self.signature {
            config.signature = signature;
        }
        // Only the Standard scheme signs with two secrets at once.
        if !config.signature.signs_standard() {
            config.previous_secret = None;
        }
        if let Some(insecure_ssl) = self.insecure_ssl {
            config.insecure_ssl = insecure_ssl;
        }
        if let Some(schedule) = &self.retry_schedule {
            config.retry_schedule.clone_from(schedule);
        }
        if let Some(rate_limit) = self.rate_limit {
            config.rate_limit = rate_limit;
        }
        if let Some(ordering) = self.ordering {
            config.ordering = ordering;
        }
        if let Some(headers) = &self.headers {
            // A masked value sent back means "keep the value you have".
            let merged = headers
                .iter()
                .map(|(name, value)| {
                    let kept = (value == SECRET_MASK)
                        .then(|| config.headers.get(name))
                        .flatten()
                        .unwrap_or(value);
                    (name.to_owned(), kept.to_owned())
                })
                .collect();
            config.headers = CustomHeaders(merged);
        }
    }
}

/// `url` with the password of its userinfo masked, as every front shows a hook's URL.
pub fn masked_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some(SECRET_MASK));
            parsed.into()
        }
        _ => url.to_owned(),
    }
}

/// A URL sent back with its password masked keeps the stored URL's password.
fn keep_masked_password(given: &str, stored: &str) -> String {
    let (Ok(mut given_url), Ok(stored_url)) = (url::Url::parse(given), url::Url::parse(stored))
    else {
        return given.to_owned();
    };
    if given_url.password() != Some(SECRET_MASK) || stored_url.password().is_none() {
        return given.to_owned();
    }
    let _ = given_url.set_password(stored_url.password());
    given_url.into()
}

pub(crate) fn checked_url(problems: &mut Problems, key: &str, url: &str) -> Option<String> {
    match check_url(url) {
        Ok(()) => Some(url.to_owned()),
        Err(why) => {
            problems.invalid(&format!("{key}.url"), why);
            None
        }
    }
}

/// A config's `retry_schedule`, or a problem on `{key}.retry_schedule`.
pub(crate) fn check_retry_schedule(
    problems: &mut Problems,
    key: &str,
    text: &str,
) -> Option<RetrySchedule> {
    RetrySchedule::for_hook(text)
        .map_err(|why| problems.invalid(&format!("{key}.retry_schedule"), why))
        .ok()
}

/// A config's `rate_limit`, or a problem on `{key}.rate_limit`.
pub(crate) fn check_rate_limit(problems: &mut Problems, key: &str, rate: i64) -> Option<RateLimit> {
    RateLimit::new(rate)
        .map_err(|why| problems.invalid(&format!("{key}.rate_limit"), why))
        .ok()
}

/// A config's `ordering`, or a problem on `{key}.ordering`.
pub(crate) fn check_ordering(
    problems: &mut Problems,
    key: &str,
    text: &str,
) -> Option<DeliveryOrder> {
    DeliveryOrder::parse(text)
        .map_err(|why| problems.invalid(&format!("{key}.ordering"), why))
        .ok()
}

/// A config's `signature`, or a problem on `{key}.signature`.
pub(crate) fn check_signature_scheme(
    problems: &mut Problems,
    key: &str,
    text: &str,
) -> Option<SignatureScheme> {
    let parsed = SignatureScheme::parse(text);
    if parsed.is_none() {
        problems.invalid(
            &format!("{key}.signature"),
            format!("signature must be \"github\", \"standard\" or \"both\", not {text:?}"),
        );
    }
    parsed
}

/// A config's `secret_overlap`, or a problem on `{key}.secret_overlap`; it counts only beside
/// a new secret (`new_secret`), and then says until when the old one still signs.
pub(crate) fn check_overlap(
    problems: &mut Problems,
    key: &str,
    text: &str,
    new_secret: bool,
) -> Option<Timestamp> {
    let Some(overlap) = parse_overlap(text) else {
        problems.invalid(
            &format!("{key}.secret_overlap"),
            "secret_overlap must be a whole number of s, m, h or d (e.g. \"24h\"), at most 7 days",
        );
        return None;
    };
    new_secret.then(|| Timestamp::now().after(overlap))
}

pub(crate) fn check_content_type(
    problems: &mut Problems,
    key: &str,
    text: &str,
) -> Option<ContentType> {
    let parsed = ContentType::parse(text);
    if parsed.is_none() {
        problems.invalid(
            &format!("{key}.content_type"),
            format!("content_type must be \"json\" or \"form\", not {text:?}"),
        );
    }
    parsed
}

fn check_url(text: &str) -> Result<(), String> {
    let length = text.chars().count();
    if length > MAX_URL {
        return Err(format!(
            "url must be at most {MAX_URL} characters, not {length}"
        ));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("url must not contain spaces or control characters".to_owned());
    }
    let parsed =
        url::Url::parse(text).map_err(|error| format!("url is not a valid URL: {error}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "url must use http or https, not {}",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("url must name a host".to_owned());
    }
    Ok(())
}

/// Checks custom headers, each a name and its value (`None`: the value is not a string).
pub(crate) fn check_headers<'a>(
    problems: &mut Problems,
    headers: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    rules: &HookRules,
    key: &str,
) -> Option<CustomHeaders> {
    let headers: Vec<(&str, Option<&str>)> = headers.into_iter().collect();
    if headers.len() > MAX_HEADERS {
        problems.invalid(
            &format!("{key}.headers"),
            format!("at most {MAX_HEADERS} headers, not {}", headers.len()),
        );
        return None;
    }
    let mut seen = std::collections::HashSet::with_capacity(headers.len());
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut valid = true;
    for (name, value) in headers {
        let field = format!("{key}.headers.{name}");
        let mut reject = |why: String| {
            problems.invalid(&field, why);
            valid = false;
        };
        if !is_header_name(name) {
            reject(format!("{name:?} is not a valid header name"));
        } else if rules.is_reserved(name) {
            reject(format!(
                "{name} is set by Hookpost and cannot be overridden"
            ));
        } else if !seen.insert(name.to_ascii_lowercase()) {
            reject(format!("{name} is given more than once"));
        } else {
            match value {
                Some(text) if text.chars().count() > MAX_HEADER_VALUE => {
                    reject(format!(
                        "the value of {name} must be at most {MAX_HEADER_VALUE} characters"
                    ));
                }
                Some(text) if is_header_value(text) => {
                    pairs.push((name.to_owned(), text.to_owned()));
                }
                Some(_) => {
                    reject(format!(
                        "the value of {name} has characters a header cannot carry"
                    ));
                }
                _ => reject(format!("the value of {name} must be a string")),
            }
        }
    }
    valid.then_some(CustomHeaders(pairs))
}

/// The fields of a hook an update sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookPatch {
    pub(crate) active: Option<bool>,
    /// Replaces the whole list, before `add_events`/`remove_events` apply.
    pub(crate) events: Option<Vec<String>>,
    pub(crate) add_events: Vec<String>,
    pub(crate) remove_events: Vec<String>,
    pub(crate) config: ConfigPatch,
}

impl HookPatch {
    /// The update that makes a hook active again (the web UI's "Re-enable").
    pub fn activate() -> Self {
        HookPatch {
            active: Some(true),
            ..HookPatch::default()
        }
    }

    /// The update a settings form makes: every field it shows, the events only when some
    /// are given.
    ///
    /// # Errors
    /// Every invalid field, at once, named as in the API.
    pub fn from_input(input: &HookInput, rules: &HookRules) -> Result<Self, ValidationErrors> {
        let mut problems = Problems::new("Hook");
        let events = if input.events.is_empty() {
            None
        } else {
            check_events(
                &mut problems,
                "events",
                input.events.iter().map(String::as_str),
            )
        };
        let config = ConfigPatch::from_input(&mut problems, input, rules);
        problems.finish(|| HookPatch {
            active: Some(input.active),
            events,
            config,
            ..HookPatch::default()
        })
    }

    pub fn config_only(config: ConfigPatch) -> Self {
        HookPatch {
            config,
            ..HookPatch::default()
        }
    }

    pub fn apply(&self, settings: &mut HookSettings) {
        if let Some(active) = self.active {
            settings.active = active;
        }
        if let Some(events) = &self.events {
            settings.events = events.clone();
        }
        for added in &self.add_events {
            if !settings.events.contains(added) {
                settings.events.push(added.clone());
            }
        }
        settings
            .events
            .retain(|event| !self.remove_events.contains(event));
        self.config.apply(&mut settings.config);
    }
}

/// GitHub's `last_response`: the outcome of the hook's latest attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LastResponse {
    /// No attempt yet.
    Unused,
    Active {
        code: u16,
        message: String,
    },
    /// `code` is `None` when there was no HTTP response at all.
    Failed {
        code: Option<u16>,
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(errors: ValidationErrors) -> Vec<String> {
        errors.0.into_iter().map(|error| error.field).collect()
    }

    #[test]
    fn header_names_and_values_are_what_the_http_client_accepts() {
        use axum::http::{HeaderName, HeaderValue};
        for byte in 0u8..=127 {
            let name = format!("X-{}", char::from(byte));
            assert_eq!(
                is_header_name(&name),
                HeaderName::from_bytes(name.as_bytes()).is_ok(),
                "{name:?}"
            );
            let value = format!("a{}b", char::from(byte));
            assert_eq!(
                is_header_value(&value),
                HeaderValue::from_str(&value).is_ok(),
                "{value:?}"
            );
        }
        assert!(!is_header_name(""));
        assert!(is_header_value("ünïcode"));
    }

    #[test]
    fn typed_input_is_checked_by_the_same_rules_with_the_apis_field_names() {
        let input = HookInput {
            active: true,
            events: vec!["push".to_owned(), "Bad-Event".to_owned()],
            url: "ftp://x".to_owned(),
            content_type: "xml".to_owned(),
            headers: vec![("X-GitHub-Event".to_owned(), "spoof".to_owned())],
            ..HookInput::default()
        };
        let errors = HookSettings::new(&input, &HookRules::new(&[])).unwrap_err();
        assert_eq!(
            fields(errors),
            [
                "events[1]",
                "config.url",
                "config.content_type",
                "config.headers.X-GitHub-Event"
            ]
        );

        let input = HookInput {
            active: true,
            events: vec!["push".to_owned(), "push".to_owned()],
            url: "https://example.com/hook".to_owned(),
            content_type: "json".to_owned(),
            secret: Some(Secret::new("s3")),
            headers: vec![("X-Trace".to_owned(), "1".to_owned())],
            ..HookInput::default()
        };
        let settings = HookSettings::new(&input, &HookRules::default()).unwrap();
        assert_eq!(settings.events, ["push"]);
        assert_eq!(settings.config.content_type, ContentType::Json);
        assert!(!settings.config.insecure_ssl);

        // An update with no secret and no events keeps both.
        let mut updated = settings.clone();
        let keep = HookInput {
            secret: None,
            events: Vec::new(),
            active: false,
            ..input.clone()
        };
        HookPatch::from_input(&keep, &HookRules::default())
            .unwrap()
            .apply(&mut updated);
        assert_eq!(updated.config.secret, settings.config.secret);
        assert_eq!(updated.events, settings.events);
        assert!(!updated.active);
        let clear = HookInput {
            secret: Some(Secret::new("")),
            ..input
        };
        HookPatch::from_input(&clear, &HookRules::default())
            .unwrap()
            .apply(&mut updated);
        assert_eq!(updated.config.secret, None);
    }
}
