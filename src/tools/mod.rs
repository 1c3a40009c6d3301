//! Developer tools that talk HTTP from the command line: `hookpost publish` and
//! `hookpost recover` (clients of a running server) and `hookpost listen` (a receiver for
//! developing against webhooks).

pub mod listen;
pub mod publish;
pub mod recover;

use reqwest::Method;
use serde_json::Value;

/// The server a client tool talks to.
pub struct Target {
    /// The server's origin, e.g. `http://127.0.0.1:8080`.
    pub server: String,
    pub token: String,
}

/// Calls the API at `path` (under `/api/v3`); returns the server's JSON answer, or its
/// error message with every field problem.
async fn call(
    client: &reqwest::Client,
    target: &Target,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, String> {
    let url = format!("{}/api/v3{path}", target.server.trim_end_matches('/'));
    let mut request = client.request(method, url).bearer_auth(&target.token);
    if let Some(body) = body {
        request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
    }
    let response = request
        .send()
        .await
        .map_err(|error| format!("cannot reach {}: {error}", target.server))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|error| format!("{status}: unreadable answer: {error}"))?;
    let answer: Value = serde_json::from_slice(&bytes)
        .map_err(|error| format!("{status}: unreadable answer: {error}"))?;
    if status.is_success() {
        return Ok(answer);
    }
    let mut message = format!("{status}: {}", answer["message"].as_str().unwrap_or(""));
    for error in answer["errors"].as_array().into_iter().flatten() {
        message.push_str(&format!(
            "; {}: {}",
            error["field"].as_str().unwrap_or("?"),
            error["message"].as_str().unwrap_or("invalid")
        ));
    }
    Err(message)
}

/// A plain HTTP client for the tools, with the process's TLS crypto installed.
fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}
