//! Administration: owner tokens and GitHub Apps (the admin's, over the API, the UI or the
//! command line).

use super::access::require_admin;
use super::{Core, CoreError};
use crate::apps;
use crate::auth::{Principal, generate_token, hash_token};
use crate::domain::hook::HookSettings;
use crate::domain::ids::AppId;
use crate::domain::names::Login;
use crate::domain::secret::Secret;
use crate::domain::timestamp::Timestamp;
use crate::domain::validate::{ErrorCode, Problems};
use crate::store::{AppRecord, Hook, Installation, NewApp, NewToken, TokenRecord, TokenScope};

/// What a new owner token may do, for whom, and until when.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub owners: Vec<Login>,
    pub scope: TokenScope,
    pub expires_at: Option<Timestamp>,
}

/// A registered app, its webhook, and the private key (which is not kept anywhere).
pub struct Registered {
    pub app: AppRecord,
    pub hook: Hook,
    pub private_key_pem: Secret,
}

impl Core {
    /// Creates an owner token; the token itself is returned here and never again.
    ///
    /// # Errors
    /// Not found for anyone but the admin; a validation error for an expiry that is not in
    /// the future; store failures.
    pub async fn create_token(
        &self,
        principal: &Principal,
        request: TokenRequest,
    ) -> Result<(TokenRecord, Secret), CoreError> {
        require_admin(principal)?;
        let now = Timestamp::now();
        if let Some(expiry) = request.expires_at
            && expiry <= now
        {
            let mut problems = Problems::new("Token");
            problems.invalid("expires_at", "expires_at must be in the future");
            problems.finish(|| ())?;
        }
        let token = Secret::new(generate_token());
        let record = self
            .store
            .create_token(
                NewToken {
                    hash: hash_token(token.expose()),
                    owners: request.owners,
                    scope: request.scope,
                    expires_at: request.expires_at,
                },
                now,
            )
            .await?;
        Ok((record, token))
    }

    /// Every owner token's record (never a token), oldest first, revoked ones included.
    ///
    /// # Errors
    /// Not found for anyone but the admin; store failures.
    pub async fn tokens(&self, principal: &Principal) -> Result<Vec<TokenRecord>, CoreError> {
        require_admin(principal)?;
        Ok(self.store.list_tokens().await?)
    }

    /// Revokes owner token `id`: every node refuses it within
    /// [`RECHECK_AFTER`](crate::auth::RECHECK_AFTER), and the sessions it opened end.
    /// Revoking a revoked token changes nothing.
    ///
    /// # Errors
    /// Not found for anyone but the admin, or when there is no such token; store failures.
    pub async fn revoke_token(
        &self,
        principal: &Principal,
        id: i64,
    ) -> Result<TokenRecord, CoreError> {
        require_admin(principal)?;
        self.store
            .revoke_token(id, Timestamp::now())
            .await?
            .ok_or(CoreError::NotFound)
    }

    /// Every registered app, oldest first.
    ///
    /// # Errors
    /// Not found for anyone but the admin; store failures.
    pub async fn apps(&self, principal: &Principal) -> Result<Vec<AppRecord>, CoreError> {
        require_admin(principal)?;
        Ok(self.store.list_apps().await?)
    }

    /// Registers an app whose webhook has `hook` (and the app's events), generating its key
    /// pair; the hook is pinged when active and `base` (`<origin>/api/v3`) is known.
    ///
    /// # Errors
    /// Not found for anyone but the admin; a validation error when the name is taken.
    pub async fn register_app(
        &self,
        principal: &Principal,
        name: &str,
        hook: HookSettings,
        base: Option<&str>,
    ) -> Result<Registered, CoreError> {
        require_admin(principal)?;
        let (private_key_pem, public_key_pem) = tokio::task::spawn_blocking(apps::generate_key)
            .await
            .map_err(anyhow::Error::from)??;
        let mut client_id = [0u8; 8];
        getrandom::fill(&mut client_id).expect("the OS random source works");
        let created = self
            .store
            .create_app(NewApp {
                name: name.to_owned(),
                slug: apps::slug(name),
                client_id: format!("Iv1.{}", hex::encode(client_id)),
                public_key_pem,
                events: hook.events.clone(),
                hook,
            })
            .await?;
        let Some((app, hook)) = created else {
            let mut problems = Problems::new("Integration");
            problems.push(
                "name",
                ErrorCode::AlreadyExists,
                format!("an app named {name:?} exists already"),
            );
            return Err(CoreError::Conflict(problems.finish(|| ()).unwrap_err()));
        };
        if let Some(base) = base
            && hook.settings.active
        {
            self.send_ping(&hook, base).await?;
        }
        Ok(Registered {
            app,
            hook,
            private_key_pem: Secret::new(private_key_pem),
        })
    }

    /// Installs the app on `account` (installing again returns the installation).
    ///
    /// # Errors
    /// Not found for anyone but the admin, or when there is no such app.
    pub async fn install_app(
        &self,
        principal: &Principal,
        app_id: AppId,
        account: Login,
    ) -> Result<Installation, CoreError> {
        require_admin(principal)?;
        self.store
            .install_app(app_id, account)
            .await?
            .ok_or(CoreError::NotFound)
    }
}
