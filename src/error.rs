//! The one error type every API handler returns, rendered in GitHub's shape.
//!
//! Client errors carry their message to the caller; internal errors are logged once, here,
//! inside the request's span, and the caller only sees an opaque 500.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::apps::AppAuthError;
use crate::auth::AuthError;
use crate::core::CoreError;
use crate::domain::validate::FieldError;
use crate::store::StoreError;

/// Where GitHub's error bodies point; kept so that clients see the shape they know.
const DOCUMENTATION_URL: &str = "https://docs.github.com/rest";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body or query could not be read at all (malformed JSON, not an object, bad cursor).
    #[error("{0}")]
    BadRequest(String),
    /// No credentials were presented.
    #[error("Requires authentication")]
    RequiresAuthentication,
    /// Credentials were presented but match no token.
    #[error("Bad credentials")]
    BadCredentials,
    /// Credentials were presented but are not good enough; GitHub's message is kept verbatim.
    #[error("{0}")]
    Unauthorized(String),
    /// The resource does not exist, or the caller may not know that it exists.
    #[error("Not Found")]
    NotFound,
    /// The body exceeds the configured limit.
    #[error("Payload too large")]
    PayloadTooLarge,
    /// The body did not arrive within `--body-read-timeout`.
    #[error("Request Timeout")]
    RequestTimeout,
    /// The request was well-formed but its fields are not acceptable.
    #[error("Validation Failed")]
    Validation(Vec<FieldError>),
    /// The request collides with what exists; the fields say which.
    #[error("Conflict")]
    Conflict(Vec<FieldError>),
    /// The path exists but not with this method (`Allow` says which).
    #[error("Method Not Allowed")]
    MethodNotAllowed,
    /// This client address failed to authenticate too often; `Retry-After` says when to
    /// try again.
    #[error("Too many failed authentication attempts; retry later")]
    TooManyRequests(std::time::Duration),
    /// The database cannot be reached for now; `Retry-After` says when to try again.
    #[error("Service Unavailable")]
    Unavailable,
    /// Anything that is our fault; never shown to the caller.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<CoreError> for ApiError {
    fn from(error: CoreError) -> Self {
        match error {
            CoreError::NotFound => ApiError::NotFound,
            CoreError::Validation(errors) => ApiError::Validation(errors.0),
            CoreError::Conflict(errors) => ApiError::Conflict(errors.0),
            CoreError::Store(error) => error.into(),
            CoreError::Internal(error) => ApiError::Internal(error),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::RequiresAuthentication => ApiError::RequiresAuthentication,
            AuthError::BadCredentials => ApiError::BadCredentials,
            AuthError::TooManyFailures(wait) => ApiError::TooManyRequests(wait),
            AuthError::Store(error) => error.into(),
        }
    }
}

impl From<AppAuthError> for ApiError {
    fn from(error: AppAuthError) -> Self {
        match error {
            AppAuthError::Refused(message) => ApiError::Unauthorized(message.to_owned()),
            AppAuthError::TooManyFailures(wait) => ApiError::TooManyRequests(wait),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        if error.is_unavailable() {
            tracing::warn!(%error, "the database is unavailable");
            return ApiError::Unavailable;
        }
        ApiError::Internal(anyhow::Error::new(error))
    }
}

impl From<crate::domain::validate::ValidationErrors> for ApiError {
    fn from(errors: crate::domain::validate::ValidationErrors) -> Self {
        ApiError::Validation(errors.0)
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::RequiresAuthentication
            | ApiError::BadCredentials
            | ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Seconds a client is asked to wait while the database cannot be reached.
const UNAVAILABLE_RETRY_AFTER: u64 = 1;

/// GitHub's `basic-error` and, with `errors`, `validation-error`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub message: String,
    /// Each field that was not acceptable (422 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    #[schema(value_type = String)]
    pub documentation_url: &'static str,
    /// The HTTP status, as a string.
    pub status: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            ApiError::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "internal error");
                "Internal Server Error".to_owned()
            }
            other => other.to_string(),
        };
        let retry_after = match &self {
            ApiError::TooManyRequests(wait) => Some(wait.as_secs().max(1)),
            ApiError::Unavailable => Some(UNAVAILABLE_RETRY_AFTER),
            _ => None,
        };
        let errors = match self {
            ApiError::Validation(errors) | ApiError::Conflict(errors) => Some(errors),
            _ => None,
        };
        let body = ErrorBody {
            message,
            errors,
            documentation_url: DOCUMENTATION_URL,
            status: status.as_u16().to_string(),
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}
