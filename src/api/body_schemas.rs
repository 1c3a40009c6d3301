//! The request bodies as the OpenAPI document describes them: one type per reader in
//! [`super::bodies`] (and the admin, app and dispatch readers beside their handlers).
//!
//! The readers walk the JSON by hand so that every problem is reported at once in
//! GitHub's words; these types are never built. They say, for clients and for the
//! property-based API test in CI, exactly what a reader accepts: every optional field may
//! be `null` (a reader treats it as absent), and patterns are the domain's own rules
//! (names, event names, URLs), so schema-valid bodies are accepted and others refused.
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::hook::{MAX_EVENTS, MAX_HEADER_NAME, MAX_HEADER_VALUE, MAX_HEADERS, MAX_URL};
use crate::domain::rate::MAX_RATE_LIMIT;
use crate::domain::retry::hook_schedule_pattern;

/// An account or repository name (`Login`, `RepoName`): 1 to 100 of `A-Z a-z 0-9 . _ -`,
/// not `.` or `..`.
pub const NAME_PATTERN: &str = r"^([A-Za-z0-9_-][A-Za-z0-9._-]{0,99}|\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,98}|\.\.[A-Za-z0-9._-]{1,98})$";

/// `owner/name`.
pub const FULL_NAME_PATTERN: &str = r"^([A-Za-z0-9_-][A-Za-z0-9._-]{0,99}|\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,98}|\.\.[A-Za-z0-9._-]{1,98})/([A-Za-z0-9_-][A-Za-z0-9._-]{0,99}|\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,98}|\.\.[A-Za-z0-9._-]{1,98})$";

/// An event name a hook subscribes to, or `*`.
pub const EVENT_PATTERN: &str = r"^([a-z_]{1,64}|\*)$";

/// An event name that can be published.
pub const PUBLISHED_EVENT_PATTERN: &str = r"^[a-z_]{1,64}$";

/// An absolute http(s) URL with a host: the URLs the documented pattern admits are a
/// subset of what a hook accepts (any URL with an http or https scheme and a host).
/// (Its last host label starts with a letter: one of digits would be read as an IPv4
/// address; no `--` in a label, which could be an invalid punycode `xn--`.)
pub const URL_PATTERN: &str = r"^https?://([a-z0-9]+(-[a-z0-9]+)*\.)*[a-z][a-z0-9]*(-[a-z0-9]+)*(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~-]*)*$";

/// `POST /repos/{owner}/{repo}/hooks`, `POST /orgs/{org}/hooks`.
#[derive(ToSchema)]
#[schema(as = WebhookCreate)]
pub struct HookCreateBody {
    /// `web`, the only kind (the default).
    #[schema(value_type = Option<HookName>)]
    name: Option<String>,
    config: NewConfigBody,
    /// Default `["push"]`; `*` for every event.
    #[schema(value_type = Option<EventList>)]
    events: Option<Vec<String>>,
    /// Default `true`.
    active: Option<bool>,
}

/// `PATCH /repos/{owner}/{repo}/hooks/{hook_id}`, `PATCH /orgs/{org}/hooks/{hook_id}`.
#[derive(ToSchema)]
#[schema(as = WebhookUpdate)]
pub struct HookUpdateBody {
    /// Replaces GitHub's config fields: an omitted `secret` is removed (`********` keeps
    /// it), `content_type` is `form` and `insecure_ssl` `"0"` unless given; `headers` are
    /// kept unless given.
    config: Option<ConfigBody>,
    /// Replaces the list.
    #[schema(value_type = Option<EventList>)]
    events: Option<Vec<String>>,
    #[schema(value_type = Option<EventList>)]
    add_events: Option<Vec<String>>,
    #[schema(value_type = Option<EventList>)]
    remove_events: Option<Vec<String>>,
    active: Option<bool>,
}

/// A new hook's `config`: `url` is required.
#[derive(ToSchema)]
#[schema(as = WebhookConfigCreate)]
pub struct NewConfigBody {
    #[schema(value_type = WebhookUrl)]
    url: String,
    #[serde(flatten)]
    fields: ConfigFields,
}

/// `PATCH …/hooks/{hook_id}/config` (and `/app/hook/config`): only the fields given change.
#[derive(ToSchema)]
#[schema(as = WebhookConfigUpdate)]
pub struct ConfigBody {
    #[schema(value_type = Option<WebhookUrl>)]
    url: Option<String>,
    #[serde(flatten)]
    fields: ConfigFields,
}

/// A config's fields but its `url`.
#[derive(ToSchema)]
struct ConfigFields {
    #[schema(value_type = Option<ContentTypeName>)]
    content_type: Option<String>,
    /// Signs deliveries (`X-Hub-Signature-256`); empty for none; `********` (the masked
    /// value) keeps the secret an update would otherwise replace.
    secret: Option<String>,
    #[schema(value_type = Option<InsecureSsl>)]
    insecure_ssl: Option<Value>,
    /// Hookpost's extension: headers sent with every delivery; a value of `********`
    /// keeps the value the header has.
    #[schema(value_type = Option<CustomHeaders>)]
    headers: Option<BTreeMap<String, String>>,
    /// Hookpost's extension: `github` (the default: `X-Hub-Signature-256`), `standard`
    /// (the Standard Webhooks headers) or `both`; `standard` and `both` need a `secret` of
    /// `whsec_` and the base64 of 24 to 64 random bytes, given with it.
    #[schema(value_type = Option<crate::core::github::SignatureName>)]
    signature: Option<String>,
    /// Hookpost's extension: with a new `secret`, how long the old one still signs
    /// Standard deliveries beside it (e.g. `24h`; at most 7 days).
    #[schema(value_type = Option<SecretOverlap>)]
    secret_overlap: Option<String>,
    /// Hookpost's extension: the hook's own retry schedule (`10s,1m,1h`, or `none` for no
    /// automatic retries); `null` goes back to the server's `--retry-schedule`.
    #[schema(value_type = Option<RetryScheduleText>)]
    retry_schedule: Option<String>,
    /// Hookpost's extension: at most this many deliveries per second (every attempt counts:
    /// retries, pings, redeliveries), with bursts of up to one second's worth, across every
    /// node; `null` removes the limit. A delivery that waited for it shows `throttled_at`.
    #[schema(value_type = Option<RateLimitNumber>)]
    rate_limit: Option<u32>,
    /// Hookpost's extension: `none` (the default) or `fifo`: deliveries one at a time in
    /// the order their events were committed; a failing one is retried on the hook's
    /// schedule while the later ones wait; a manual redelivery joins the back of the line.
    #[schema(value_type = Option<crate::core::github::OrderingName>)]
    ordering: Option<String>,
}

/// Always `web`.
#[derive(ToSchema)]
enum HookName {
    #[schema(rename = "web")]
    Web,
}

/// How deliveries carry the payload.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
enum ContentTypeName {
    Json,
    Form,
}

/// Declares a string type whose schema is `pattern`.
macro_rules! patterned_string {
    ($(#[doc = $doc:literal])* $name:ident = $pattern:expr) => {
        $(#[doc = $doc])*
        struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some($pattern))
                    .description(Some(concat!($($doc),*).trim()))
                    .into()
            }
        }

        impl ToSchema for $name {}
    };
}

patterned_string!(
    /// An event name, or `*` for every event.
    EventName = EVENT_PATTERN
);
patterned_string!(
    /// An event name (lower-case letters and `_`).
    PublishedEventName = PUBLISHED_EVENT_PATTERN
);
patterned_string!(
    /// An account or repository name.
    AccountName = NAME_PATTERN
);
patterned_string!(
    /// How long a rotated secret still signs: a whole number of `s`, `m`, `h` or `d`, at
    /// most 7 days.
    SecretOverlap = crate::domain::signature::OVERLAP_PATTERN
);
/// A hook's retry schedule: `none`, or up to 20 comma-separated steps, each a whole
/// number of `s`, `m`, `h` or `d` from 1 s to 7 days.
struct RetryScheduleText;

impl PartialSchema for RetryScheduleText {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(hook_schedule_pattern()))
            .description(Some(
                "`none`, or up to 20 comma-separated steps, each a whole number of `s`, `m`, \
                 `h` or `d` from 1 s to 7 days",
            ))
            .into()
    }
}

impl ToSchema for RetryScheduleText {}

/// A hook's rate limit: deliveries per second.
struct RateLimitNumber;

impl PartialSchema for RateLimitNumber {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(MAX_RATE_LIMIT))
            .description(Some(
                "deliveries per second, with bursts of one second's worth",
            ))
            .into()
    }
}

impl ToSchema for RateLimitNumber {}

patterned_string!(
    /// A repository's `owner/name`.
    FullName = FULL_NAME_PATTERN
);
/// Where deliveries go: an http or https URL.
struct WebhookUrl;

impl PartialSchema for WebhookUrl {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(URL_PATTERN))
            .max_length(Some(MAX_URL))
            .description(Some("Where deliveries go: an http or https URL"))
            .into()
    }
}

impl ToSchema for WebhookUrl {}

/// At most [`MAX_EVENTS`] event names; repeats count once.
struct EventList;

impl PartialSchema for EventList {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(EventName::schema())
            .max_items(Some(MAX_EVENTS))
            .description(Some(
                "Event names (`*` for every event); repeats count once",
            ))
            .into()
    }
}

impl ToSchema for EventList {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((EventName::name().into_owned(), EventName::schema()));
    }
}
patterned_string!(
    /// A display name with at least one letter or digit.
    AppName = "[A-Za-z0-9]"
);

/// `"0"` (verify TLS certificates) or `"1"` (do not); the numbers 0 and 1 too.
struct InsecureSsl;

impl PartialSchema for InsecureSsl {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["0", "1"])),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Number)
                    .enum_values(Some([0, 1])),
            )
            .description(Some(
                "\"0\" verifies TLS certificates, \"1\" does not; the numbers 0 and 1 too",
            ))
            .into()
    }
}

impl ToSchema for InsecureSsl {}

/// Header name → value: names are HTTP tokens Hookpost does not set itself, values carry
/// no control characters. The served document narrows the names by the server's rules
/// (its `--header-alias` families are reserved too).
pub struct CustomHeaders;

/// An HTTP token.
const HEADER_NAME_PATTERN: &str = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";
/// No control character but tab.
const HEADER_VALUE_PATTERN: &str = "^[^\\u0000-\\u0008\\u000A-\\u001F\\u007F]*$";

impl PartialSchema for CustomHeaders {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .max_properties(Some(MAX_HEADERS))
            .property_names(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(HEADER_NAME_PATTERN))
                    .max_length(Some(MAX_HEADER_NAME)),
            ))
            .additional_properties(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(HEADER_VALUE_PATTERN))
                    .max_length(Some(MAX_HEADER_VALUE)),
            ))
            .into()
    }
}

impl ToSchema for CustomHeaders {}

/// `POST …/deliveries/recover` (Hookpost's extension): the window of publish times whose
/// failed deliveries are attempted once more.
#[derive(ToSchema)]
#[schema(as = RecoveryRequest)]
pub struct RecoveryBody {
    /// The oldest publish time recovered.
    #[schema(format = DateTime)]
    since: String,
    /// The newest publish time recovered (default: now).
    #[schema(value_type = Option<DateTimeText>)]
    until: Option<String>,
}

/// An ISO 8601 (RFC 3339) time.
struct DateTimeText;

impl PartialSchema for DateTimeText {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::schema::SchemaFormat::KnownFormat(
                utoipa::openapi::schema::KnownFormat::DateTime,
            )))
            .description(Some("An ISO 8601 time, e.g. 2026-01-31T12:00:00Z"))
            .into()
    }
}

impl ToSchema for DateTimeText {}

/// `POST /events` (Hookpost's extension): `repository` or `organization` names who
/// published it.
#[derive(ToSchema)]
#[schema(as = EventPublication)]
pub struct PublishBody {
    #[schema(value_type = PublishedEventName)]
    event: String,
    /// `owner/name`; its owner is also the organization.
    #[schema(value_type = Option<FullName>)]
    repository: Option<String>,
    #[schema(value_type = Option<AccountName>)]
    organization: Option<String>,
    /// The webhook payload, delivered as given.
    #[schema(value_type = Object)]
    payload: Map<String, Value>,
}

/// `POST /repos/{owner}/{repo}/dispatches`.
#[derive(ToSchema)]
#[schema(as = RepositoryDispatch)]
pub struct DispatchBody {
    /// The `action` of the `repository_dispatch` event.
    #[schema(min_length = 1, max_length = 100)]
    event_type: String,
    #[schema(value_type = Option<Object>)]
    client_payload: Option<Map<String, Value>>,
}

/// `POST /admin/tokens`.
#[derive(ToSchema)]
#[schema(as = TokenCreate)]
pub struct TokenBody {
    /// The accounts whose hooks the token manages.
    #[schema(min_items = 1, value_type = Vec<AccountName>)]
    owners: Vec<String>,
    /// `manage` (the default): the owners' hooks and publishing; `publish`: publishing only.
    #[schema(value_type = Option<TokenScopeName>)]
    scope: Option<String>,
    /// Seconds from now after which the token is refused (default: never).
    #[schema(minimum = 1, maximum = 315_360_000)]
    expires_in: Option<u32>,
}

/// What an owner token may do.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum TokenScopeName {
    Manage,
    Publish,
}

/// `POST /admin/apps`: the app and its hook.
#[derive(ToSchema)]
#[schema(as = AppCreate)]
pub struct AppBody {
    /// Must contain a letter or a digit (the slug is made of them).
    #[schema(value_type = AppName)]
    name: String,
    #[schema(value_type = Option<EventList>)]
    events: Option<Vec<String>>,
    active: Option<bool>,
    hook: NewConfigBody,
}

/// `POST /admin/apps/{app_id}/installations`.
#[derive(ToSchema)]
#[schema(as = InstallationCreate)]
pub struct InstallationBody {
    #[schema(value_type = AccountName)]
    account: String,
}
