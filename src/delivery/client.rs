//! Sending one attempt: a keep-alive pool per TLS mode, no redirects, a deadline for the
//! whole exchange, and at most [`RESPONSE_BODY_LIMIT`] bytes of the answer read.
//!
//! A hostile receiver costs one delivery slot for at most the timeout: it cannot hold a
//! connection longer, make us follow it elsewhere, or make us buffer a flood.

use std::sync::Arc;
use std::time::Duration;

use reqwest::redirect::Policy;
use tokio::time::Instant;

use super::guard::{Blocked, Guard, GuardedResolver};
use crate::wire::OutgoingRequest;

/// How much of a response body is kept.
pub const RESPONSE_BODY_LIMIT: usize = 64 * 1024;

/// What came of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    pub succeeded: bool,
    /// GitHub's status text.
    pub status: String,
    /// 0 without an HTTP response.
    pub status_code: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// What a 429 or 503 asked for in `Retry-After`.
    pub retry_after: Option<Duration>,
}

impl AttemptResult {
    fn without_response(status: String) -> Self {
        AttemptResult {
            succeeded: false,
            status,
            status_code: 0,
            headers: Vec::new(),
            body: Vec::new(),
            retry_after: None,
        }
    }
}

/// The HTTP clients deliveries go through.
pub struct Transport {
    verified: reqwest::Client,
    /// For hooks with `insecure_ssl: "1"`: certificates are not checked.
    insecure: reqwest::Client,
    guard: Arc<Guard>,
    timeout: Duration,
}

fn build_client(
    guard: &Arc<Guard>,
    timeout: Duration,
    insecure: bool,
) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .dns_resolver(Arc::new(GuardedResolver(guard.clone())))
        .pool_idle_timeout(Duration::from_secs(60))
        .tls_danger_accept_invalid_certs(insecure)
        .build()
}

impl Transport {
    /// # Errors
    /// When the TLS configuration cannot be built.
    pub fn new(guard: Arc<Guard>, timeout: Duration) -> anyhow::Result<Self> {
        // One process-wide crypto provider; a second install (tests) is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(Transport {
            verified: build_client(&guard, timeout, false)?,
            insecure: build_client(&guard, timeout, true)?,
            guard,
            timeout,
        })
    }

    pub async fn send(&self, request: &OutgoingRequest, insecure_ssl: bool) -> AttemptResult {
        if let Err(blocked) = self.check_literal_address(&request.url) {
            return AttemptResult::without_response(blocked.to_string());
        }
        let client = if insecure_ssl {
            &self.insecure
        } else {
            &self.verified
        };
        let mut builder = client.post(request.url.clone()).body(request.body.clone());
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let deadline = Instant::now() + self.timeout;
        let response = match tokio::time::timeout_at(deadline, builder.send()).await {
            Err(_) => return AttemptResult::without_response("timed out".to_owned()),
            Ok(Err(error)) => return AttemptResult::without_response(describe(&error)),
            Ok(Ok(response)) => response,
        };
        let status_code = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let retry_after = matches!(status_code, 429 | 503)
            .then(|| response.headers().get(reqwest::header::RETRY_AFTER))
            .flatten()
            .and_then(|value| value.to_str().ok())
            .and_then(parse_retry_after);
        let body = read_capped(response, deadline).await;
        let succeeded = (200..300).contains(&status_code);
        AttemptResult {
            succeeded,
            status: if succeeded {
                "OK".to_owned()
            } else {
                format!("Invalid HTTP Response: {status_code}")
            },
            status_code,
            headers,
            body,
            retry_after,
        }
    }

    /// Resolved names are checked by the resolver; addresses written in the URL are
    /// checked here, since no resolver sees them.
    fn check_literal_address(&self, url: &url::Url) -> Result<(), Blocked> {
        match url.host() {
            Some(url::Host::Ipv4(v4)) => self.guard.check(v4.into()),
            Some(url::Host::Ipv6(v6)) => self.guard.check(v6.into()),
            _ => Ok(()),
        }
    }
}

/// Reads at most [`RESPONSE_BODY_LIMIT`] bytes before `deadline`; the rest is never read
/// (the connection is dropped rather than drained).
async fn read_capped(mut response: reqwest::Response, deadline: Instant) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < RESPONSE_BODY_LIMIT {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => {
                let room = RESPONSE_BODY_LIMIT - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            _ => break,
        }
    }
    body
}

/// The first error of type `T` among `error`'s causes, looking inside `io::Error`s too
/// (whose `source()` skips the error they wrap).
fn find_cause<'e, T: std::error::Error + 'static>(
    error: &'e (dyn std::error::Error + 'static),
) -> Option<&'e T> {
    let mut current = Some(error);
    while let Some(candidate) = current {
        if let Some(found) = candidate.downcast_ref::<T>() {
            return Some(found);
        }
        current = match candidate
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => candidate.source(),
        };
    }
    None
}

/// GitHub's status text for a request that got no response.
fn describe(error: &reqwest::Error) -> String {
    if let Some(blocked) = find_cause::<Blocked>(error) {
        return blocked.to_string();
    }
    if let Some(tls) = find_cause::<rustls::Error>(error) {
        return format!("TLS error: {tls}");
    }
    if error.is_timeout() {
        "timed out".to_owned()
    } else {
        "failed to connect to host".to_owned()
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value.trim()).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        let later = std::time::SystemTime::now() + Duration::from_secs(90);
        let parsed = parse_retry_after(&httpdate::fmt_http_date(later)).unwrap();
        assert!(parsed <= Duration::from_secs(90) && parsed >= Duration::from_secs(85));
        assert_eq!(parse_retry_after("soon"), None);
    }
}
