//! Our own extractors, whose rejections are [`ApiError`]s in GitHub's shape: a client never
//! sees axum's plain-text rejections.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde_json::{Map, Value};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::web::AppState;

/// A request body as bytes, within the size limit (413 beyond it).
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else if timed_out(&rejection) {
                    ApiError::RequestTimeout
                } else {
                    ApiError::BadRequest(rejection.body_text())
                }
            })
    }
}

/// Whether the body stopped at the server's body deadline (`--body-read-timeout`).
fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        current = error.source();
    }
    false
}

/// A request body that must be a JSON object. An empty body counts as `{}`, as GitHub's
/// optional bodies allow.
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        parse_object(&bytes).map(JsonObject)
    }
}

/// # Errors
/// 400 `Problems parsing JSON` or `Body should be a JSON object`.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::BadRequest(
            "Body should be a JSON object".to_owned(),
        )),
        Err(_) => Err(ApiError::BadRequest("Problems parsing JSON".to_owned())),
    }
}

/// The query string as name → value; a malformed one is a 400.
pub struct QueryMap(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryMap {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|Query(map)| QueryMap(map))
            .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
    }
}

/// The path's parameters by name; a path that cannot be read names nothing (404).
pub struct PathParams(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for PathParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(params)| PathParams(params))
            .map_err(|_| ApiError::NotFound)
    }
}

/// The address the request came from (`connections::serve` records it), whose failed
/// authentications are counted.
pub fn client_address(parts: &Parts) -> Option<std::net::IpAddr> {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip())
}

/// The authenticated caller of an API request (`Authorization: Bearer T` or `token T`).
impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = match parts.headers.get(AUTHORIZATION) {
            Some(value) => Some(value.to_str().map_err(|_| ApiError::BadCredentials)?),
            None => None,
        };
        Ok(state
            .core
            .authenticate(header, client_address(parts))
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_must_be_objects() {
        assert!(parse_object(b"").unwrap().is_empty());
        assert!(parse_object(b" {\"a\": 1} ").unwrap().contains_key("a"));
        for (body, message) in [
            (&b"{"[..], "Problems parsing JSON"),
            (b"[1]", "Body should be a JSON object"),
            (b"\"x\"", "Body should be a JSON object"),
        ] {
            match parse_object(body) {
                Err(ApiError::BadRequest(got)) => assert_eq!(got, message),
                other => panic!("{other:?}"),
            }
        }
    }
}
