//! Sending one attempt: kept-alive connections per origin, no redirects, a deadline for the
//! whole exchange, and at most [`RESPONSE_BODY_LIMIT`] bytes of the answer read.
//!
//! A hostile receiver costs one delivery slot for at most the timeout: it cannot hold a
//! connection longer, make us follow it elsewhere, or make us buffer a flood.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use url::Position;

use super::connect::{Connector, Destination, Origin, Stream};
use super::http1::{Connection, ExchangeError, Response};
use crate::domain::guard::Guard;
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
    /// A failed attempt that got no HTTP response; `status` says why.
    pub fn without_response(status: String) -> Self {
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

/// How deliveries reach receivers.
pub struct Transport {
    connector: Connector,
    timeout: Duration,
}

impl Transport {
    /// # Errors
    /// When the platform's certificate store cannot be loaded.
    pub fn new(guard: Arc<Guard>, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Transport {
            connector: Connector::new(guard, timeout.min(Duration::from_secs(5)))?,
            timeout,
        })
    }

    /// The destination a hook's URL sends to, for the per-destination limit (never waits
    /// for DNS).
    pub fn destination(&self, url: &str) -> Destination {
        match url::Url::parse(url)
            .ok()
            .and_then(|url| Origin::of(&url, false))
        {
            Some(origin) => self.connector.destination(&origin),
            None => Destination::Unresolved(url.to_owned(), 0),
        }
    }

    pub async fn send(&self, request: &OutgoingRequest, insecure_ssl: bool) -> AttemptResult {
        let deadline = Instant::now() + self.timeout;
        match tokio::time::timeout_at(deadline, self.exchange(request, insecure_ssl)).await {
            Err(_) => AttemptResult::without_response("timed out".to_owned()),
            Ok(Err(status)) => AttemptResult::without_response(status),
            Ok(Ok(response)) => {
                let status_code = response.status;
                let retry_after = matches!(status_code, 429 | 503)
                    .then(|| {
                        response
                            .headers
                            .iter()
                            .find(|(name, _)| name.eq_ignore_ascii_case("retry-after"))
                    })
                    .flatten()
                    .and_then(|(_, value)| parse_retry_after(value));
                let succeeded = (200..300).contains(&status_code);
                AttemptResult {
                    succeeded,
                    status: if succeeded {
                        "OK".to_owned()
                    } else {
                        format!("Invalid HTTP Response: {status_code}")
                    },
                    status_code,
                    headers: response.headers,
                    body: response.body,
                    retry_after,
                }
            }
        }
    }

    /// One POST on a kept connection, or on a new one when none is kept or the kept one
    /// turns out closed before answering; the error is the attempt's status text.
    async fn exchange(
        &self,
        request: &OutgoingRequest,
        insecure_ssl: bool,
    ) -> Result<Response, String> {
        let url = &request.url;
        let origin = Origin::of(url, insecure_ssl).ok_or("failed to connect to host")?;
        let host = &url[Position::BeforeHost..Position::AfterPort];
        let target = &url[Position::BeforePath..Position::AfterQuery];
        let post = |mut connection: Connection<Stream>| async move {
            let result = connection
                .post(
                    host,
                    target,
                    &request.headers,
                    &request.body,
                    RESPONSE_BODY_LIMIT,
                )
                .await;
            (connection, result)
        };
        let mut outcome = None;
        if let Some(kept) = self.connector.reuse(&origin) {
            match post(kept).await {
                // Closed while idle: the receiver never saw the request; try a new one.
                (_, Err(ExchangeError::ClosedBeforeResponse)) => {}
                done => outcome = Some(done),
            }
        }
        let (connection, result) = match outcome {
            Some(done) => done,
            None => {
                let fresh = self
                    .connector
                    .open(&origin)
                    .await
                    .map_err(|error| error.to_string())?;
                post(fresh).await
            }
        };
        match result {
            Ok(response) => {
                if response.reusable {
                    self.connector.keep(origin, connection);
                }
                Ok(response)
            }
            Err(ExchangeError::InvalidHeader(name)) => {
                Err(format!("invalid request header {name:?}"))
            }
            Err(error) => {
                tracing::debug!(%error, "delivery exchange failed");
                Err("failed to connect to host".to_owned())
            }
        }
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
