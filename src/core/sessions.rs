//! Who is calling: tokens and app JWTs checked, and the web UI's sessions, kept in the
//! store (so every process of a cluster, and a restarted one, knows them) as digests only.

use std::time::Duration;

use super::{Core, CoreError};
use crate::apps::{self, AppAuthError};
use crate::auth::{AuthError, Principal, generate_token, hash_token};
use crate::domain::timestamp::Timestamp;
use crate::store::{AppRecord, SessionRecord};

/// How long a web UI session lasts.
const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// A signed-in browser's session: who it is, and the CSRF token its forms carry.
#[derive(Debug, Clone)]
pub struct SessionView {
    pub principal: Principal,
    pub csrf: String,
}

impl Core {
    /// Authenticates an `Authorization` header value (`Bearer T` or `token T`).
    ///
    /// # Errors
    /// Missing or bad credentials; store failures.
    pub async fn authenticate(&self, header: Option<&str>) -> Result<Principal, AuthError> {
        self.auth.authenticate(header).await
    }

    /// The app an app's JWT authenticates, checked as GitHub checks it.
    ///
    /// # Errors
    /// GitHub's message for each way a JWT is refused; store failures.
    pub async fn authenticate_app(&self, jwt: &str) -> Result<AppRecord, AppAuthError> {
        apps::authenticate(self.store.as_ref(), jwt, Timestamp::now()).await
    }

    /// Opens a session for `token`; returns the session's id (its cookie's value), which is
    /// stored only as a digest, or `None` when the token is not valid.
    ///
    /// # Errors
    /// Store failures.
    pub async fn sign_in(&self, token: &str) -> Result<Option<String>, CoreError> {
        // A blank token is nobody's, whatever the configuration.
        if token.trim().is_empty() {
            return Ok(None);
        }
        let token_hash = hash_token(token);
        match self.auth.principal_for(token_hash).await {
            Ok(_) => {}
            Err(AuthError::Store(error)) => return Err(error.into()),
            Err(_) => return Ok(None),
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
        Ok(Some(id))
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
