//! The use cases: every action a user can take, whatever the front (REST API, web UI, CLI).
//!
//! Fronts parse their input into typed values, call one method of [`Core`], and render what
//! it returns; no front holds a rule of its own. `Core` owns the tenancy rule
//! ([`access`]), the store, the worker's wake-up and the publish counter.

pub mod access;
pub mod admin;
pub mod deliveries;
pub mod events;
pub mod github;
pub mod hooks;
pub mod sessions;

use std::sync::Arc;

use tokio::sync::Notify;

use crate::auth::{Authenticator, FailureLimiter};
use crate::domain::guard::Guard;
use crate::domain::hook::HookRules;
use crate::domain::timestamp::Timestamp;
use crate::domain::validate::ValidationErrors;
use crate::metrics::Metrics;
use crate::store::{QueueStats, Store, StoreError, TokenHash};

/// What a use case can fail with; each front maps it to its own response.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The thing does not exist, or the caller may not know that it exists.
    #[error("Not Found")]
    NotFound,
    /// Field-level problems with the input, every one of them.
    #[error("Validation Failed")]
    Validation(ValidationErrors),
    /// The input is well-formed but collides with what exists (a name taken, an
    /// idempotency key used with another body); the fields say which.
    #[error("Conflict")]
    Conflict(ValidationErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else that is our fault (a key pair that could not be generated, …).
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<ValidationErrors> for CoreError {
    fn from(errors: ValidationErrors) -> Self {
        CoreError::Validation(errors)
    }
}

/// The use cases over one store; cheap to clone.
#[derive(Clone)]
pub struct Core {
    store: Arc<dyn Store>,
    auth: Arc<Authenticator>,
    /// Poked after work is queued, so the delivery worker starts at once.
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    /// Server-wide rules for hook fields (reserved header names), for the fronts' parsers.
    rules: Arc<HookRules>,
    /// Failed authentications per client address.
    failures: Arc<FailureLimiter>,
    /// The delivery worker's destination guard, to warn about hooks it will block.
    guard: Arc<Guard>,
}

impl Core {
    /// `admin` is the digest of the admin token (`None`: no token is the admin's, as for
    /// the command line, which acts as the admin itself).
    pub fn new(
        store: Arc<dyn Store>,
        admin: Option<TokenHash>,
        wake: Arc<Notify>,
        metrics: Arc<Metrics>,
        rules: Arc<HookRules>,
    ) -> Self {
        Core {
            auth: Arc::new(Authenticator::new(admin, store.clone())),
            store,
            wake,
            metrics,
            rules,
            // Unlimited until a front says otherwise (`serve`'s flag).
            failures: Arc::new(FailureLimiter::new(0)),
            // The default server's: public addresses only.
            guard: Arc::new(Guard::new(false, Vec::new())),
        }
    }

    /// Warns about hooks that `guard` (the delivery worker's) will block.
    #[must_use]
    pub fn with_destination_guard(mut self, guard: Guard) -> Self {
        self.guard = Arc::new(guard);
        self
    }

    /// Refuses a client address's failed authentications beyond `per_minute` (`0`: never).
    #[must_use]
    pub fn limit_auth_failures(mut self, per_minute: u32) -> Self {
        self.failures = Arc::new(FailureLimiter::new(per_minute));
        self
    }

    /// The rules a front reads hook settings with.
    pub fn hook_rules(&self) -> &HookRules {
        &self.rules
    }

    /// Succeeds while the database answers (`/readyz`).
    ///
    /// # Errors
    /// When it does not.
    pub async fn ready(&self) -> Result<(), CoreError> {
        Ok(self.store.ping().await?)
    }

    /// The queue at this moment, for `/metrics`.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn queue_stats(&self) -> Result<QueueStats, CoreError> {
        Ok(self.store.queue_stats(Timestamp::now()).await?)
    }

    /// Tells the worker that work was queued.
    fn queued(&self) {
        self.wake.notify_one();
    }
}
