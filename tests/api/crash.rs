//! `kill -9` at any moment loses nothing acknowledged: the real binary is killed while
//! deliveries are under way and restarted on the same storage.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::json;

use crate::helpers::{Storage, spawn_binary};
use crate::publishers::Publishers;
use crate::receiver::TestReceiver;

const EVENTS: usize = 2000;
const TOKEN: &str = "hp_crash_test_admin";

async fn every_acknowledged_event_arrives_after_a_kill_9() {
    let storage = Storage::new().await;
    // A shared database leaves a dead process's leases to expire: keep that short.
    let env = [
        ("HOOKPOST_ADMIN_TOKEN", TOKEN),
        ("HOOKPOST_ALLOW_TARGET", "127.0.0.0/8"),
        ("HOOKPOST_LEASE", "3s"),
    ];
    let (mut child, address) = spawn_binary(&storage, &env).await;
    let api = Arc::new(RwLock::new(format!("http://{address}/api/v3")));
    let client = crate::helpers::http_client();
    let receiver = TestReceiver::start().await;
    let created = client
        .post(format!("{}/repos/acme/widgets/hooks", api.read().unwrap()))
        .bearer_auth(TOKEN)
        .json(&json!({"events": ["push"], "config": {"url": receiver.url, "content_type": "json"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);
    receiver.next_of("ping").await;

    // Publishers retry until the server acknowledges; only acknowledged guids must arrive.
    let target = api.clone();
    let publishers = Publishers::start(&client, TOKEN, EVENTS, 8, move |_, _| {
        format!("{}/events", target.read().unwrap())
    });

    let mut arrivals: HashMap<String, usize> = HashMap::new();
    fn record(arrivals: &mut HashMap<String, usize>, received: crate::receiver::Received) {
        let guid = received.header("x-github-delivery").unwrap().to_owned();
        *arrivals.entry(guid).or_default() += 1;
    }
    for _ in 0..500 {
        record(&mut arrivals, receiver.next_of("push").await);
    }
    let pid = child.id().unwrap().to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    child.wait().await.unwrap();

    let (_restarted, address) = spawn_binary(&storage, &env).await;
    *api.write().unwrap() = format!("http://{address}/api/v3");
    let expected = publishers.finish().await;
    assert_eq!(expected.len(), EVENTS);
    while !expected.iter().all(|guid| arrivals.contains_key(guid)) {
        record(&mut arrivals, receiver.next_of("push").await);
    }
    let twice = arrivals.values().filter(|count| **count > 1).count();
    let unacknowledged = arrivals
        .keys()
        .filter(|guid| !expected.contains(*guid))
        .count();
    println!(
        "crash test: {} events acknowledged, all delivered; {twice} arrived more than once; \
         {unacknowledged} unacknowledged (in flight at the kill) arrived too",
        expected.len()
    );
}

crate::harness::tests!(every_acknowledged_event_arrives_after_a_kill_9,);
