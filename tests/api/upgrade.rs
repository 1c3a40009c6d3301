//! Upgrades: a database written by the last release opens with this build, is migrated, and
//! serves its hooks and delivery log exactly as that release did. The fixture (the database,
//! and the release's own answers about it) was made by `tests/fixtures/upgrade/make.sh` with
//! the release's binary; see the README beside it.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Map, Value};

use crate::helpers::{ADMIN_TOKEN, Storage, start};
use crate::storage::Backend;

/// The last release's fixture: version and commit.
const RELEASE: &str = "0.1.0-54b9fb5";

async fn a_database_of_the_last_release_migrates_and_answers_as_it_did() {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/upgrade")
        .join(RELEASE);
    let storage = Arc::new(Storage::new().await);
    match crate::BACKEND {
        Backend::Sqlite => {
            std::fs::copy(
                fixture.join("sqlite/hookpost.sqlite3"),
                storage.dir().join("hookpost.sqlite3"),
            )
            .unwrap();
        }
        Backend::Postgres => {
            storage
                .load_sql(&fixture.join("postgres/postgres.sql"))
                .await
        }
    }
    let backend = match crate::BACKEND {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let answers: Map<String, Value> =
        serde_json::from_slice(&std::fs::read(fixture.join(backend).join("answers.json")).unwrap())
            .unwrap();
    assert!(
        answers.len() >= 6,
        "the fixture holds the release's answers"
    );

    let app = start(&storage, |config| {
        config.public_url = Some("http://hookpost.test".to_owned());
    })
    .await;
    for (path, expected) in &answers {
        let mut reply = app.get(path, ADMIN_TOKEN).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        if path.contains("/deliveries") {
            strip_added_item_fields(&mut reply.body);
        }
        assert_eq!(&reply.body, expected, "{path} answers as the release did");
    }
    // And it goes on working: a new hook gets an id after the release's.
    let created = app
        .create_hook(
            "/repos/acme/widgets/hooks",
            ADMIN_TOKEN,
            &crate::helpers::hook_body("https://receiver.example/new"),
        )
        .await;
    assert!(created["id"].as_i64().unwrap() > 2, "{created}");
    app.stop().await;
}

/// Delivery-log fields added after the release (Hookpost's extensions); a migrated log
/// item must carry them, and otherwise be what the release answered.
const ADDED_ITEM_FIELDS: [&str; 3] = ["attempt_number", "trigger", "next_attempt_at"];

fn strip_added_item_fields(body: &mut Value) {
    let items: Vec<&mut Value> = match body {
        Value::Array(items) => items.iter_mut().collect(),
        item => vec![item],
    };
    for item in items {
        let item = item.as_object_mut().expect("a delivery item");
        for field in ADDED_ITEM_FIELDS {
            assert!(item.remove(field).is_some(), "{field} added to {item:?}");
        }
    }
}

crate::harness::tests!(a_database_of_the_last_release_migrates_and_answers_as_it_did);
