//! A hook's delivery log: pages of attempts, one attempt as the receiver got it,
//! redelivery, and bulk recovery of failed deliveries.

use bytes::Bytes;

use super::access::ManagedScope;
use super::{Core, CoreError};
use crate::domain::ids::AttemptId;
use crate::domain::timestamp::Timestamp;
use crate::domain::validate::{ErrorCode, Problems};
use crate::store::{AttemptDetail, AttemptQuery, AttemptSummary, HookId, Recovery, RecoveryStart};
use crate::wire::payload_for;

/// One page of a hook's attempts, newest first.
#[derive(Debug, Clone, Default)]
pub struct AttemptPage {
    pub attempts: Vec<AttemptSummary>,
    /// The id to continue below when there are older attempts (for a newest-first query;
    /// an oldest-first one does not look below its page).
    pub next_before: Option<AttemptId>,
}

/// A count read no further than a cap: exact when `more` is false.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capped {
    pub count: u64,
    /// There are more than `count`.
    pub more: bool,
}

/// One attempt in full, with the payload exactly as its receiver got it (for an app's hook,
/// with the `installation` object added).
#[derive(Debug, Clone)]
pub struct AttemptView {
    pub detail: AttemptDetail,
    /// Shares the stored payload's memory unless an `installation` had to be added.
    pub payload: Bytes,
}

impl Core {
    /// The hook's attempts that `query` selects.
    ///
    /// # Errors
    /// Not found when the scope has no such hook.
    pub async fn attempts(
        &self,
        scope: &ManagedScope,
        hook_id: HookId,
        query: AttemptQuery,
    ) -> Result<AttemptPage, CoreError> {
        // One more than asked tells whether a next page exists.
        let limit = query.limit;
        let oldest_first = query.oldest_first;
        let probe = AttemptQuery {
            limit: limit.saturating_add(1),
            ..query
        };
        let mut attempts = self
            .store
            .list_attempts(scope.scope(), hook_id, probe)
            .await?
            .ok_or(CoreError::NotFound)?;
        let mut next_before = None;
        if attempts.len() > limit as usize {
            attempts.truncate(limit as usize);
            if !oldest_first {
                next_before = attempts.last().map(|attempt| attempt.id);
            }
        }
        if oldest_first {
            attempts.reverse();
        }
        Ok(AttemptPage {
            attempts,
            next_before,
        })
    }

    /// How many of the hook's attempts `query` selects, counting no further than `cap`
    /// (where an exact count would read the whole log).
    ///
    /// # Errors
    /// Not found when the scope has no such hook.
    pub async fn count_attempts(
        &self,
        scope: &ManagedScope,
        hook_id: HookId,
        query: AttemptQuery,
        cap: u32,
    ) -> Result<Capped, CoreError> {
        let count = self
            .store
            .count_attempts(scope.scope(), hook_id, query, cap.saturating_add(1))
            .await?
            .ok_or(CoreError::NotFound)?;
        Ok(Capped {
            count: count.min(u64::from(cap)),
            more: count > u64::from(cap),
        })
    }

    /// # Errors
    /// Not found when the hook has no such attempt.
    pub async fn attempt(
        &self,
        scope: &ManagedScope,
        hook_id: HookId,
        attempt_id: AttemptId,
    ) -> Result<AttemptView, CoreError> {
        let detail = self
            .store
            .get_attempt(scope.scope(), hook_id, attempt_id)
            .await?
            .ok_or(CoreError::NotFound)?;
        let payload = payload_for(&detail.event_payload, detail.summary.installation_id);
        Ok(AttemptView { detail, payload })
    }

    /// Queues a new attempt, tried once and at once, of the delivery `attempt_id` belongs to.
    ///
    /// # Errors
    /// Not found when the hook has no such attempt.
    pub async fn redeliver(
        &self,
        scope: &ManagedScope,
        hook_id: HookId,
        attempt_id: AttemptId,
    ) -> Result<(), CoreError> {
        if !self
            .store
            .redeliver(scope.scope(), hook_id, attempt_id, Timestamp::now())
            .await?
        {
            return Err(CoreError::NotFound);
        }
        self.queued();
        Ok(())
    }

    /// Starts a recovery: one more attempt of each of the hook's events published from
    /// `since` to `until` whose latest attempt failed and that has nothing pending.
    ///
    /// # Errors
    /// Not found when the scope has no such hook; conflict while another recovery of the
    /// hook runs. A window that holds nothing (`until` before `since`) recovers nothing.
    pub async fn recover(
        &self,
        scope: &ManagedScope,
        hook_id: HookId,
        since: Timestamp,
        until: Option<Timestamp>,
    ) -> Result<Recovery, CoreError> {
        match self
            .store
            .start_recovery(scope.scope(), hook_id, since, until, Timestamp::now())
            .await?
        {
            RecoveryStart::Missing => Err(CoreError::NotFound),
            RecoveryStart::Running(id) => {
                let mut problems = Problems::new("Recovery");
                problems.push(
                    "hook_id",
                    ErrorCode::AlreadyExists,
                    format!("recovery {id} of this hook is still running; one at a time"),
                );
                Err(CoreError::Conflict(problems.finish(|| ()).unwrap_err()))
            }
            RecoveryStart::Started(recovery) => {
                if recovery.queued > 0 {
                    self.queued();
                }
                Ok(recovery)
            }
        }
    }

    /// # Errors
    /// Not found when the hook has no such recovery.
    pub async fn recovery(
        &self,
        scope: &ManagedScope,
        hook_id: HookId,
        recovery_id: i64,
    ) -> Result<Recovery, CoreError> {
        self.store
            .get_recovery(scope.scope(), hook_id, recovery_id)
            .await?
            .ok_or(CoreError::NotFound)
    }
}
