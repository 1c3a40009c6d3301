//! The tenancy rule, written once: who may touch which hooks.
//!
//! An owner token manages the hooks of its owners' repositories and organizations; the
//! admin manages everything; an app manages its own hook. Every use case about hooks takes
//! a [`ManagedScope`], which only [`authorize`] and [`ManagedScope::of_app`] make, so no
//! front can reach a hook without passing the rule.

use super::CoreError;
use crate::auth::Principal;
use crate::domain::hook::HookScope;
use crate::store::AppRecord;

/// Whether `principal` may manage hooks in `scope` (an app's hook: the admin only).
pub fn may_manage(principal: &Principal, scope: &HookScope) -> bool {
    match scope.account() {
        Some(account) => principal.may_manage(account),
        None => *principal == Principal::Admin,
    }
}

/// A hook collection the caller is known to manage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedScope(HookScope);

impl ManagedScope {
    /// The scope of an app's own hook, for the app that authenticated with its JWT.
    pub fn of_app(app: &AppRecord) -> Self {
        ManagedScope(HookScope::App { app_id: app.id })
    }

    pub fn scope(&self) -> &HookScope {
        &self.0
    }

    pub fn into_scope(self) -> HookScope {
        self.0
    }
}

/// `scope`, once `principal` may manage it.
///
/// # Errors
/// [`CoreError::NotFound`] otherwise: existence never leaks.
pub fn authorize(principal: &Principal, scope: HookScope) -> Result<ManagedScope, CoreError> {
    if may_manage(principal, &scope) {
        Ok(ManagedScope(scope))
    } else {
        Err(CoreError::NotFound)
    }
}

/// Admin actions answer "not found" to everyone else, so that they do not show they exist.
///
/// # Errors
/// [`CoreError::NotFound`] for an owner token.
pub fn require_admin(principal: &Principal) -> Result<(), CoreError> {
    match principal {
        Principal::Admin => Ok(()),
        Principal::Owner(_) => Err(CoreError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::names::{Login, RepoName};
    use crate::domain::timestamp::Timestamp;
    use crate::store::{AppId, TokenRecord, TokenScope};

    #[test]
    fn owners_manage_their_accounts_and_only_the_admin_manages_apps() {
        let owner = Principal::Owner(TokenRecord {
            id: 1,
            owners: vec![Login::parse("Acme").unwrap()],
            scope: TokenScope::Manage,
            created_at: Timestamp(0),
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
        });
        let repo = HookScope::Repository {
            owner: Login::parse("acme").unwrap(),
            repo: RepoName::parse("widgets").unwrap(),
        };
        let other = HookScope::Organization {
            org: Login::parse("other").unwrap(),
        };
        let app = HookScope::App { app_id: AppId(1) };
        assert!(authorize(&owner, repo.clone()).is_ok());
        assert!(authorize(&owner, other.clone()).is_err());
        assert!(authorize(&owner, app.clone()).is_err());
        assert!(require_admin(&owner).is_err());
        for scope in [repo, other, app] {
            assert!(authorize(&Principal::Admin, scope).is_ok());
        }
    }
}
