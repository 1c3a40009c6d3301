//! The JSON bodies of GitHub's hook and publish requests, read field by field into the
//! domain's types: type errors are reported here, values are checked by the domain's own
//! rules (the same that check a form or a command line), and every problem is reported at
//! once, named as GitHub names fields. JSON parsing lives in the API and nowhere else.

use serde_json::{Map, Value};

use crate::domain::event::Publication;
use crate::domain::hook::{
    ConfigPatch, ContentType, CustomHeaders, HookPatch, HookRules, HookSettings, SECRET_MASK,
    check_content_type, check_events, check_headers, check_ordering, check_overlap,
    check_rate_limit, check_retry_schedule, check_signature_scheme, checked_url, is_event_name,
};
use crate::domain::names::{Login, RepoName};
use crate::domain::rate::MAX_RATE_LIMIT;
use crate::domain::secret::Secret;
use crate::domain::signature::SignatureScheme;
use crate::domain::validate::{ErrorCode, Problems, ValidationErrors};

/// Reads a create body, applying GitHub's defaults (`web`, active, `["push"]`, `form`).
///
/// # Errors
/// Every invalid field, at once.
pub fn hook_settings(
    body: &Map<String, Value>,
    rules: &HookRules,
) -> Result<HookSettings, ValidationErrors> {
    let mut problems = Problems::new("Hook");
    let name = problems.string(body, "name", "name").unwrap_or("web");
    if name != "web" {
        problems.invalid("name", "name must be \"web\"");
    }
    let settings = hook_settings_under(&mut problems, body, "config", rules);
    problems.finish(|| HookSettings {
        name: name.to_owned(),
        ..settings
    })
}

/// Reads `active`, `events` and the config object under `key` of `body` (a create body,
/// or an app registration's, whose config is its `hook`), with GitHub's defaults. The
/// result is meaningful only if `problems` is still empty; problems are named after
/// `key` (`hook.url`).
pub fn hook_settings_under(
    problems: &mut Problems,
    body: &Map<String, Value>,
    key: &str,
    rules: &HookRules,
) -> HookSettings {
    let active = problems.boolean(body, "active", "active").unwrap_or(true);
    let events = read_events(problems, body, "events");
    let config = match problems.object(body, key, key) {
        Some(config) => config_patch_under(problems, config, rules, key),
        None => ConfigPatch::default(),
    };
    // A config of the wrong type is reported as such, not also as a missing URL.
    let url_given = match body.get(key) {
        Some(Value::Object(config)) => config.get("url").is_some_and(|url| !url.is_null()),
        None | Some(Value::Null) => false,
        Some(_) => true,
    };
    if !url_given {
        problems.missing(&format!("{key}.url"));
    }
    HookSettings::assemble(
        "web",
        active,
        events.unwrap_or_else(|| vec!["push".to_owned()]),
        &config,
    )
}

/// Reads an event list; `*` is allowed; duplicates are dropped, order kept.
fn read_events(
    problems: &mut Problems,
    obj: &Map<String, Value>,
    key: &str,
) -> Option<Vec<String>> {
    let names = problems.string_list(obj, key, key)?;
    check_events(problems, key, names)
}

/// Reads a config object; problems are named after `key` (`config.url`, `hook.url`).
fn config_patch_under(
    problems: &mut Problems,
    config: &Map<String, Value>,
    rules: &HookRules,
    key: &str,
) -> ConfigPatch {
    let url = problems
        .string(config, "url", &format!("{key}.url"))
        .and_then(|url| checked_url(problems, key, url));
    let content_type = problems
        .string(config, "content_type", &format!("{key}.content_type"))
        .and_then(|text| check_content_type(problems, key, text));
    let secret = problems
        .string(config, "secret", &format!("{key}.secret"))
        .and_then(|secret| match secret {
            SECRET_MASK => None,
            "" => Some(None),
            secret => Some(Some(Secret::new(secret))),
        });
    let signature = problems
        .string(config, "signature", &format!("{key}.signature"))
        .and_then(|text| check_signature_scheme(problems, key, text));
    let rotated_until = problems
        .string(config, "secret_overlap", &format!("{key}.secret_overlap"))
        .and_then(|text| check_overlap(problems, key, text, matches!(secret, Some(Some(_)))));
    // `null` goes back to the server's schedule.
    let retry_schedule = match config.get("retry_schedule") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(_) => problems
            .string(config, "retry_schedule", &format!("{key}.retry_schedule"))
            .and_then(|text| check_retry_schedule(problems, key, text))
            .map(Some),
    };
    // `null` removes the limit.
    let rate_limit = match config.get("rate_limit") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(_) => problems
            .whole_number(
                config,
                "rate_limit",
                &format!("{key}.rate_limit"),
                1..=u64::from(MAX_RATE_LIMIT),
            )
            .and_then(|rate| check_rate_limit(problems, key, i64::try_from(rate).ok()?))
            .map(Some),
    };
    let ordering = problems
        .string(config, "ordering", &format!("{key}.ordering"))
        .and_then(|text| check_ordering(problems, key, text));
    let patch = ConfigPatch {
        url,
        content_type,
        secret,
        insecure_ssl: read_insecure_ssl(problems, config, key),
        headers: read_headers(problems, config, rules, key),
        signature,
        rotated_until,
        retry_schedule,
        rate_limit,
        ordering,
    };
    patch.check_signature(problems, key);
    patch
}

/// Reads the body of `PATCH …/hooks/{id}/config`, which is a config object itself.
///
/// # Errors
/// Every invalid field, at once.
pub fn config_patch(
    body: &Map<String, Value>,
    rules: &HookRules,
) -> Result<ConfigPatch, ValidationErrors> {
    let mut problems = Problems::new("Hook");
    let patch = config_patch_under(&mut problems, body, rules, "config");
    problems.finish(|| patch)
}

/// GitHub takes `"0"`/`"1"` or the numbers 0/1.
fn read_insecure_ssl(
    problems: &mut Problems,
    config: &Map<String, Value>,
    key: &str,
) -> Option<bool> {
    let value = config
        .get("insecure_ssl")
        .filter(|value| !value.is_null())?;
    let parsed = match value {
        Value::String(text) if text == "0" => Some(false),
        Value::String(text) if text == "1" => Some(true),
        Value::Number(number) if number.as_f64() == Some(0.0) => Some(false),
        Value::Number(number) if number.as_f64() == Some(1.0) => Some(true),
        _ => None,
    };
    if parsed.is_none() {
        problems.invalid(
            &format!("{key}.insecure_ssl"),
            format!("insecure_ssl must be \"0\" or \"1\", not {value}"),
        );
    }
    parsed
}

fn read_headers(
    problems: &mut Problems,
    config: &Map<String, Value>,
    rules: &HookRules,
    key: &str,
) -> Option<CustomHeaders> {
    let headers = problems.object(config, "headers", &format!("{key}.headers"))?;
    let headers = headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()));
    check_headers(problems, headers, rules, key)
}

/// Reads the body of `PATCH …/hooks/{id}`.
///
/// # Errors
/// Every invalid field, at once.
pub fn hook_patch(
    body: &Map<String, Value>,
    rules: &HookRules,
) -> Result<HookPatch, ValidationErrors> {
    let mut problems = Problems::new("Hook");
    let active = problems.boolean(body, "active", "active");
    let events = read_events(&mut problems, body, "events");
    let add_events = read_events(&mut problems, body, "add_events").unwrap_or_default();
    let remove_events = read_events(&mut problems, body, "remove_events").unwrap_or_default();
    let config = problems
        .object(body, "config", "config")
        .map(|config| replacing_config(&mut problems, config, rules))
        .unwrap_or_default();
    problems.finish(|| HookPatch {
        active,
        events,
        add_events,
        remove_events,
        config,
    })
}

/// The `config` of `PATCH …/hooks/{id}`, which replaces GitHub's config fields as GitHub
/// documents: an omitted `secret` is removed (`********`, the masked value sent back, keeps
/// it), an omitted `content_type` is `form` again and `insecure_ssl` `"0"`. Hookpost's own
/// fields (`headers`, `retry_schedule`) are kept unless given, so a GitHub-only client never resets them.
fn replacing_config(
    problems: &mut Problems,
    config: &Map<String, Value>,
    rules: &HookRules,
) -> ConfigPatch {
    let secret_omitted = config.get("secret").is_none_or(Value::is_null);
    let mut patch = config_patch_under(problems, config, rules, "config");
    if secret_omitted {
        patch.secret = Some(None);
    }
    patch.content_type.get_or_insert(ContentType::Form);
    patch.insecure_ssl.get_or_insert(false);
    patch.signature.get_or_insert(SignatureScheme::Github);
    patch
}

/// A publish body: `event`, `repository` or `organization`, `payload`.
///
/// # Errors
/// Every invalid field, at once.
pub fn publication(mut body: Map<String, Value>) -> Result<Publication, ValidationErrors> {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::hook::ContentType;

    fn obj(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn fields(errors: ValidationErrors) -> Vec<String> {
        errors.0.into_iter().map(|error| error.field).collect()
    }

    #[test]
    fn create_applies_githubs_defaults() {
        let body = obj(json!({"config": {"url": "https://example.com/hook"}}));
        let settings = hook_settings(&body, &HookRules::default()).unwrap();
        assert_eq!(settings.name, "web");
        assert!(settings.active);
        assert_eq!(settings.events, ["push"]);
        assert_eq!(settings.config.content_type, ContentType::Form);
        assert!(!settings.config.insecure_ssl);
        assert_eq!(settings.config.secret, None);
    }

    #[test]
    fn create_reports_every_bad_field() {
        let body = obj(json!({
            "name": "email",
            "active": 1,
            "events": ["push", "Bad-Event"],
            "config": {"url": "ftp://x", "content_type": "xml", "insecure_ssl": "2"}
        }));
        let errors = hook_settings(&body, &HookRules::default()).unwrap_err();
        assert_eq!(
            fields(errors),
            [
                "name",
                "active",
                "events[1]",
                "config.url",
                "config.content_type",
                "config.insecure_ssl"
            ]
        );
    }

    #[test]
    fn a_missing_url_is_missing_field() {
        for body in [json!({}), json!({"config": {}})] {
            let errors = hook_settings(&obj(body), &HookRules::default()).unwrap_err();
            assert_eq!(errors.0.len(), 1);
            assert_eq!(errors.0[0].field, "config.url");
            assert_eq!(errors.0[0].code, ErrorCode::MissingField);
        }
    }

    #[test]
    fn reserved_and_malformed_headers_are_refused() {
        let rules = HookRules::new(&["Gogs".to_owned()]);
        let body = obj(json!({"config": {"url": "http://a.example", "headers": {
            "X-My-Request-Header": "XXX",
            "user-agent": "x",
            "X-GitHub-Event": "x",
            "x-hub-signature": "x",
            "X-Gogs-Delivery": "x",
            "Bad Name": "x",
            "X-Split": "a\r\nb",
            "X-Number": 3
        }}}));
        let errors = hook_settings(&body, &rules).unwrap_err();
        let mut got = fields(errors);
        got.sort();
        assert_eq!(
            got,
            [
                "config.headers.Bad Name",
                "config.headers.X-GitHub-Event",
                "config.headers.X-Gogs-Delivery",
                "config.headers.X-Number",
                "config.headers.X-Split",
                "config.headers.user-agent",
                "config.headers.x-hub-signature",
            ]
        );
    }

    #[test]
    fn patch_edits_events_and_keeps_masked_values() {
        let rules = HookRules::default();
        let body = obj(json!({"events": ["push", "issues"], "config": {
            "url": "http://a.example", "secret": "s3",
            "headers": {"Authorization": "Bearer one", "X-A": "1"}
        }}));
        let mut settings = hook_settings(&body, &rules).unwrap();
        let patch = hook_patch(
            &obj(json!({
                "add_events": ["pull_request", "push"],
                "remove_events": ["issues"],
                "config": {"secret": SECRET_MASK, "headers": {"Authorization": SECRET_MASK}}
            })),
            &rules,
        )
        .unwrap();
        patch.apply(&mut settings);
        assert_eq!(settings.events, ["push", "pull_request"]);
        assert_eq!(
            settings.config.secret.as_ref().map(Secret::expose),
            Some("s3")
        );
        assert_eq!(
            settings.config.headers.get("authorization"),
            Some("Bearer one")
        );
        assert_eq!(settings.config.headers.get("X-A"), None);
        assert_eq!(settings.config.url, "http://a.example");
    }

    #[test]
    fn shown_config_masks_credentials() {
        let body = obj(json!({"config": {"url": "http://a.example", "secret": "s",
            "content_type": "json", "insecure_ssl": 1,
            "headers": {"Authorization": "token x", "X-A": "1"}}}));
        let settings = hook_settings(&body, &HookRules::default()).unwrap();
        assert_eq!(
            serde_json::to_value(crate::core::github::ConfigObject::of(&settings.config)).unwrap(),
            json!({"content_type": "json", "insecure_ssl": "1", "url": "http://a.example",
                   "secret": "********", "headers": {"Authorization": "********", "X-A": "1"}})
        );
    }

    fn read_publication(body: Value) -> Result<Publication, Vec<String>> {
        publication(body.as_object().unwrap().clone())
            .map_err(|errors| errors.0.into_iter().map(|error| error.field).collect())
    }

    #[test]
    fn the_organization_defaults_to_the_repository_owner() {
        let publication = read_publication(json!({"event": "issues", "repository": "acme/widgets",
                                      "payload": {"action": "opened", "repository": {"id": 5}}}))
        .unwrap();
        assert_eq!(publication.organization.as_ref().unwrap().as_str(), "acme");
        assert_eq!(publication.action().as_deref(), Some("opened"));
        assert_eq!(publication.payload_id("repository"), Some(5));
    }

    #[test]
    fn every_bad_field_is_named() {
        assert_eq!(
            read_publication(json!({})).unwrap_err(),
            ["event", "repository", "payload"]
        );
        assert_eq!(
            read_publication(json!({"event": "Bad", "repository": "nope", "payload": []}))
                .unwrap_err(),
            ["event", "repository", "payload"]
        );
        assert_eq!(
            read_publication(json!({"event": 1, "organization": 2, "payload": "x"})).unwrap_err(),
            ["event", "organization", "payload"]
        );
    }
}
