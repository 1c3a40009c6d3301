//! Payloads packed on PostgreSQL (`store::packing`): a JSON payload of about 1 KB, which
//! PostgreSQL would store whole, is stored packed and still sent and shown exactly as
//! published; a tiny one is stored as it came; one shaped to pack as far as anything can
//! (8 KiB of one character, the largest size packed) comes back whole beside them.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::database::{connect, delivering_node};
use crate::helpers::{ADMIN_TOKEN, Storage};
use crate::receiver::TestReceiver;

/// A `push`-like payload of about `size` bytes whose URLs repeat, as forge payloads do.
fn commits(size: usize) -> Value {
    let commits: Vec<Value> = (0..size / 100)
        .map(|n| json!({"id": format!("{n:040x}"), "url": format!("https://forge.example/acme/widgets/commit/{n:040x}")}))
        .collect();
    json!({"ref": "refs/heads/main", "commits": commits})
}

async fn small_json_payloads_are_stored_packed_and_sent_exactly_as_published() {
    let storage = Arc::new(Storage::new().await);
    let app = delivering_node(&storage).await;
    let receiver = TestReceiver::start().await;
    let path = "/repos/acme/widgets/hooks";
    let body = json!({"config": {"url": receiver.url, "content_type": "json"}});
    let hook = app.create_hook(path, ADMIN_TOKEN, &body).await;
    receiver.next_of("ping").await;
    let payloads = [
        commits(1024),
        json!({"n": 1}),
        json!({"pad": "a".repeat(8 * 1024 - 10)}),
    ];
    let mut guids = Vec::new();
    for payload in &payloads {
        guids.push(app.publish("push", "acme/widgets", payload.clone()).await);
    }
    for _ in &payloads {
        let got = receiver.next_of("push").await;
        let guid = got.header("x-github-delivery").unwrap();
        let at = guids.iter().position(|sent| sent == guid).unwrap();
        assert!(
            got.body == payloads[at].to_string().as_bytes(),
            "payload {at} sent as published"
        );
    }

    let client = connect(&storage).await;
    let stored = |guid: &str| {
        let client = &client;
        let guid = guid.to_owned();
        async move {
            let row = client
                .query_one(
                    "SELECT octet_length(payload), octet_length(payload_packed)
                     FROM events WHERE guid = $1",
                    &[&guid],
                )
                .await
                .unwrap();
            (row.get::<_, Option<i32>>(0), row.get::<_, Option<i32>>(1))
        }
    };
    let published = |at: usize| i32::try_from(payloads[at].to_string().len()).unwrap();
    let (raw, packed) = stored(&guids[0]).await;
    assert_eq!(raw, None, "the 1 KB payload is stored packed");
    assert!(
        packed.unwrap() < published(0) / 2,
        "{packed:?} of {}",
        published(0)
    );
    assert_eq!(
        stored(&guids[1]).await,
        (Some(published(1)), None),
        "too small to pack"
    );
    let (raw, packed) = stored(&guids[2]).await;
    assert_eq!(raw, None);
    assert!(packed.unwrap() < 100, "{packed:?}");

    let hook_path = format!("{path}/{}", hook["id"]);
    let log = app.deliveries(&hook_path).await;
    let pushes: Vec<&Value> = log.iter().filter(|item| item["event"] == "push").collect();
    assert_eq!(pushes.len(), payloads.len());
    for item in pushes {
        let at = guids.iter().position(|sent| *sent == item["guid"]).unwrap();
        let detail = app
            .get(
                &format!("{hook_path}/deliveries/{}", item["id"]),
                ADMIN_TOKEN,
            )
            .await
            .body;
        assert_eq!(
            detail["request"]["payload"], payloads[at],
            "shown as published"
        );
    }
}

crate::harness::tests!(small_json_payloads_are_stored_packed_and_sent_exactly_as_published);
