//! Repository, organization and app hooks: create (and ping), read, update, delete, ping,
//! and GitHub's test push.

use serde_json::json;

use super::access::{ManagedScope, may_manage};
use super::events::{add_objects, own_event};
use super::github::HookObject;
use super::{Core, CoreError};
use crate::auth::Principal;
use crate::domain::event::Publication;
use crate::domain::hook::{HookPatch, HookScope, HookSettings};
use crate::domain::timestamp::Timestamp;
use crate::domain::validate::Problems;
use crate::store::{Hook, HookId, HookPage, HookUpdate, Page};

/// GitHub's zen sayings, one of which every `ping` carries.
const ZEN: &[&str] = &[
    "Design for failure.",
    "Keep it logically awesome.",
    "Speak like a human.",
    "Approachable is better than simple.",
    "Mind your words, they are important.",
    "Non-blocking is better than blocking.",
    "Favor focus over features.",
    "Avoid administrative distraction.",
    "Practicality beats purity.",
    "Anything added dilutes everything else.",
    "It's not fully shipped until it's fast.",
    "Responsive is better than fast.",
    "Encourage flow.",
    "Half measures are as bad as nothing at all.",
];

/// A hook as created or updated, and what its owner should know about it.
#[derive(Debug)]
pub struct SavedHook {
    pub hook: Hook,
    /// E.g. that its deliveries will be blocked; shown with the answer, never stored.
    pub warnings: Vec<String>,
}

impl Core {
    /// One page of the scope's hooks.
    ///
    /// # Errors
    /// Store failures.
    pub async fn list_hooks(
        &self,
        scope: &ManagedScope,
        page: Page,
    ) -> Result<HookPage, CoreError> {
        Ok(self.store.list_hooks(scope.scope(), page).await?)
    }

    /// Every repository and organization hook `principal` manages, ordered by account,
    /// repository and id (the web UI's overview).
    ///
    /// # Errors
    /// Store failures.
    pub async fn hooks_managed_by(&self, principal: &Principal) -> Result<Vec<Hook>, CoreError> {
        let mut hooks = self.store.list_all_hooks().await?;
        hooks.retain(|hook| may_manage(principal, &hook.scope));
        Ok(hooks)
    }

    /// Creates a hook and, when it is active, pings it (URLs in the ping under `base`).
    ///
    /// # Errors
    /// Store failures.
    pub async fn create_hook(
        &self,
        scope: ManagedScope,
        settings: HookSettings,
        base: &str,
    ) -> Result<SavedHook, CoreError> {
        let hook = self.store.create_hook(scope.into_scope(), settings).await?;
        if hook.settings.active {
            self.send_ping(&hook, base).await?;
        }
        Ok(self.saved(hook))
    }

    /// What the owner of `hook` should know about its settings: that the destination guard
    /// will block its deliveries, with the flag that would allow them.
    pub fn hook_warnings(&self, hook: &Hook) -> Vec<String> {
        self.guard
            .warning_for(&hook.settings.config.url)
            .into_iter()
            .collect()
    }

    /// `hook` as just saved, with its warnings, each also logged (the operator is the one
    /// who can act on them).
    fn saved(&self, hook: Hook) -> SavedHook {
        let warnings = self.hook_warnings(&hook);
        for warning in &warnings {
            tracing::warn!(hook_id = hook.id.0, "{warning}");
        }
        SavedHook { hook, warnings }
    }

    /// # Errors
    /// Not found when the scope has no such hook.
    pub async fn hook(&self, scope: &ManagedScope, id: HookId) -> Result<Hook, CoreError> {
        self.store
            .get_hook(scope.scope(), id)
            .await?
            .ok_or(CoreError::NotFound)
    }

    /// Applies `patch` atomically.
    ///
    /// # Errors
    /// Not found when the scope has no such hook.
    pub async fn update_hook(
        &self,
        scope: &ManagedScope,
        id: HookId,
        patch: HookPatch,
    ) -> Result<SavedHook, CoreError> {
        match self.store.update_hook(scope.scope(), id, patch).await? {
            HookUpdate::Updated(hook) => {
                // A re-activated hook's held deliveries, or a released line, are due now.
                self.wake.notify_one();
                Ok(self.saved(*hook))
            }
            HookUpdate::Missing => Err(CoreError::NotFound),
            // What the patch made of the stored settings breaks a rule (a new plain secret
            // for a Standard hook, say): checked in the update's own transaction.
            HookUpdate::Refused(rule) => {
                let mut problems = Problems::new("Hook");
                problems.invalid("config.secret", rule);
                Err(problems.finish(|| ()).unwrap_err().into())
            }
        }
    }

    /// Deletes the hook with its deliveries and attempts.
    ///
    /// # Errors
    /// Not found when the scope has no such hook.
    pub async fn delete_hook(&self, scope: &ManagedScope, id: HookId) -> Result<(), CoreError> {
        if self.store.delete_hook(scope.scope(), id).await? {
            Ok(())
        } else {
            Err(CoreError::NotFound)
        }
    }

    /// Queues a `ping` for the hook, tried once.
    ///
    /// # Errors
    /// Not found when the scope has no such hook.
    pub async fn ping(
        &self,
        scope: &ManagedScope,
        id: HookId,
        base: &str,
    ) -> Result<(), CoreError> {
        let hook = self.hook(scope, id).await?;
        self.send_ping(&hook, base).await
    }

    /// Delivers the repository's latest `push` to the hook again, if it subscribes to
    /// `push` (GitHub's test push); only repository hooks have one.
    ///
    /// # Errors
    /// Not found when the scope has no such repository hook.
    pub async fn test_push(&self, scope: &ManagedScope, id: HookId) -> Result<(), CoreError> {
        let hook = self.hook(scope, id).await?;
        if !matches!(hook.scope, HookScope::Repository { .. }) {
            return Err(CoreError::NotFound);
        }
        if self
            .store
            .queue_test_push(scope.scope(), hook.id, Timestamp::now())
            .await?
        {
            self.queued();
        }
        Ok(())
    }

    /// Queues a `ping` event for `hook` (tried once), with the repository, organization and
    /// sender last published for its scope.
    pub(super) async fn send_ping(&self, hook: &Hook, base: &str) -> Result<(), CoreError> {
        let objects = self.store.latest_objects(&hook.scope).await?;
        let mut hook_object =
            serde_json::to_value(HookObject::of(hook, base)).expect("a hook object serializes");
        if let HookScope::App { app_id } = hook.scope {
            hook_object["app_id"] = json!(app_id);
        }
        let zen = ZEN[usize::from(uuid::Uuid::new_v4().as_bytes()[0]) % ZEN.len()];
        let mut payload = serde_json::Map::new();
        payload.insert("zen".to_owned(), json!(zen));
        payload.insert("hook_id".to_owned(), json!(hook.id));
        payload.insert("hook".to_owned(), hook_object);
        add_objects(&mut payload, &hook.scope, &objects);
        let (repository, organization) = match &hook.scope {
            HookScope::Repository { owner, repo } => (Some((owner.clone(), repo.clone())), None),
            HookScope::Organization { org } => (None, Some(org.clone())),
            HookScope::App { .. } => (None, None),
        };
        let publication = Publication {
            event: "ping".to_owned(),
            repository,
            organization,
            payload,
        };
        self.store
            .publish_to_hook(own_event(&publication), hook.id, Timestamp::now())
            .await?;
        self.queued();
        Ok(())
    }
}
