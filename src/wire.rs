//! The bytes on the wire: body, headers and signatures of one delivery, exactly as GitHub
//! sends them, plus the Gogs/Gitea/APIGit mirror headers and the hook's custom headers.
//!
//! Pure functions of the stored event and the hook's current config, so a retry or a
//! redelivery sends the original payload under the hook's current URL, secret, content
//! type and headers, and the delivery log can show what was sent. The one place the wire
//! format is written: the worker sends it, the core shows it in the delivery log, and
//! `hookpost listen` checks its signatures.

use std::sync::Arc;

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha1::Sha1;
use sha2::Sha256;

use crate::domain::hook::{ContentType, CustomHeaders, HookConfig, SECRET_MASK};
use crate::domain::ids::InstallationId;
use crate::domain::secret::Secret;
use crate::domain::signature::standard_key;
use crate::domain::timestamp::Timestamp;
use crate::store::{ClaimedDelivery, DeliveryTarget, EventRecord};

/// Server-wide settings of the request.
#[derive(Debug, Clone)]
pub struct WireSettings {
    /// `User-Agent`, e.g. `Hookpost-Hookshot/0.1.0`.
    pub user_agent: String,
    /// `--header-alias` families (`Gogs` → `X-Gogs-Event`, `X-Gogs-Delivery`, `X-Gogs-Signature`).
    pub aliases: Vec<String>,
}

/// A request ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingRequest {
    /// Parsed once: the guard, the per-host limit and the client all read it.
    pub url: url::Url,
    /// In sending order; names as GitHub spells them.
    pub headers: Vec<(String, String)>,
    /// Shares the stored payload's memory when it is sent as it is (JSON, no installation).
    pub body: Bytes,
}

impl OutgoingRequest {
    /// The URL and headers as the delivery log keeps them: credentials (custom headers
    /// [`CustomHeaders::is_sensitive`] names, a URL's password) masked.
    pub fn into_logged(self) -> (String, Vec<(String, String)>) {
        let mut headers = self.headers;
        for (name, value) in &mut headers {
            if CustomHeaders::is_sensitive(name) {
                *value = SECRET_MASK.to_owned();
            }
        }
        let mut url = self.url;
        if url.password().is_some() {
            let _ = url.set_password(Some(SECRET_MASK));
        }
        (url.into(), headers)
    }
}

/// The payload as this hook receives it: for an app's hook, with `installation` added.
pub fn payload_for(payload: &Arc<[u8]>, installation_id: Option<InstallationId>) -> Bytes {
    let Some(installation_id) = installation_id else {
        return Bytes::from_owner(payload.clone());
    };
    match serde_json::from_slice::<Value>(payload) {
        Ok(Value::Object(mut object)) => {
            object.insert(
                "installation".to_owned(),
                serde_json::json!({"id": installation_id}),
            );
            Bytes::from(serde_json::to_vec(&object).expect("a JSON object serializes"))
        }
        _ => Bytes::from_owner(payload.clone()),
    }
}

/// The request body for `content_type`: the JSON itself, or `payload=<url-encoded JSON>`.
pub fn body_for(payload: Bytes, content_type: ContentType) -> Bytes {
    match content_type {
        ContentType::Json => payload,
        ContentType::Form => {
            let mut body = b"payload=".to_vec();
            body.extend(url::form_urlencoded::byte_serialize(&payload).flat_map(str::bytes));
            Bytes::from(body)
        }
    }
}

pub fn sign_sha1(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

pub fn sign_sha256(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// GitHub's `X-GitHub-Hook-Installation-Target-Type` and `-ID`.
fn installation_target(
    target: &DeliveryTarget,
    event: &EventRecord,
) -> (&'static str, Option<i64>) {
    match (target.app_id, target.organization) {
        (Some(app_id), _) => ("integration", Some(app_id.0)),
        (None, true) => ("organization", event.target_organization_id),
        (None, false) => ("repository", event.target_repository_id),
    }
}

/// A Standard Webhooks signature: `v1,` and the base64 of the HMAC-SHA256 of
/// `{id}.{timestamp}.{body}`, keyed by the secret's decoded bytes.
pub fn sign_standard(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    use base64::Engine;
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// The Standard Webhooks headers of an attempt sent at `sent_at`: the event's guid (the
/// same on every retry and redelivery), the attempt's Unix time, and one signature per
/// secret that still signs (the new one first, during a rotation's overlap).
fn standard_headers(
    config: &HookConfig,
    guid: &str,
    sent_at: Timestamp,
    body: &[u8],
) -> Vec<(String, String)> {
    let timestamp = sent_at.0.div_euclid(1000);
    let signatures: Vec<String> = config
        .secret
        .iter()
        .chain(config.live_previous_secret(sent_at))
        .filter_map(|secret| standard_key(secret.expose()))
        .map(|key| sign_standard(&key, guid, timestamp, body))
        .collect();
    vec![
        ("webhook-id".into(), guid.to_owned()),
        ("webhook-timestamp".into(), timestamp.to_string()),
        ("webhook-signature".into(), signatures.join(" ")),
    ]
}

/// Builds the request for one claimed delivery, sent at `sent_at`.
///
/// # Errors
/// When the stored URL does not parse (it was validated when stored, so only a damaged
/// database can do that).
pub fn build(
    delivery: &ClaimedDelivery,
    settings: &WireSettings,
    sent_at: Timestamp,
) -> Result<OutgoingRequest, url::ParseError> {
    let event = &delivery.event;
    let config = &delivery.target.config;
    let url = url::Url::parse(&config.url)?;
    let payload = payload_for(&event.payload, delivery.installation_id);
    let body = body_for(payload, config.content_type);
    let content_type = match config.content_type {
        ContentType::Json => "application/json",
        ContentType::Form => "application/x-www-form-urlencoded",
    };
    let (target_type, target_id) = installation_target(&delivery.target, event);
    let mut headers: Vec<(String, String)> = vec![
        ("Content-Type".into(), content_type.into()),
        ("User-Agent".into(), settings.user_agent.clone()),
        ("X-GitHub-Delivery".into(), event.guid.clone()),
        ("X-GitHub-Event".into(), event.name.clone()),
        (
            "X-GitHub-Hook-ID".into(),
            delivery.target.hook_id.to_string(),
        ),
        (
            "X-GitHub-Hook-Installation-Target-ID".into(),
            target_id.map(|id| id.to_string()).unwrap_or_default(),
        ),
        (
            "X-GitHub-Hook-Installation-Target-Type".into(),
            target_type.into(),
        ),
    ];
    let sha256 = config
        .secret
        .as_ref()
        .filter(|_| config.signature.signs_github())
        .map(|secret| sign_sha256(secret.expose(), &body));
    if let (Some(secret), Some(sha256)) = (config.secret.as_ref().map(Secret::expose), &sha256) {
        headers.push((
            "X-Hub-Signature".into(),
            format!("sha1={}", sign_sha1(secret, &body)),
        ));
        headers.push(("X-Hub-Signature-256".into(), format!("sha256={sha256}")));
    }
    if config.signature.signs_standard() {
        headers.extend(standard_headers(config, &event.guid, sent_at, &body));
    }
    for alias in &settings.aliases {
        headers.push((format!("X-{alias}-Delivery"), event.guid.clone()));
        headers.push((format!("X-{alias}-Event"), event.name.clone()));
        headers.push((
            format!("X-{alias}-Signature"),
            sha256.clone().unwrap_or_default(),
        ));
    }
    headers.extend(
        config
            .headers
            .iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned())),
    );
    if let Some(credentials) = basic_credentials(&url)
        && !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("authorization"))
    {
        headers.push(("Authorization".into(), credentials));
    }
    Ok(OutgoingRequest { url, headers, body })
}

/// `Authorization: Basic …` for a URL with `user:password@`, as HTTP clients send it; a
/// custom `Authorization` header wins.
fn basic_credentials(url: &url::Url) -> Option<String> {
    use base64::Engine;
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let decode = |text: &str| percent_encoding::percent_decode_str(text).collect::<Vec<u8>>();
    let mut pair = decode(url.username());
    pair.push(b':');
    pair.extend(decode(url.password().unwrap_or_default()));
    Some(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::hook::{CustomHeaders, HookConfig};
    use crate::domain::signature::{PreviousSecret, SignatureScheme};
    use crate::store::{AppId, DeliveryId, HookId, InstallationId};

    fn delivery(content_type: ContentType, secret: Option<&str>) -> ClaimedDelivery {
        ClaimedDelivery {
            id: DeliveryId(1),
            event: Arc::new(EventRecord {
                id: 9,
                guid: "3fdcd42d-5bcb-45c5-b01a-27a2e5e23b00".into(),
                name: "issues".into(),
                action: Some("opened".into()),
                payload: Arc::from(&br#"{"action":"opened","n":"a b&c"}"#[..]),
                target_repository_id: Some(1210),
                target_organization_id: Some(7),
            }),
            target: Arc::new(DeliveryTarget {
                hook_id: HookId(42),
                tenant: crate::store::Tenant::Account(7),
                app_id: None,
                organization: false,
                config: HookConfig {
                    url: "http://receiver.example/hook".into(),
                    content_type,
                    secret: secret.map(Secret::new),
                    insecure_ssl: false,
                    headers: CustomHeaders::from_json(
                        &serde_json::json!({"X-My-Request-Header": "XXX"}),
                    ),
                    signature: SignatureScheme::Github,
                    previous_secret: None,
                    retry_schedule: None,
                    rate_limit: None,
                    ordering: crate::domain::order::DeliveryOrder::Any,
                },
            }),
            installation_id: None,
            attempts: 0,
            retry: true,
            redelivery: false,
            throttled_at: None,
            in_line: false,
        }
    }

    fn header<'a>(request: &'a OutgoingRequest, name: &str) -> Option<&'a str> {
        request
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// When the tests' attempts are sent.
    const SENT_AT: Timestamp = Timestamp(1_614_265_330_123);

    #[test]
    fn signs_like_the_standard_webhooks_specification() {
        // The specification's own example (also what its reference libraries test).
        let key = standard_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            sign_standard(
                &key,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_standard_hook_carries_the_standard_headers_and_both_carries_githubs_too() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let with = |signature, previous: Option<PreviousSecret>| {
            let mut delivery = delivery(ContentType::Json, Some(secret));
            let target = Arc::make_mut(&mut delivery.target);
            target.config.signature = signature;
            target.config.previous_secret = previous;
            build(&delivery, &settings(), SENT_AT).unwrap()
        };
        // GitHub's scheme: exactly GitHub's headers, none of the Standard ones.
        let github = with(SignatureScheme::Github, None);
        let plain = build(
            &delivery(ContentType::Json, Some(secret)),
            &settings(),
            SENT_AT,
        )
        .unwrap();
        assert_eq!(github.headers, plain.headers);
        assert!(
            github
                .headers
                .iter()
                .all(|(name, _)| !name.starts_with("webhook-"))
        );
        let standard = with(SignatureScheme::Standard, None);
        let guid = "3fdcd42d-5bcb-45c5-b01a-27a2e5e23b00";
        assert_eq!(header(&standard, "webhook-id"), Some(guid));
        assert_eq!(header(&standard, "webhook-timestamp"), Some("1614265330"));
        let key = standard_key(secret).unwrap();
        let expected = sign_standard(&key, guid, 1_614_265_330, &standard.body);
        assert_eq!(
            header(&standard, "webhook-signature"),
            Some(expected.as_str())
        );
        assert_eq!(header(&standard, "X-Hub-Signature-256"), None);
        assert_eq!(
            header(&standard, "X-GitHub-Delivery"),
            Some(guid),
            "GitHub's others stay"
        );

        let both = with(SignatureScheme::Both, None);
        let github = sign_sha256(secret, &both.body);
        assert_eq!(
            header(&both, "X-Hub-Signature-256"),
            Some(format!("sha256={github}").as_str()),
            "keyed by the whole whsec_ string"
        );
        assert!(header(&both, "webhook-signature").is_some());

        // During an overlap both secrets sign, the new one first; after it only the new.
        let old = "whsec_dGhlIG9sZCBzZWNyZXQgb2YgdGhpcyBob29rIQ==";
        let overlap = |until| {
            with(
                SignatureScheme::Standard,
                Some(PreviousSecret {
                    secret: Secret::new(old),
                    expires_at: Timestamp(until),
                }),
            )
        };
        let during = overlap(SENT_AT.0 + 1);
        let old_signature = sign_standard(
            &standard_key(old).unwrap(),
            guid,
            1_614_265_330,
            &during.body,
        );
        assert_eq!(
            header(&during, "webhook-signature"),
            Some(format!("{expected} {old_signature}").as_str())
        );
        let after = overlap(SENT_AT.0);
        assert_eq!(header(&after, "webhook-signature"), Some(expected.as_str()));
    }

    fn settings() -> WireSettings {
        WireSettings {
            user_agent: "Hookpost-Hookshot/test".into(),
            aliases: vec!["Apigit".into()],
        }
    }

    #[test]
    fn signs_like_github() {
        // GitHub's documented example: secret "It's a Secret to Everybody", body "Hello, World!".
        assert_eq!(
            sign_sha256("It's a Secret to Everybody", b"Hello, World!"),
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn json_delivery_carries_githubs_and_the_mirror_headers() {
        let request = build(
            &delivery(ContentType::Json, Some("s")),
            &settings(),
            SENT_AT,
        )
        .unwrap();
        assert_eq!(&request.body[..], br#"{"action":"opened","n":"a b&c"}"#);
        assert_eq!(header(&request, "content-type"), Some("application/json"));
        assert_eq!(header(&request, "x-github-event"), Some("issues"));
        assert_eq!(header(&request, "x-github-hook-id"), Some("42"));
        assert_eq!(
            header(&request, "x-github-hook-installation-target-type"),
            Some("repository")
        );
        assert_eq!(
            header(&request, "x-github-hook-installation-target-id"),
            Some("1210")
        );
        let sha256 = sign_sha256("s", &request.body);
        assert_eq!(
            header(&request, "x-hub-signature-256"),
            Some(format!("sha256={sha256}").as_str())
        );
        assert_eq!(
            header(&request, "x-apigit-signature"),
            Some(sha256.as_str())
        );
        assert_eq!(
            header(&request, "x-apigit-delivery"),
            header(&request, "x-github-delivery")
        );
        assert_eq!(header(&request, "x-my-request-header"), Some("XXX"));
    }

    #[test]
    fn form_delivery_is_url_encoded_and_unsigned_without_secret() {
        let request = build(&delivery(ContentType::Form, None), &settings(), SENT_AT).unwrap();
        assert_eq!(
            std::str::from_utf8(&request.body).unwrap(),
            "payload=%7B%22action%22%3A%22opened%22%2C%22n%22%3A%22a+b%26c%22%7D"
        );
        assert_eq!(header(&request, "x-hub-signature"), None);
        assert_eq!(
            header(&request, "x-apigit-signature"),
            Some(""),
            "present and empty, as in the APIGit seed"
        );
    }

    #[test]
    fn credentials_in_the_url_become_basic_authorization() {
        let mut with_credentials = delivery(ContentType::Json, None);
        Arc::make_mut(&mut with_credentials.target).config.url =
            "https://hook%20user:p%40ss@receiver.example/hook".into();
        let request = build(&with_credentials, &settings(), SENT_AT).unwrap();
        // base64("hook user:p@ss")
        assert_eq!(
            header(&request, "authorization"),
            Some("Basic aG9vayB1c2VyOnBAc3M=")
        );
        assert_eq!(
            build(&delivery(ContentType::Json, None), &settings(), SENT_AT)
                .unwrap()
                .headers
                .iter()
                .filter(|(name, _)| name == "Authorization")
                .count(),
            0
        );
    }

    #[test]
    fn app_deliveries_name_the_installation() {
        let mut app_delivery = delivery(ContentType::Json, None);
        Arc::make_mut(&mut app_delivery.target).app_id = Some(AppId(5));
        app_delivery.installation_id = Some(InstallationId(77));
        let request = build(&app_delivery, &settings(), SENT_AT).unwrap();
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["installation"], serde_json::json!({"id": 77}));
        assert_eq!(
            header(&request, "x-github-hook-installation-target-type"),
            Some("integration")
        );
        assert_eq!(
            header(&request, "x-github-hook-installation-target-id"),
            Some("5")
        );
    }
}
