//! The OpenAPI 3.1 document at `GET /api/v3/openapi.json`, made from the route table: each
//! route's [`Doc`] names the types its handler reads and returns, and their schemas are
//! derived from those types (`utoipa::ToSchema`), so the document cannot drift from the
//! handlers. Errors are GitHub's error object (`Error`).

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

use super::pagination::MAX_PER_PAGE;
use super::routes::Operation;
use crate::domain::hook::HookRules;
use crate::domain::signature::STANDARD_SECRET_PATTERN;
use crate::error::ErrorBody;

/// A type's schema: its name in `components` and how to add it (and the types it refers
/// to) there.
#[derive(Clone, Copy)]
pub struct SchemaOf {
    name: fn() -> String,
    collect: fn(&mut Vec<(String, RefOr<Schema>)>),
}

impl SchemaOf {
    pub fn of<T: ToSchema>() -> Self {
        SchemaOf {
            name: || T::name().into_owned(),
            collect: |all| {
                all.push((T::name().into_owned(), T::schema()));
                T::schemas(all);
            },
        }
    }

    fn reference(&self) -> Value {
        json!({"$ref": format!("#/components/schemas/{}", (self.name)())})
    }
}

/// Who may call an operation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone.
    Public,
    /// An owner token (for its owners' hooks) or the admin token.
    Token,
    /// The admin token only; others get 404.
    Admin,
    /// A GitHub App's JWT.
    App,
}

/// The query an operation reads.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Query {
    None,
    /// `page`, `per_page` (hook lists).
    Pages,
    /// `per_page`, `cursor`, `status`, `redelivery`, and Hookpost's `trigger`, `event`,
    /// `guid`, `since`, `until` (delivery logs).
    Log,
}

/// What a success answer carries.
#[derive(Clone, Copy)]
enum Reply {
    Nothing,
    One(SchemaOf),
    List(SchemaOf),
    AnyObject,
}

/// An operation's request and answers, as its handler reads and writes them.
#[derive(Clone, Copy)]
pub struct Doc {
    auth: Auth,
    body: Option<(SchemaOf, bool)>,
    status: StatusCode,
    reply: Reply,
    query: Query,
    idempotency_key: bool,
    /// `Location` of the created resource.
    location: bool,
    /// 409 when the request collides with what exists.
    conflicts: bool,
}

impl Doc {
    /// An operation that answers `204 No Content`.
    pub fn new(auth: Auth) -> Self {
        Doc {
            auth,
            body: None,
            status: StatusCode::NO_CONTENT,
            reply: Reply::Nothing,
            query: Query::None,
            idempotency_key: false,
            location: false,
            conflicts: false,
        }
    }

    /// Reads a JSON body of type `T`; `required` when an empty body is refused.
    pub fn body<T: ToSchema>(mut self, required: bool) -> Self {
        self.body = Some((SchemaOf::of::<T>(), required));
        self
    }

    /// Answers `status` with a `T`.
    pub fn replies<T: ToSchema>(mut self, status: StatusCode) -> Self {
        self.status = status;
        self.reply = Reply::One(SchemaOf::of::<T>());
        self
    }

    /// Answers `200` with a list of `T`, read by `query`.
    pub fn lists<T: ToSchema>(mut self, query: Query) -> Self {
        self.status = StatusCode::OK;
        self.reply = Reply::List(SchemaOf::of::<T>());
        self.query = query;
        self
    }

    /// Answers `200` with a JSON object of no fixed shape.
    pub fn replies_any_object(mut self) -> Self {
        self.status = StatusCode::OK;
        self.reply = Reply::AnyObject;
        self
    }

    /// Reads `Idempotency-Key`; a key used with another body is a 409.
    pub fn idempotency_key(mut self) -> Self {
        self.idempotency_key = true;
        self.conflicts = true;
        self
    }

    /// May answer 409 (a name taken).
    pub fn conflicts(mut self) -> Self {
        self.conflicts = true;
        self
    }

    pub fn location(mut self) -> Self {
        self.location = true;
        self
    }

    fn collect(&self, schemas: &mut Vec<(String, RefOr<Schema>)>) {
        if let Some((body, _)) = self.body {
            (body.collect)(schemas);
        }
        if let Reply::One(reply) | Reply::List(reply) = self.reply {
            (reply.collect)(schemas);
        }
    }

    /// Every status the handler can answer with, and what each carries.
    fn responses(&self) -> Value {
        let mut responses = Map::new();
        let mut success = json!({"description": reason(self.status)});
        let content = match self.reply {
            Reply::Nothing => None,
            Reply::One(schema) => Some(schema.reference()),
            Reply::List(schema) => Some(json!({"type": "array", "items": schema.reference()})),
            Reply::AnyObject => Some(json!({"type": "object"})),
        };
        if let Some(schema) = content {
            success["content"] = json!({"application/json": {"schema": schema}});
        }
        let mut headers = Map::new();
        if matches!(self.reply, Reply::List(_)) {
            headers.insert(
                "Link".to_owned(),
                json!({"description": "The next page (and for hook lists the others), RFC 8288", "schema": {"type": "string"}}),
            );
        }
        if self.location {
            headers.insert(
                "Location".to_owned(),
                json!({"description": "The new hook's URL", "required": true, "schema": {"type": "string"}}),
            );
        }
        if !headers.is_empty() {
            success["headers"] = Value::Object(headers);
        }
        responses.insert(self.status.as_u16().to_string(), success);
        let mut errors = Vec::new();
        if self.auth != Auth::Public {
            errors.extend([
                StatusCode::UNAUTHORIZED,
                StatusCode::NOT_FOUND,
                StatusCode::TOO_MANY_REQUESTS,
            ]);
        }
        if self.body.is_some() {
            errors.extend([
                StatusCode::BAD_REQUEST,
                StatusCode::REQUEST_TIMEOUT,
                StatusCode::PAYLOAD_TOO_LARGE,
                StatusCode::UNPROCESSABLE_ENTITY,
            ]);
        }
        match self.query {
            Query::None => {}
            Query::Pages => errors.push(StatusCode::UNPROCESSABLE_ENTITY),
            Query::Log => {
                errors.extend([StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY])
            }
        }
        if self.idempotency_key {
            errors.push(StatusCode::BAD_REQUEST);
        }
        if self.conflicts {
            errors.push(StatusCode::CONFLICT);
        }
        errors.push(StatusCode::SERVICE_UNAVAILABLE);
        for status in errors {
            let mut error = json!({
                "description": reason(status),
                "content": {"application/json": {"schema": SchemaOf::of::<ErrorBody>().reference()}}
            });
            let retry_after = |description: &str| {
                json!({"Retry-After": {
                    "description": description,
                    "required": true,
                    "schema": {"type": "integer", "minimum": 1}
                }})
            };
            if status == StatusCode::TOO_MANY_REQUESTS {
                error["description"] =
                    "Too many failed authentications from this address (`--auth-failure-limit`)"
                        .into();
                error["headers"] = retry_after("Seconds until this address may try again");
            }
            if status == StatusCode::SERVICE_UNAVAILABLE {
                error["description"] =
                    "The database cannot be reached for now; retry (a publish with the same \
                     `Idempotency-Key`, to be sure it is queued once)"
                        .into();
                error["headers"] = retry_after("Seconds to wait before trying again");
            }
            responses.insert(status.as_u16().to_string(), error);
        }
        Value::Object(responses)
    }

    fn parameters(&self, path: &str) -> Vec<Value> {
        let mut parameters = path_parameters(path);
        let query = |name: &str, description: &str, schema: Value| json!({"name": name, "in": "query", "description": description, "schema": schema});
        let per_page = query(
            "per_page",
            &format!(
                "Results per page; above {MAX_PER_PAGE} counts as {MAX_PER_PAGE} (default 30)"
            ),
            json!({"type": "integer", "minimum": 1, "maximum": i64::MAX, "default": 30}),
        );
        match self.query {
            Query::None => {}
            Query::Pages => {
                parameters.push(per_page);
                parameters.push(query(
                    "page",
                    "Page number (default 1)",
                    json!({"type": "integer", "minimum": 1, "maximum": i64::MAX, "default": 1}),
                ));
            }
            Query::Log => {
                parameters.push(per_page);
                parameters.push(query(
                    "cursor",
                    "Where the page starts: the cursor of a `Link` this API returned",
                    json!({"type": "string", "pattern": cursor_pattern()}),
                ));
                parameters.push(query(
                    "status",
                    "Only successful or failed attempts; Hookpost's `held`: the deliveries held while `--disable-after` has the hook disabled (not yet attempted; their `id` is the delivery's, their `delivered_at` the event's publish time)",
                    json!({"type": "string", "enum": ["success", "failure", "held"]}),
                ));
                parameters.push(query(
                    "redelivery",
                    "Only retries and redeliveries, or only first attempts",
                    json!({"type": "boolean"}),
                ));
                parameters.push(query(
                    "trigger",
                    "Hookpost's extension: only first attempts (`publish`), automatic retries (`retry`), manual redeliveries (`redelivery`) or those of a bulk recovery (`recovery`)",
                    json!({"type": "string", "enum": ["publish", "retry", "redelivery", "recovery"]}),
                ));
                parameters.push(query(
                    "event",
                    "Hookpost's extension: only attempts of events with this name (`push`)",
                    json!({"type": "string"}),
                ));
                parameters.push(query(
                    "guid",
                    "Hookpost's extension: only attempts of the event with this `X-GitHub-Delivery`",
                    json!({"type": "string"}),
                ));
                for (name, description) in [
                    (
                        "since",
                        "Hookpost's extension: only attempts made at or after this time",
                    ),
                    (
                        "until",
                        "Hookpost's extension: only attempts made at or before this time",
                    ),
                ] {
                    parameters.push(query(
                        name,
                        description,
                        json!({"type": "string", "format": "date-time"}),
                    ));
                }
            }
        }
        if self.idempotency_key {
            parameters.push(json!({
                "name": "Idempotency-Key",
                "in": "header",
                "description": "A repeat with the same key and body returns the first answer and publishes nothing; with another body it is refused (409). Keys are the caller's own and live as long as the event (`--retention`).",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]([ -~]*[!-~])?$"}
            }));
        }
        parameters
    }
}

/// The status's reason phrase, as a response description.
fn reason(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Answer")
}

/// An opaque cursor: 16 hex digits of a positive 64-bit number.
fn cursor_pattern() -> String {
    // The first digit is at most 7 (positive); not all digits are 0.
    let mut branches = vec!["[1-7][0-9a-fA-F]{15}".to_owned()];
    for zeros in 1..16 {
        branches.push(format!(
            "0{{{zeros}}}[1-9a-fA-F][0-9a-fA-F]{{{}}}",
            15 - zeros
        ));
    }
    format!("^({})$", branches.join("|"))
}

/// Path parameters that are numbers; every other parameter is a name.
const NUMERIC_PARAMETERS: [&str; 5] = [
    "hook_id",
    "delivery_id",
    "app_id",
    "token_id",
    "recovery_id",
];

fn path_parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            let schema = if NUMERIC_PARAMETERS.contains(&name) {
                json!({"type": "integer", "format": "int64"})
            } else {
                json!({"type": "string"})
            };
            json!({"name": name, "in": "path", "required": true, "schema": schema})
        })
        .collect()
}

fn security(auth: Auth) -> Value {
    match auth {
        Auth::Public => json!([]),
        Auth::Token | Auth::Admin => json!([{"token": []}]),
        Auth::App => json!([{"app_jwt": []}]),
    }
}

/// Custom header names the server refuses, by `rules`, as a pattern: every
/// case-insensitive spelling of each reserved name and prefix.
fn reserved_header_pattern(rules: &HookRules) -> String {
    let either_case = |text: &str| -> String {
        text.chars()
            .map(|c| {
                if c.is_ascii_alphabetic() {
                    format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase())
                } else if c.is_ascii_alphanumeric() || c == '-' {
                    c.to_string()
                } else {
                    format!("\\{c}")
                }
            })
            .collect()
    };
    let names = rules
        .reserved_names()
        .iter()
        .map(|name| format!("{}$", either_case(name)));
    let prefixes = rules
        .reserved_prefixes()
        .iter()
        .map(|prefix| either_case(prefix));
    format!("^({})", names.chain(prefixes).collect::<Vec<_>>().join("|"))
}

/// Links from an answer that names a resource to the operations on it: a created hook's
/// `id` (or the first listed delivery's) fills the `{…_id}` segment that follows the
/// answering operation's path, the path's other parameters carry over. Clients (and the
/// API test in CI) can follow them from a create to the hook it made.
fn add_links(operations: &[Operation], paths: &mut BTreeMap<String, Map<String, Value>>) {
    for from in operations {
        let (pointer, status) = match (from.method.as_str(), from.doc.reply) {
            ("POST", Reply::One(_)) => ("$response.body#/id", from.doc.status),
            ("GET", Reply::List(_)) => ("$response.body#/0/id", StatusCode::OK),
            _ => continue,
        };
        let mut links = Map::new();
        for to in operations {
            let Some(rest) = to.path.strip_prefix(&format!("{}/{{", from.path)) else {
                continue;
            };
            let Some((id, after)) = rest.split_once('}') else {
                continue;
            };
            if after.contains('{') {
                continue;
            }
            let mut parameters = Map::new();
            for parameter in path_parameters(&from.path) {
                let name = parameter["name"].as_str().expect("a named parameter");
                parameters.insert(name.to_owned(), json!(format!("$request.path.{name}")));
            }
            parameters.insert(id.to_owned(), json!(pointer));
            let name = to.operation_id.replace('/', "-");
            links.insert(
                name,
                json!({"operationId": to.operation_id, "parameters": parameters}),
            );
        }
        if links.is_empty() {
            continue;
        }
        let method = from.method.as_str().to_ascii_lowercase();
        if let Some(operation) = paths
            .get_mut(&from.path)
            .and_then(|entry| entry.get_mut(&method))
        {
            operation["responses"][status.as_u16().to_string()]["links"] = Value::Object(links);
        }
    }
}

/// The OpenAPI 3.1 document of `operations`, for a server with `rules`.
pub fn document(operations: &[Operation], rules: &HookRules) -> Value {
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut schemas = Vec::new();
    (SchemaOf::of::<ErrorBody>().collect)(&mut schemas);
    for operation in operations {
        let doc = &operation.doc;
        doc.collect(&mut schemas);
        let tag = operation
            .operation_id
            .split('/')
            .next()
            .unwrap_or("hookpost");
        let mut entry = json!({
            "operationId": operation.operation_id,
            "summary": operation.summary,
            "tags": [tag],
            "security": security(doc.auth),
            "parameters": doc.parameters(&operation.path),
            "responses": doc.responses(),
        });
        if let Some((body, required)) = doc.body {
            entry["requestBody"] = json!({
                "required": required,
                "content": {"application/json": {"schema": body.reference()}}
            });
        }
        paths
            .entry(operation.path.clone())
            .or_default()
            .insert(operation.method.as_str().to_ascii_lowercase(), entry);
    }
    add_links(operations, &mut paths);
    let mut components = Map::new();
    for (name, schema) in schemas {
        let schema = serde_json::to_value(schema).expect("a schema serializes");
        components.insert(name, schema);
    }
    // What a Rust type cannot say: one of two fields is required.
    if let Some(publication) = components.get_mut("EventPublication") {
        publication["anyOf"] = json!([
            {"required": ["repository"], "properties": {"repository": {"type": "string"}}},
            {"required": ["organization"], "properties": {"organization": {"type": "string"}}}
        ]);
    }
    // Asking for the Standard Webhooks signature asks for a `whsec_` secret with it.
    if let Some(fields) = components.get_mut("ConfigFields") {
        fields["if"] = json!({
            "required": ["signature"],
            "properties": {"signature": {"enum": ["standard", "both"]}}
        });
        fields["then"] = json!({
            "required": ["secret"],
            "properties": {"secret": {"type": "string", "pattern": STANDARD_SECRET_PATTERN}}
        });
    }
    // The rules that depend on the server's flags (`--header-alias`).
    if let Some(headers) = components.get_mut("CustomHeaders") {
        headers["propertyNames"]["not"] = json!({"pattern": reserved_header_pattern(rules)});
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Hookpost",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "GitHub-compatible webhook management, publishing and delivery log"
        },
        "servers": [{"url": "/api/v3"}],
        "components": {
            "schemas": components,
            "securitySchemes": {
                "token": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "`token <token>` or `Bearer <token>`: an owner token, or the admin token"
                },
                "app_jwt": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A GitHub App's JWT (RS256, `iss` the app's id or client id, at most 10 minutes)"
                }
            }
        },
        "paths": paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_are_typed() {
        let found = path_parameters("/repos/{owner}/{repo}/hooks/{hook_id}");
        let kinds: Vec<(&str, &str)> = found
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap(),
                    p["schema"]["type"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("owner", "string"),
                ("repo", "string"),
                ("hook_id", "integer")
            ]
        );
    }

    #[test]
    fn reserved_header_names_match_in_any_case() {
        let pattern = reserved_header_pattern(&HookRules::new(&["Gogs".to_owned()]));
        assert!(pattern.starts_with("^([Hh][Oo][Ss][Tt]$|"), "{pattern}");
        assert!(pattern.contains("|[Xx]-[Gg][Oo][Gg][Ss]-"), "{pattern}");
    }

    #[test]
    fn cursors_are_sixteen_hex_digits() {
        let pattern = cursor_pattern();
        assert!(
            pattern.contains("0{15}[1-9a-fA-F][0-9a-fA-F]{0}"),
            "{pattern}"
        );
    }
}
