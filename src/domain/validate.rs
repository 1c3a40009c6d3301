//! Field-by-field reading of JSON request bodies that collects *every* problem.
//!
//! GitHub answers a bad request with one `errors[]` entry per bad field, so reading stops at
//! nothing: each accessor records what is wrong and returns `None`, and [`Problems::finish`]
//! decides at the end.

use serde::Serialize;
use serde_json::{Map, Value};

/// GitHub's `errors[].code` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    Missing,
    MissingField,
    Invalid,
    AlreadyExists,
    Unprocessable,
    Custom,
}

/// One entry of a 422 body's `errors` array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    #[schema(value_type = String)]
    pub resource: &'static str,
    pub field: String,
    pub code: ErrorCode,
    pub message: String,
}

/// A non-empty list of field problems; becomes a 422 `Validation Failed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    /// Every problem on one line, for fronts without a field to show it beside:
    /// `config.url: …; events[0]: …`.
    pub fn summary(&self) -> String {
        let problems: Vec<String> = self
            .0
            .iter()
            .map(|error| format!("{}: {}", error.field, error.message))
            .collect();
        problems.join("; ")
    }
}

/// Collects field problems for one resource while a body is being read.
#[derive(Debug)]
pub struct Problems {
    resource: &'static str,
    errors: Vec<FieldError>,
}

/// The JSON type name used in messages, so that a client sees what it sent.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl Problems {
    pub fn new(resource: &'static str) -> Self {
        Self {
            resource,
            errors: Vec::new(),
        }
    }

    pub fn push(&mut self, field: &str, code: ErrorCode, message: impl Into<String>) {
        self.errors.push(FieldError {
            resource: self.resource,
            field: field.to_owned(),
            code,
            message: message.into(),
        });
    }

    pub fn invalid(&mut self, field: &str, message: impl Into<String>) {
        self.push(field, ErrorCode::Invalid, message);
    }

    pub fn missing(&mut self, field: &str) {
        self.push(
            field,
            ErrorCode::MissingField,
            format!("{field} is missing"),
        );
    }

    fn wrong_type(&mut self, field: &str, expected: &str, got: &Value) {
        self.invalid(
            field,
            format!("{field} must be {expected}, not {}", type_name(got)),
        );
    }

    /// A present, non-null value; `null` counts as absent, as GitHub treats it.
    fn present<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
        obj.get(key).filter(|value| !value.is_null())
    }

    pub fn string<'v>(
        &mut self,
        obj: &'v Map<String, Value>,
        key: &str,
        field: &str,
    ) -> Option<&'v str> {
        match Self::present(obj, key)? {
            Value::String(text) => Some(text),
            other => {
                self.wrong_type(field, "a string", other);
                None
            }
        }
    }

    /// A string that must be given: absent or `null` is reported as missing.
    pub fn required_string<'v>(
        &mut self,
        obj: &'v Map<String, Value>,
        key: &str,
        field: &str,
    ) -> Option<&'v str> {
        if Self::present(obj, key).is_none() {
            self.missing(field);
            return None;
        }
        self.string(obj, key, field)
    }

    pub fn boolean(&mut self, obj: &Map<String, Value>, key: &str, field: &str) -> Option<bool> {
        match Self::present(obj, key)? {
            Value::Bool(flag) => Some(*flag),
            other => {
                self.wrong_type(field, "a boolean", other);
                None
            }
        }
    }

    /// A whole number within `range` (`2.0` is one too, as JSON Schema's `integer` says).
    pub fn whole_number(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        field: &str,
        range: std::ops::RangeInclusive<u64>,
    ) -> Option<u64> {
        let value = Self::present(obj, key)?;
        let whole = value.as_u64().or_else(|| {
            value
                .as_f64()
                .filter(|number| number.fract() == 0.0 && *number >= 0.0 && *number < 2e19)
                .map(|number| number as u64)
        });
        match whole {
            Some(number) if range.contains(&number) => Some(number),
            _ => {
                self.invalid(
                    field,
                    format!(
                        "{field} must be a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
        }
    }

    pub fn object<'v>(
        &mut self,
        obj: &'v Map<String, Value>,
        key: &str,
        field: &str,
    ) -> Option<&'v Map<String, Value>> {
        match Self::present(obj, key)? {
            Value::Object(inner) => Some(inner),
            other => {
                self.wrong_type(field, "an object", other);
                None
            }
        }
    }

    /// An array of strings; every non-string item is reported with its index.
    pub fn string_list<'v>(
        &mut self,
        obj: &'v Map<String, Value>,
        key: &str,
        field: &str,
    ) -> Option<Vec<&'v str>> {
        let items = match Self::present(obj, key)? {
            Value::Array(items) => items,
            other => {
                self.wrong_type(field, "an array of strings", other);
                return None;
            }
        };
        let before = self.errors.len();
        let strings: Vec<&str> = items
            .iter()
            .enumerate()
            .filter_map(|(index, item)| match item {
                Value::String(text) => Some(text.as_str()),
                other => {
                    self.wrong_type(&format!("{field}[{index}]"), "a string", other);
                    None
                }
            })
            .collect();
        (self.errors.len() == before).then_some(strings)
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// `Ok(value)` when nothing was reported, else every problem at once.
    pub fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, ValidationErrors> {
        if self.errors.is_empty() {
            Ok(value())
        } else {
            Err(ValidationErrors(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_wrong_field_is_reported() {
        let body = json!({"active": "yes", "events": ["push", 3, null], "config": 1});
        let obj = body.as_object().unwrap();
        let mut problems = Problems::new("Hook");
        assert_eq!(problems.boolean(obj, "active", "active"), None);
        assert_eq!(problems.string_list(obj, "events", "events"), None);
        assert_eq!(problems.object(obj, "config", "config"), None);
        let errors = problems.finish(|| ()).unwrap_err().0;
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["active", "events[1]", "events[2]", "config"]);
        assert!(errors.iter().all(|e| e.code == ErrorCode::Invalid));
    }

    #[test]
    fn null_counts_as_absent() {
        let body = json!({"name": null});
        let mut problems = Problems::new("Hook");
        assert_eq!(
            problems.string(body.as_object().unwrap(), "name", "name"),
            None
        );
        assert!(problems.is_empty());
    }
}
