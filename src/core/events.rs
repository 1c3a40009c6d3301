//! Publishing: an event from a platform (`POST /events`, `hookpost publish`) or one that
//! Hookpost writes itself (`repository_dispatch`, `ping`), stored with its fan-out in one
//! commit before anyone is told it was accepted.

use serde_json::{Map, Value, json};

use super::access::ManagedScope;
use super::{Core, CoreError};
use crate::auth::Principal;
use crate::domain::event::Publication;
use crate::domain::hook::HookScope;
use crate::domain::timestamp::Timestamp;
use crate::domain::validate::{ErrorCode, Problems};
use crate::store::{IdempotencyKey, LatestObjects, NewEvent, PublishOutcome, ScopeObjects};

/// An accepted event: its `X-GitHub-Delivery` guid and how many deliveries it fanned out to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub guid: String,
    pub deliveries: u64,
}

/// A publisher's `Idempotency-Key` and the SHA-256 of the request it came with.
#[derive(Debug, Clone)]
pub struct KeyedRequest {
    pub key: String,
    pub body_hash: [u8; 32],
}

/// The event to store for a valid publication; `raw` is its payload's original text.
fn new_event(publication: &Publication, raw: Option<Vec<u8>>) -> NewEvent {
    NewEvent {
        guid: uuid::Uuid::now_v7().to_string(),
        name: publication.event.clone(),
        action: publication.action(),
        repository: publication.repository.clone(),
        organization: publication.organization.clone(),
        target_repository_id: publication.payload_id("repository"),
        target_organization_id: publication.payload_id("organization"),
        payload: raw.unwrap_or_else(|| {
            serde_json::to_vec(&publication.payload).expect("a JSON object serializes")
        }),
        latest: LatestObjects {
            repository: publication.payload_object("repository"),
            organization: publication.payload_object("organization"),
            sender: publication.payload_object("sender"),
        },
    }
}

/// An event Hookpost writes itself (`ping`, `repository_dispatch`): its objects came from
/// what is remembered, so they are not remembered again.
pub(super) fn own_event(publication: &Publication) -> NewEvent {
    NewEvent {
        latest: LatestObjects::default(),
        ..new_event(publication, None)
    }
}

/// Adds the remembered `repository`, `organization` and `sender` objects to a payload
/// Hookpost writes itself; a repository scope always gets a `repository`, an organization
/// scope an `organization`, as on GitHub: a minimal one (Hookpost's id, the names) until
/// one was published.
pub(super) fn add_objects(
    payload: &mut Map<String, Value>,
    scope: &HookScope,
    objects: &ScopeObjects,
) {
    let latest = &objects.latest;
    for (key, text) in [
        ("repository", &latest.repository),
        ("organization", &latest.organization),
        ("sender", &latest.sender),
    ] {
        if let Some(object) = text
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
        {
            payload.insert(key.to_owned(), object);
        }
    }
    match scope {
        HookScope::Repository { owner, repo } if !payload.contains_key("repository") => {
            payload.insert(
                "repository".to_owned(),
                json!({
                    "id": objects.repository_id,
                    "name": repo.as_str(),
                    "full_name": format!("{owner}/{repo}"),
                    "owner": {"login": owner.as_str(), "id": objects.account_id},
                }),
            );
        }
        HookScope::Organization { org } if !payload.contains_key("organization") => {
            payload.insert(
                "organization".to_owned(),
                json!({"id": objects.account_id, "login": org.as_str()}),
            );
        }
        _ => {}
    }
}

impl Core {
    /// Publishes a platform's event to every subscribed hook. `raw` is the payload exactly
    /// as the publisher wrote it (receivers get its very bytes); a repeated `key` with the
    /// same request answers the first reply again, with another request is refused.
    ///
    /// # Errors
    /// Not found when the caller may not publish for the event's accounts; a validation
    /// error when the key was used with another request; store failures.
    pub async fn publish(
        &self,
        principal: &Principal,
        publication: Publication,
        raw: Option<Vec<u8>>,
        key: Option<KeyedRequest>,
    ) -> Result<Published, CoreError> {
        let accounts = publication
            .repository
            .iter()
            .map(|(owner, _)| owner)
            .chain(publication.organization.iter());
        for account in accounts {
            if !principal.may_publish(account) {
                return Err(CoreError::NotFound);
            }
        }
        // A key is the caller's own: keys of different tokens never meet.
        let key = key.map(|key| IdempotencyKey {
            token_id: match principal {
                Principal::Admin => 0,
                Principal::Owner(record) => record.id,
            },
            key: key.key,
            body_hash: key.body_hash,
        });
        let outcome = self
            .store
            .publish(new_event(&publication, raw), key, Timestamp::now())
            .await?;
        match outcome {
            PublishOutcome::Published { guid, deliveries } => {
                self.metrics.events_published.inc();
                if deliveries > 0 {
                    self.queued();
                }
                Ok(Published { guid, deliveries })
            }
            PublishOutcome::Replayed { guid, deliveries } => Ok(Published { guid, deliveries }),
            PublishOutcome::KeyReused => {
                let mut problems = Problems::new("Event");
                problems.push(
                    "Idempotency-Key",
                    ErrorCode::AlreadyExists,
                    "this Idempotency-Key was used with a different request body",
                );
                Err(CoreError::Conflict(problems.finish(|| ()).unwrap_err()))
            }
        }
    }

    /// GitHub's repository dispatch: publishes `repository_dispatch` with `event_type` as
    /// its action and the repository's remembered objects.
    ///
    /// # Errors
    /// Not found unless `scope` is a repository; store failures.
    pub async fn dispatch(
        &self,
        scope: &ManagedScope,
        event_type: &str,
        client_payload: Map<String, Value>,
    ) -> Result<(), CoreError> {
        let HookScope::Repository { owner, repo } = scope.scope() else {
            return Err(CoreError::NotFound);
        };
        let objects = self.store.latest_objects(scope.scope()).await?;
        let mut payload = Map::new();
        payload.insert("action".to_owned(), json!(event_type));
        payload.insert("client_payload".to_owned(), Value::Object(client_payload));
        add_objects(&mut payload, scope.scope(), &objects);
        let publication = Publication {
            event: "repository_dispatch".to_owned(),
            repository: Some((owner.clone(), repo.clone())),
            organization: Some(owner.clone()),
            payload,
        };
        let outcome = self
            .store
            .publish(own_event(&publication), None, Timestamp::now())
            .await?;
        self.metrics.events_published.inc();
        if matches!(outcome, PublishOutcome::Published { deliveries, .. } if deliveries > 0) {
            self.queued();
        }
        Ok(())
    }
}
