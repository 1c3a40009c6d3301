//! Request headers stored once per distinct set: an attempt's headers are split into a
//! template (names and the values every attempt of its hook and event type shares) and
//! the few values of its own (signatures, timestamps). The template is stored once in
//! `header_sets` and referenced; the attempt keeps only its values, and the event's guid
//! is not stored again at all. Joining the two gives back exactly the headers that were
//! sent: a value is taken out of the template only when putting it back is exact, so a
//! header named unexpectedly costs room, never correctness.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// How stale a template's `used_at` may be before an attempt using it touches it again:
/// at most one write per template an hour, however many attempts use it.
pub(crate) const TOUCH_EVERY_MS: i64 = 60 * 60 * 1000;

/// Deletes the templates no stored attempt can use (`{before}`: retention's cutoff): every
/// attempt is made after its event is published, so one whose template's `used_at` is
/// older than every stored event (less the touch interval and an hour for clocks of nodes
/// that differ) is gone. An attempt recorded meanwhile touches a template that old first.
pub(crate) const PRUNE_UNUSED: &str = "DELETE FROM header_sets WHERE used_at < \
     (SELECT coalesce(min(created_at), {before}) FROM events) - {margin} AND used_at < {before}";

/// [`PRUNE_UNUSED`] for a backend's placeholder of the cutoff.
pub(crate) fn prune_unused(before: &str) -> String {
    PRUNE_UNUSED
        .replace("{before}", before)
        .replace("{margin}", &(TOUCH_EVERY_MS + 60 * 60 * 1000).to_string())
}

/// An attempt's request headers, split for storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SplitHeaders {
    /// JSON array of `[name, slot]`; a slot is a constant string, `null` for the event's
    /// guid, `n` for the attempt's `n`th value, or `[prefix, n]` for a prefix before it.
    pub(crate) template: String,
    /// SHA-256 of `template`: the key it is stored once under.
    pub(crate) digest: [u8; 32],
    /// JSON array of the attempt's own values, each stored once however many headers
    /// repeat it (the SHA-256 signature is sent in `X-Hub-Signature-256` and the aliases').
    pub(crate) values: String,
}

/// Headers whose value changes with every attempt or delivery: the guid, signatures and
/// timestamps (GitHub's, the aliases' `X-Gogs-Signature`…, Standard Webhooks').
/// Compared without allocating: this runs for every header of every attempt.
fn varies(name: &str) -> bool {
    let ends_with = |suffix: &str| {
        name.len() >= suffix.len()
            && name.as_bytes()[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
    };
    ends_with("-delivery")
        || ends_with("-signature")
        || ends_with("-signature-256")
        || name.eq_ignore_ascii_case("webhook-id")
        || name.eq_ignore_ascii_case("webhook-timestamp")
}

/// `sha256=` of `sha256=<hex>`: a short word and `=` before the varying part.
fn prefix(value: &str) -> &str {
    match value.find('=') {
        Some(at) if at <= 8 && value[..at].bytes().all(|b| b.is_ascii_alphanumeric()) => {
            &value[..=at]
        }
        _ => "",
    }
}

/// Splits `headers` of an attempt of the event whose guid is `guid`.
pub(crate) fn split(headers: &[(String, String)], guid: &str) -> SplitHeaders {
    let mut values: Vec<&str> = Vec::new();
    let mut index = |value| match values.iter().position(|seen| *seen == value) {
        Some(at) => at,
        None => {
            values.push(value);
            values.len() - 1
        }
    };
    let slots: Vec<Value> = headers
        .iter()
        .map(|(name, value)| {
            let slot = if !varies(name) {
                Value::from(value.as_str())
            } else if value == guid {
                Value::Null
            } else {
                let prefix = prefix(value);
                let at = index(&value[prefix.len()..]);
                if prefix.is_empty() {
                    Value::from(at)
                } else {
                    Value::from(vec![Value::from(prefix), Value::from(at)])
                }
            };
            Value::from(vec![Value::from(name.as_str()), slot])
        })
        .collect();
    let template = Value::from(slots).to_string();
    let digest = Sha256::digest(template.as_bytes()).into();
    SplitHeaders {
        template,
        digest,
        values: serde_json::to_string(&values).expect("strings serialize"),
    }
}

/// The headers [`split`] took apart, from the stored template and values.
pub(crate) fn join(template: &str, values: &str, guid: &str) -> Option<Vec<(String, String)>> {
    let slots: Vec<(String, Value)> = serde_json::from_str(template).ok()?;
    let values: Vec<String> = serde_json::from_str(values).ok()?;
    let value = |at: &Value| values.get(usize::try_from(at.as_u64()?).ok()?);
    slots
        .into_iter()
        .map(|(name, slot)| {
            let value = match &slot {
                Value::String(constant) => constant.clone(),
                Value::Null => guid.to_owned(),
                Value::Number(_) => value(&slot)?.clone(),
                Value::Array(parts) => match parts.as_slice() {
                    [Value::String(prefix), at] => format!("{prefix}{}", value(at)?),
                    _ => return None,
                },
                _ => return None,
            };
            Some((name, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUID: &str = "3fdcd42d-5bcb-45c5-b01a-27a2e5e23b00";

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn github(guid: &str, sha1: &str, sha256: &str) -> Vec<(String, String)> {
        headers(&[
            ("Content-Type", "application/json"),
            ("User-Agent", "Hookpost-Hookshot/0.1.0"),
            ("X-GitHub-Delivery", guid),
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Hook-ID", "42"),
            ("X-Hub-Signature", &format!("sha1={sha1}")),
            ("X-Hub-Signature-256", &format!("sha256={sha256}")),
            ("X-Gogs-Delivery", guid),
            ("X-Gogs-Signature", sha256),
            ("webhook-timestamp", "1700000000"),
            ("X-Custom", "sha1=not a signature"),
        ])
    }

    #[test]
    fn attempts_of_one_hook_and_event_type_share_a_template_and_keep_their_values() {
        let first = github(GUID, "aa11", "bb22");
        let second = github("another-guid", "cc33", "dd44");
        let (a, b) = (split(&first, GUID), split(&second, "another-guid"));
        assert_eq!(a.template, b.template);
        assert_eq!(a.digest, b.digest);
        assert_eq!(
            a.values, r#"["aa11","bb22","1700000000"]"#,
            "each value once"
        );
        assert!(!a.template.contains(GUID) && !a.template.contains("bb22"));
        assert_eq!(join(&a.template, &a.values, GUID), Some(first));
        assert_eq!(join(&b.template, &b.values, "another-guid"), Some(second));
    }

    #[test]
    fn any_headers_come_back_exactly_whatever_their_names_and_values() {
        let odd = headers(&[
            ("X-GitHub-Delivery", "not the guid"),
            ("x-hub-signature", "=starts with ="),
            ("X-Hub-Signature-256", "averylongword=value"),
            ("Webhook-ID", ""),
            ("X-Empty", ""),
            ("X-Repeated", "1"),
            ("X-Repeated", "2"),
            ("X-Quote", "\"[0]\" ñ"),
        ]);
        let stored = split(&odd, GUID);
        assert_eq!(join(&stored.template, &stored.values, GUID), Some(odd));
        assert_eq!(join("[]", "[]", GUID), Some(Vec::new()));
    }

    #[test]
    fn a_damaged_template_reads_as_nothing_rather_than_wrong_headers() {
        assert_eq!(join(r#"[["X-A", 3]]"#, r#"["x"]"#, GUID), None);
        assert_eq!(join(r#"[["X-A", true]]"#, "[]", GUID), None);
        assert_eq!(join("not json", "[]", GUID), None);
    }
}
