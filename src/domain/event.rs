//! What a publisher sends: `POST /api/v3/events`, read field by field.

use serde_json::{Map, Value};

use super::hook::is_event_name;
use super::names::{Login, RepoName};
use super::validate::{ErrorCode, Problems, ValidationErrors};

/// A valid publish request.
#[derive(Debug, Clone, PartialEq)]
pub struct Publication {
    pub event: String,
    pub repository: Option<(Login, RepoName)>,
    /// The organization whose hooks receive the event: as given, else the repository's owner.
    pub organization: Option<Login>,
    pub payload: Map<String, Value>,
}

impl Publication {
    /// # Errors
    /// Every invalid field, at once.
    pub fn from_body(mut body: Map<String, Value>) -> Result<Self, ValidationErrors> {
        let mut problems = Problems::new("Event");
        // Taken out, not copied: a payload can be megabytes.
        let payload = body.remove("payload");
        let body = &body;
        let event = problems
            .required_string(body, "event", "event")
            .and_then(|name| {
                if is_event_name(name) {
                    return Some(name.to_owned());
                }
                problems.invalid(
                    "event",
                    format!("{name:?} is not an event name ([a-z_]{{1,64}})"),
                );
                None
            });
        let repository = problems
            .string(body, "repository", "repository")
            .and_then(|full_name| {
                let parsed = full_name
                    .split_once('/')
                    .and_then(|(owner, name)| Some((Login::parse(owner)?, RepoName::parse(name)?)));
                if parsed.is_none() {
                    problems.invalid("repository", format!("{full_name:?} is not owner/name"));
                }
                parsed
            });
        let organization = problems
            .string(body, "organization", "organization")
            .and_then(|login| {
                let parsed = Login::parse(login);
                if parsed.is_none() {
                    problems.invalid(
                        "organization",
                        format!("{login:?} is not an organization name"),
                    );
                }
                parsed
            });
        let neither = ["repository", "organization"]
            .iter()
            .all(|key| body.get(*key).is_none_or(Value::is_null));
        if neither {
            problems.push(
                "repository",
                ErrorCode::MissingField,
                "repository or organization is required",
            );
        }
        let payload = match payload {
            Some(Value::Object(payload)) => Some(payload),
            None | Some(Value::Null) => {
                problems.missing("payload");
                None
            }
            Some(_) => {
                problems.invalid("payload", "payload must be a JSON object");
                None
            }
        };
        problems.finish(|| {
            let organization =
                organization.or_else(|| repository.as_ref().map(|(owner, _)| owner.clone()));
            Publication {
                event: event.expect("checked"),
                repository,
                organization,
                payload: payload.expect("checked"),
            }
        })
    }

    /// `payload.action`, which the delivery log shows.
    pub fn action(&self) -> Option<String> {
        self.payload
            .get("action")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    /// `payload.<object>.id`, the id receivers know the repository or organization by.
    pub fn payload_id(&self, object: &str) -> Option<i64> {
        self.payload.get(object)?.get("id")?.as_i64()
    }

    /// `payload.<object>` as JSON text, to remember as the latest one.
    pub fn payload_object(&self, object: &str) -> Option<String> {
        self.payload
            .get(object)
            .filter(|value| value.is_object())
            .map(Value::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(body: Value) -> Result<Publication, Vec<String>> {
        Publication::from_body(body.as_object().unwrap().clone())
            .map_err(|errors| errors.0.into_iter().map(|error| error.field).collect())
    }

    #[test]
    fn the_organization_defaults_to_the_repository_owner() {
        let publication = read(json!({"event": "issues", "repository": "acme/widgets",
                                      "payload": {"action": "opened", "repository": {"id": 5}}}))
        .unwrap();
        assert_eq!(publication.organization.as_ref().unwrap().as_str(), "acme");
        assert_eq!(publication.action().as_deref(), Some("opened"));
        assert_eq!(publication.payload_id("repository"), Some(5));
    }

    #[test]
    fn every_bad_field_is_named() {
        assert_eq!(
            read(json!({})).unwrap_err(),
            ["event", "repository", "payload"]
        );
        assert_eq!(
            read(json!({"event": "Bad", "repository": "nope", "payload": []})).unwrap_err(),
            ["event", "repository", "payload"]
        );
        assert_eq!(
            read(json!({"event": 1, "organization": 2, "payload": "x"})).unwrap_err(),
            ["event", "organization", "payload"]
        );
    }
}
