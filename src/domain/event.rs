//! What a publisher sends (`POST /api/v3/events`, read by `api::bodies`), and what the
//! store keeps of it.

use serde_json::{Map, Value};

use super::names::{Login, RepoName};

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
