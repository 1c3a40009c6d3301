//! Who is calling: tokens and app JWTs checked, and the web UI's sessions, kept in the
//! store (so every process of a cluster, and a restarted one, knows them) as digests only.

use std::net::IpAddr;
use std::time::Duration;

use super::{Core, CoreError};
use crate::apps::{self, AppAuthError};
use crate::auth::{AuthError, Principal, generate_token, hash_token};
use crate::domain::timestamp::Timestamp;
use crate::store::{AppRecord, SessionRecord, TokenScope};

/// How long a web UI session lasts.
const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// A signed-in browser's session: who it is, and the CSRF token its forms carry.
#[derive(Debug, Clone)]
pub struct SessionView {
    pub principal: Principal,
    pub csrf: String,
}

/// What a sign-in came to.
#[derive(Debug)]
pub enum SignIn {
    /// A session was opened; its id is the cookie's value (stored only as a digest).
    Session(String),
    /// The token is not valid.
    Refused,
    /// The token is valid but may only publish: it has no pages to show.
    PublishOnly,
    /// This client failed too often lately; it may try again after the wait.
    TooManyFailures(Duration),
}

impl Core {
    /// Authenticates an `Authorization` header value (`Bearer T` or `token T`) from
    /// `client`, whose failures are counted.
    ///
    /// # Errors
    /// Missing or bad credentials, too many failures from `client`; store failures.
    pub async fn authenticate(
        &self,
        header: Option<&str>,
        client: Option<IpAddr>,
    ) -> Result<Principal, AuthError> {
        match self.auth.authenticate(header).await {
            Err(AuthError::BadCredentials) => Err(self
                .failed(client)
                .map_or(AuthError::BadCredentials, AuthError::TooManyFailures)),
            other => other,
        }
    }

    /// The app an app's JWT authenticates, checked as GitHub checks it; failures of
    /// `client` are counted.
    ///
    /// # Errors
    /// GitHub's message for each way a JWT is refused, too many failures from `client`;
    /// store failures.
    pub async fn authenticate_app(
        &self,
        jwt: &str,
        client: Option<IpAddr>,
    ) -> Result<AppRecord, AppAuthError> {
        match apps::authenticate(self.store.as_ref(), jwt, Timestamp::now()).await {
            Err(AppAuthError::Refused(message)) => Err(self.failed(client).map_or(
                AppAuthError::Refused(message),
                AppAuthError::TooManyFailures,
            )),
            other => other,
        }
    }

    /// Counts a failed authentication of `client`: how long it must wait when over its limit.
    fn failed(&self, client: Option<IpAddr>) -> Option<Duration> {
        client.and_then(|client| self.failures.failed(client))
    }

    /// Opens a session for `token`, presented by `client`.
    ///
    /// # Errors
    /// Store failures.
    pub async fn sign_in(&self, token: &str, client: Option<IpAddr>) -> Result<SignIn, CoreError> {
        let refused = || {
            self.failed(client)
                .map_or(SignIn::Refused, SignIn::TooManyFailures)
        };
        // A blank token is nobody's, whatever the configuration.
        if token.trim().is_empty() {
            return Ok(refused());
        }
        let token_hash = hash_token(token);
        match self.auth.principal_for(token_hash).await {
            Ok(Principal::Owner(record)) if record.scope == TokenScope::Publish => {
                return Ok(SignIn::PublishOnly);
            }
            Ok(_) => {}
            Err(AuthError::Store(error)) => return Err(error.into()),
            Err(_) => return Ok(refused()),
        }
        let id = generate_token();
        let now = Timestamp::now();
        let lifetime = i64::try_from(SESSION_LIFETIME.as_millis()).unwrap_or(i64::MAX);
        let record = SessionRecord {
            token_hash,
            csrf: generate_token(),
            expires_at: Timestamp(now.0.saturating_add(lifetime)),
        };
        self.store
            .create_session(hash_token(&id), record, now)
            .await?;
        Ok(SignIn::Session(id))
    }

    /// The session with id `id`, unless it is unknown, expired, or its token is no longer
    /// valid (a revoked token ends its sessions).
    ///
    /// # Errors
    /// Store failures.
    pub async fn session(&self, id: &str) -> Result<Option<SessionView>, CoreError> {
        let Some(record) = self
            .store
            .find_session(hash_token(id), Timestamp::now())
            .await?
        else {
            return Ok(None);
        };
        match self.auth.principal_for(record.token_hash).await {
            Ok(principal) => Ok(Some(SessionView {
                principal,
                csrf: record.csrf,
            })),
            Err(AuthError::Store(error)) => Err(error.into()),
            Err(_) => Ok(None),
        }
    }

    /// # Errors
    /// Store failures.
    pub async fn sign_out(&self, id: &str) -> Result<(), CoreError> {
        Ok(self.store.delete_session(hash_token(id)).await?)
    }
}
