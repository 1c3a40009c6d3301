//! Signed-in browsers: a session per sign-in, kept in the database (so every process of a
//! cluster, and a restarted one, knows it) under the digest of an unguessable id that an
//! `HttpOnly`, `SameSite=Strict` cookie carries; and a CSRF token per session that every
//! form carries back. The session keeps the digest of the token it was opened with, which
//! is checked again on every request, as the API checks a token.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq;

use super::{UiError, pages};
use crate::auth::Principal;
use crate::core::sessions::SessionView;
use crate::web::AppState;

pub const COOKIE_NAME: &str = "hookpost_session";

/// Holds the sign-in form's CSRF token until a session exists.
const LOGIN_COOKIE_NAME: &str = "hookpost_login";
/// Carries a token just created from the tokens page to the page the browser is sent to
/// next (post/redirect/get), which shows it once and clears it.
const NEW_TOKEN_COOKIE_NAME: &str = "hookpost_new_token";

/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "_csrf";

#[derive(Clone)]
pub struct Session {
    pub principal: Principal,
    /// Echoed by every form of this session.
    pub csrf: Arc<str>,
}

/// The value of cookie `name`, if the request carries it.
fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// The session cookie's value, if the request carries one.
pub fn session_id(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, COOKIE_NAME)
}

/// The sign-in form's CSRF token, as its cookie holds it.
pub fn login_csrf(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, LOGIN_COOKIE_NAME)
}

/// Compares two secrets in constant time.
pub fn same_secret(sent: &str, expected: &str) -> bool {
    bool::from(sent.as_bytes().ct_eq(expected.as_bytes()))
}

/// Whether the browser reached us over TLS (directly or through a proxy that says so).
fn over_tls(headers: &HeaderMap, state: &AppState) -> bool {
    let forwarded = headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|proto| proto.eq_ignore_ascii_case("https"));
    forwarded
        || state
            .public_url
            .as_deref()
            .is_some_and(|url| url.starts_with("https://"))
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, and `Secure` over TLS.
fn set_cookie(
    name: &str,
    value: &str,
    extra: &str,
    headers: &HeaderMap,
    state: &AppState,
) -> HeaderValue {
    let secure = if over_tls(headers, state) {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict{extra}{secure}");
    HeaderValue::from_str(&cookie).expect("tokens are URL-safe")
}

/// The `Set-Cookie` value that stores (or, with `None`, clears) the session id.
pub fn cookie(id: Option<&str>, headers: &HeaderMap, state: &AppState) -> HeaderValue {
    match id {
        Some(id) => set_cookie(COOKIE_NAME, id, "", headers, state),
        None => set_cookie(COOKIE_NAME, "", "; Max-Age=0", headers, state),
    }
}

/// The `Set-Cookie` value of the sign-in form's CSRF token.
pub fn login_cookie(token: &str, headers: &HeaderMap, state: &AppState) -> HeaderValue {
    set_cookie(LOGIN_COOKIE_NAME, token, "; Max-Age=3600", headers, state)
}

/// The token just created, as its cookie holds it.
pub fn new_token(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, NEW_TOKEN_COOKIE_NAME).filter(|token| !token.is_empty())
}

/// The `Set-Cookie` value that hands a new token to the next page for a minute at most (or,
/// with `None`, clears it once shown).
pub fn new_token_cookie(token: Option<&str>, headers: &HeaderMap, state: &AppState) -> HeaderValue {
    match token {
        Some(token) => set_cookie(NEW_TOKEN_COOKIE_NAME, token, "; Max-Age=60", headers, state),
        None => set_cookie(NEW_TOKEN_COOKIE_NAME, "", "; Max-Age=0", headers, state),
    }
}

/// Adds `Set-Cookie` to a response.
pub fn with_cookie(cookie: HeaderValue, response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    response.headers_mut().insert(SET_COOKIE, cookie);
    response
}

impl From<SessionView> for Session {
    fn from(view: SessionView) -> Self {
        Session {
            principal: view.principal,
            csrf: Arc::from(view.csrf),
        }
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let had_cookie = session_id(&parts.headers).is_some();
        let to_login = || sign_in_first(parts, had_cookie);
        let id = session_id(&parts.headers).ok_or_else(to_login)?;
        let view = state
            .core
            .session(&id)
            .await
            .map_err(|error| UiError::from(error).into_response())?
            .ok_or_else(to_login)?;
        Ok(Session::from(view))
    }
}

/// The answer to a request without a valid session: a page is sent to the sign-in form,
/// which brings the browser back to it (and says the session expired, when one was sent);
/// a script's fetch of a fragment (`Sec-Fetch-Dest: empty`) gets a 401 it can explain,
/// rather than the sign-in page inside a delivery row.
fn sign_in_first(parts: &Parts, expired: bool) -> Response {
    let fetched = parts
        .headers
        .get("sec-fetch-dest")
        .is_some_and(|dest| dest.as_bytes() == b"empty");
    if fetched {
        let message = "Your session has expired: sign in again.";
        return (axum::http::StatusCode::UNAUTHORIZED, message).into_response();
    }
    let here = parts
        .uri
        .path_and_query()
        .map_or(pages::HOME, |path| path.as_str());
    Redirect::to(&pages::login_url(here, expired)).into_response()
}

/// A form posted by a signed-in browser, with its CSRF token checked: every handler that
/// changes something takes this, so none can forget the check.
pub struct SignedForm {
    pub session: Session,
    pub fields: Vec<(String, String)>,
}

impl SignedForm {
    /// The first value of field `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        field(&self.fields, name)
    }

    /// Every value of field `name` (checkboxes).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .collect()
    }
}

pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// Reads a URL-encoded form body.
pub async fn read_form(request: Request) -> Result<Vec<(String, String)>, UiError> {
    let bytes = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .map_err(|_| UiError::BadRequest("The form could not be read.".to_owned()))?;
    Ok(url::form_urlencoded::parse(&bytes).into_owned().collect())
}

impl FromRequest<AppState> for SignedForm {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        let fields = read_form(Request::from_parts(parts, body))
            .await
            .map_err(IntoResponse::into_response)?;
        let sent = field(&fields, CSRF_FIELD).unwrap_or("");
        if !same_secret(sent, &session.csrf) {
            return Err(UiError::Forbidden.into_response());
        }
        Ok(SignedForm { session, fields })
    }
}
