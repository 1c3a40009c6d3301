//! `hookpost listen`: a webhook receiver for development. Prints each delivery as it
//! arrives with its signatures checked, and can forward it to a local app or answer a fixed
//! status to rehearse failures.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;

use crate::domain::signature::standard_key;
use crate::domain::timestamp::Timestamp;
use crate::wire::{sign_sha1, sign_sha256, sign_standard};

/// How `listen` behaves.
#[derive(Debug, Clone, clap::Args)]
pub struct ListenConfig {
    /// Address to receive deliveries on.
    #[arg(long, default_value = "127.0.0.1:3456")]
    pub listen: SocketAddr,
    /// The hooks' secret, to check signatures.
    #[arg(long, env = "HOOKPOST_LISTEN_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Relay each delivery to this URL and answer with what it answers.
    #[arg(long)]
    pub forward: Option<String>,
    /// The status to answer when not forwarding.
    #[arg(long, default_value_t = 200)]
    pub status: u16,
    /// Also print the headers and the pretty-printed payload.
    #[arg(long)]
    pub verbose: bool,
    /// Print one JSON object per delivery instead of a line of text.
    #[arg(long)]
    pub json: bool,
}

struct Listener {
    config: ListenConfig,
    client: reqwest::Client,
}

/// Headers that describe one HTTP hop and must not be relayed.
const HOP_BY_HOP: [&str; 5] = [
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "keep-alive",
];

/// Serves until the process ends. Prints `listening on http://ADDR` first.
///
/// # Errors
/// When the address cannot be bound.
pub async fn run(config: ListenConfig) -> anyhow::Result<()> {
    StatusCode::from_u16(config.status)
        .map_err(|_| anyhow::anyhow!("--status {} is not an HTTP status", config.status))?;
    let listener = TcpListener::bind(config.listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let state = Arc::new(Listener {
        config,
        client: super::http_client(),
    });
    let app = Router::new().fallback(receive).with_state(state);
    axum::serve(listener, app).await?;
    Ok(())
}

/// One signature header and whether it matches the body under the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureCheck {
    /// `sha256`, `sha1`, or an alias header such as `x-gogs-signature`.
    pub name: String,
    pub valid: bool,
}

/// How far a Standard Webhooks timestamp may be from the receiver's clock (the
/// specification's replay window).
pub const STANDARD_TOLERANCE_SECONDS: i64 = 5 * 60;

/// The Standard Webhooks check of a request (`None` without `webhook-signature`): valid
/// when one of its `v1,` signatures is the HMAC of `{webhook-id}.{webhook-timestamp}.{body}`
/// under the key of `secret`, and the timestamp is within five minutes of `now`.
fn check_standard(
    headers: &HeaderMap,
    body: &[u8],
    secret: &str,
    now: Timestamp,
) -> Option<SignatureCheck> {
    let signatures = headers.get("webhook-signature")?.to_str().ok()?;
    let id = header_text(headers, "webhook-id");
    let timestamp: Option<i64> = header_text(headers, "webhook-timestamp").parse().ok();
    let fresh = timestamp
        .is_some_and(|at| (now.0.div_euclid(1000) - at).abs() <= STANDARD_TOLERANCE_SECONDS);
    let valid = match (standard_key(secret), timestamp) {
        (Some(key), Some(at)) if fresh => {
            let expected = sign_standard(&key, id, at, body);
            signatures.split(' ').any(|given| {
                given.starts_with("v1,") && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
            })
        }
        _ => false,
    };
    Some(SignatureCheck {
        name: "standard".to_owned(),
        valid,
    })
}

/// Checks every signature header of a request against `secret` at `now`.
pub fn check_signatures(
    headers: &HeaderMap,
    body: &[u8],
    secret: &str,
    now: Timestamp,
) -> Vec<SignatureCheck> {
    let matches =
        |given: &str, expected: &str| bool::from(given.as_bytes().ct_eq(expected.as_bytes()));
    let mut checks = Vec::new();
    for (name, value) in headers {
        let name = name.as_str();
        let Ok(value) = value.to_str() else { continue };
        let check = match name {
            "x-hub-signature-256" => Some((
                "sha256".to_owned(),
                value
                    .strip_prefix("sha256=")
                    .is_some_and(|hex| matches(hex, &sign_sha256(secret, body))),
            )),
            "x-hub-signature" => Some((
                "sha1".to_owned(),
                value
                    .strip_prefix("sha1=")
                    .is_some_and(|hex| matches(hex, &sign_sha1(secret, body))),
            )),
            alias
                if alias.starts_with("x-")
                    && alias.ends_with("-signature")
                    && !value.is_empty() =>
            {
                Some((alias.to_owned(), matches(value, &sign_sha256(secret, body))))
            }
            _ => None,
        };
        if let Some((name, valid)) = check {
            checks.push(SignatureCheck { name, valid });
        }
    }
    checks.extend(check_standard(headers, body, secret, now));
    checks
}

/// The payload of a JSON or form-encoded delivery body.
fn payload_of(headers: &HeaderMap, body: &[u8]) -> Value {
    let form = headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    let json_text: Vec<u8> = if form {
        url::form_urlencoded::parse(body)
            .find(|(key, _)| key == "payload")
            .map(|(_, value)| value.into_owned().into_bytes())
            .unwrap_or_default()
    } else {
        body.to_vec()
    };
    serde_json::from_slice(&json_text).unwrap_or(Value::Null)
}

fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-")
}

/// Prints one delivery; returns whether its signatures (if a secret was given) all verify.
fn report(config: &ListenConfig, headers: &HeaderMap, body: &[u8]) -> bool {
    let payload = payload_of(headers, body);
    let event = header_text(headers, "x-github-event");
    let action = payload["action"].as_str();
    let checks = config
        .secret
        .as_deref()
        .map(|secret| check_signatures(headers, body, secret, Timestamp::now()));
    let verified = checks.iter().flatten().all(|check| check.valid);
    let time = Timestamp::now().to_github();
    if config.json {
        let signatures: serde_json::Map<String, Value> = checks
            .iter()
            .flatten()
            .map(|check| (check.name.clone(), Value::Bool(check.valid)))
            .collect();
        let mut line = json!({
            "time": time,
            "event": event,
            "action": action,
            "guid": header_text(headers, "x-github-delivery"),
            "hook_id": header_text(headers, "x-github-hook-id"),
            "signatures": signatures,
        });
        if config.verbose {
            let shown: serde_json::Map<String, Value> = headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.to_string(),
                        json!(String::from_utf8_lossy(value.as_bytes())),
                    )
                })
                .collect();
            line["headers"] = Value::Object(shown);
            line["payload"] = payload.clone();
        }
        println!("{line}");
        return verified;
    }
    let what = action.map_or_else(|| event.to_owned(), |action| format!("{event}.{action}"));
    let signatures = match &checks {
        None => "signature not checked (no --secret)".to_owned(),
        Some(checks) if checks.is_empty() => "unsigned".to_owned(),
        Some(checks) => checks
            .iter()
            .map(|check| format!("{} {}", check.name, if check.valid { "✔" } else { "✘" }))
            .collect::<Vec<_>>()
            .join(" "),
    };
    println!(
        "{time} {what} {} hook {} {signatures}",
        header_text(headers, "x-github-delivery"),
        header_text(headers, "x-github-hook-id"),
    );
    if config.verbose {
        for (name, value) in headers {
            println!("  {name}: {}", String::from_utf8_lossy(value.as_bytes()));
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&payload).unwrap_or_default()
        );
    }
    verified
}

async fn receive(
    State(listener): State<Arc<Listener>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !report(&listener.config, &headers, &body) {
        // As a receiver should: a delivery that does not verify is not acted upon.
        return (StatusCode::UNAUTHORIZED, "signature does not verify\n").into_response();
    }
    let Some(forward) = &listener.config.forward else {
        return StatusCode::from_u16(listener.config.status)
            .unwrap_or(StatusCode::OK)
            .into_response();
    };
    let mut request = listener.client.request(method, forward).body(body);
    for (name, value) in &headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(answer) => {
            let mut response = Response::builder().status(answer.status().as_u16());
            for (name, value) in answer.headers() {
                if !HOP_BY_HOP.contains(&name.as_str()) {
                    response = response.header(name, value);
                }
            }
            let body = answer.bytes().await.unwrap_or_default();
            response
                .body(Body::from(body))
                .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
        }
        Err(error) => {
            eprintln!("forwarding to {forward} failed: {error}");
            StatusCode::BAD_GATEWAY.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_checked_per_header() {
        let body = br#"{"a":1}"#;
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-hub-signature-256",
            format!("sha256={}", sign_sha256("s", body))
                .parse()
                .unwrap(),
        );
        headers.insert(
            "x-hub-signature",
            format!("sha1={}", sign_sha1("wrong", body))
                .parse()
                .unwrap(),
        );
        headers.insert("x-gogs-signature", sign_sha256("s", body).parse().unwrap());
        let mut checks = check_signatures(&headers, body, "s", Timestamp::now());
        checks.sort_by(|a, b| a.name.cmp(&b.name));
        let summary: Vec<(&str, bool)> =
            checks.iter().map(|c| (c.name.as_str(), c.valid)).collect();
        assert_eq!(
            summary,
            [
                ("sha1", false),
                ("sha256", true),
                ("x-gogs-signature", true)
            ]
        );
    }
}
