//! `kill -9` at any moment loses nothing acknowledged: the real binary is killed while
//! deliveries are under way and restarted on the same storage.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::helpers::{Storage, spawn_binary};
use crate::receiver::TestReceiver;

const EVENTS: usize = 2000;
const TOKEN: &str = "hp_crash_test_admin";

#[tokio::test]
async fn every_acknowledged_event_arrives_after_a_kill_9() {
    if crate::helpers::skip_without_backend() {
        return;
    }
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
    let acknowledged = Arc::new(Mutex::new(HashSet::new()));
    let slots = Arc::new(Semaphore::new(8));
    let mut publishers = JoinSet::new();
    for n in 0..EVENTS {
        let (api, client, acknowledged, slots) = (
            api.clone(),
            client.clone(),
            acknowledged.clone(),
            slots.clone(),
        );
        publishers.spawn(async move {
            let _slot = slots.acquire().await.unwrap();
            for _ in 0..600 {
                let url = format!("{}/events", api.read().unwrap());
                let sent = client
                    .post(url)
                    .bearer_auth(TOKEN)
                    .json(&json!({"event": "push", "repository": "acme/widgets", "payload": {"n": n}}))
                    .send()
                    .await;
                if let Ok(response) = sent
                    && response.status() == reqwest::StatusCode::ACCEPTED
                {
                    let body: serde_json::Value = response.json().await.unwrap();
                    acknowledged.lock().unwrap().insert(body["id"].as_str().unwrap().to_owned());
                    return;
                }
                // The server is down (killed, restarting): back off and try again.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("event {n} was never acknowledged");
        });
    }

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
    while let Some(done) = publishers.join_next().await {
        done.unwrap();
    }
    let expected = acknowledged.lock().unwrap().clone();
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
