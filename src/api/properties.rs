//! Property tests for what an attacker reaches first: request bodies (publish, hook create
//! and update, `config` and its `headers`), paging and log queries, and app JWTs. Whatever
//! arrives, the readers neither panic nor accept it silently: they answer with a value or
//! with the errors a 4xx carries. A fixed budget of cases keeps them inside the unit suite.

use std::collections::HashMap;

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::{bodies, extract, log, pagination};
use crate::domain::hook::HookRules;

const CASES: u32 = 256;

/// The names the readers look for, so generated bodies reach their checks.
const KEYS: &[&str] = &[
    "name",
    "active",
    "events",
    "add_events",
    "remove_events",
    "config",
    "url",
    "content_type",
    "secret",
    "insecure_ssl",
    "headers",
    "event",
    "repository",
    "organization",
    "payload",
    "action",
    "X-Team",
    "Authorization",
    "*",
    "",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(KEYS).prop_map(str::to_owned),
        1 => ".{0,12}",
    ]
}

/// Any JSON value, nested a few levels, with the readers' names as likely keys.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            proptest::sample::select(KEYS).prop_map(str::to_owned),
            ".{0,24}",
            Just("http://127.0.0.1:9/hook".to_owned()),
            Just("owner/repo".to_owned()),
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::btree_map(key(), inner, 0..8)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn object() -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::btree_map(key(), json(), 0..10).prop_map(|map| map.into_iter().collect())
}

fn query() -> impl Strategy<Value = HashMap<String, String>> {
    let name = prop_oneof![
        proptest::sample::select(
            &[
                "page",
                "per_page",
                "cursor",
                "status",
                "redelivery",
                "trigger",
                "event",
                "guid",
                "since",
                "until"
            ][..]
        )
        .prop_map(str::to_owned),
        ".{0,6}",
    ];
    let value = prop_oneof![
        ".{0,20}",
        any::<i64>().prop_map(|n| n.to_string()),
        "[0-9a-f]{16}",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})"
    ];
    proptest::collection::hash_map(name, value, 0..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn any_bytes_are_an_object_or_a_400(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = extract::parse_object(&bytes);
    }

    #[test]
    fn any_body_is_read_or_refused_with_its_problems(body in object()) {
        let rules = HookRules::new(&["Gogs".to_owned()]);
        for errors in [
            bodies::hook_settings(&body, &rules).err(),
            bodies::hook_patch(&body, &rules).err(),
            bodies::config_patch(&body, &rules).err(),
            bodies::publication(body.clone()).err(),
        ]
        .into_iter()
        .flatten()
        {
            prop_assert!(!errors.0.is_empty(), "a refusal says why");
        }
    }

    #[test]
    fn any_query_is_read_or_refused(query in query()) {
        let _ = pagination::read_page(&query, "Hook");
        let _ = log::read_query(&query);
    }
}

/// App JWTs with any header and claims (times at the ends of i64, floats, strings, the
/// registered app's id or not), signed by the app's key or not: `authenticate` refuses or
/// accepts, and never panics.
#[test]
fn any_app_jwt_is_checked_without_panicking() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    use crate::domain::hook::{HookInput, HookSettings};
    use crate::domain::timestamp::Timestamp;
    use crate::store::{AccountStore, NewApp, sqlite::SqliteStore};

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let directory = tempfile::tempdir().unwrap();
    let store = runtime
        .block_on(SqliteStore::open(
            &directory.path().join("hookpost.sqlite3"),
        ))
        .unwrap();
    let (private_pem, public_pem) = crate::apps::generate_key().unwrap();
    let hook = HookSettings::new(
        &HookInput {
            active: true,
            events: vec!["push".to_owned()],
            url: "https://example.com/hook".to_owned(),
            content_type: "json".to_owned(),
            secret: None,
            insecure_ssl: false,
            headers: Vec::new(),
            ..HookInput::default()
        },
        &HookRules::default(),
    )
    .unwrap();
    let (app, _) = runtime
        .block_on(store.create_app(NewApp {
            name: "Fuzzed".to_owned(),
            slug: "fuzzed".to_owned(),
            client_id: "Iv1.fuzzed".to_owned(),
            public_key_pem: public_pem,
            events: vec!["push".to_owned()],
            hook,
        }))
        .unwrap()
        .unwrap();
    let key = EncodingKey::from_rsa_pem(private_pem.as_bytes()).unwrap();
    let now = Timestamp::now().0 / 1000;
    let time = prop_oneof![
        Just(Value::from(i64::MIN)),
        Just(Value::from(i64::MAX)),
        (now - 1000..now + 1000).prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        json(),
    ];
    let issuer = prop_oneof![
        Just(Value::from(app.id.0)),
        Just(Value::from(app.id.0.to_string())),
        Just(Value::from("Iv1.fuzzed")),
        json(),
    ];
    let claims = (time.clone(), time, issuer, json());
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(CASES));
    runner
        .run(
            &(claims, any::<bool>(), ".{0,64}"),
            |((iat, exp, iss, aud), signed, junk)| {
                let claims = serde_json::json!({"iat": iat, "exp": exp, "iss": iss, "aud": aud});
                let token = if signed {
                    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap()
                } else {
                    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
                    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
                    format!("{header}.{body}.{junk}")
                };
                let checked =
                    runtime.block_on(crate::apps::authenticate(&store, &token, Timestamp::now()));
                if !signed {
                    prop_assert!(checked.is_err(), "an unsigned token is refused");
                }
                Ok(())
            },
        )
        .unwrap();
}
