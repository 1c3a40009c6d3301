//! Three `hookpost serve` processes on one PostgreSQL database: events are published
//! round-robin through all of them, one is killed with SIGKILL mid-run, and every
//! acknowledged event still arrives; every node's API shows the same hooks and log.

use std::collections::{HashMap, HashSet};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Storage, get_page_as, http_client, spawn_binary};
use crate::publishers::Publishers;
use crate::receiver::{Received, TestReceiver};

const EVENTS: usize = 5000;
const NODES: usize = 3;
const TOKEN: &str = "hp_cluster_admin_token";
/// Pushes received before the third node is killed.
const KILL_AFTER: usize = 1500;

/// Starts a node of the cluster; returns the process and its API base URL.
async fn node(storage: &Storage) -> (tokio::process::Child, String) {
    let (child, address) = spawn_binary(
        storage,
        &[
            ("HOOKPOST_ADMIN_TOKEN", TOKEN),
            ("HOOKPOST_ALLOW_TARGET", "127.0.0.0/8"),
            // A dead node's leases come back after this long.
            ("HOOKPOST_LEASE", "3s"),
        ],
    )
    .await;
    (child, format!("http://{address}"))
}

/// Attempts this node has made, from its `/metrics`.
async fn attempts_made(client: &reqwest::Client, origin: &str) -> f64 {
    crate::helpers::metric_total(client, origin, "hookpost_delivery_attempts_total").await
}

/// Every guid in the hook's delivery log, read through one node's API.
async fn logged_guids(client: &reqwest::Client, origin: &str, hook_id: &Value) -> HashSet<String> {
    let mut url = Some(format!(
        "{origin}/api/v3/repos/acme/widgets/hooks/{hook_id}/deliveries?per_page=100"
    ));
    let mut guids = HashSet::new();
    while let Some(next) = url {
        let (following, items) = get_page_as(client, TOKEN, &next).await;
        guids.extend(
            items
                .iter()
                .filter(|item| item["event"] == "push")
                .map(|item| item["guid"].as_str().unwrap().to_owned()),
        );
        url = following;
    }
    guids
}

async fn three_nodes_share_the_work_and_a_kill_9_loses_nothing() {
    let storage = Storage::new().await;
    let mut nodes = Vec::new();
    for _ in 0..NODES {
        nodes.push(node(&storage).await);
    }
    let origins: Vec<String> = nodes.iter().map(|(_, origin)| origin.clone()).collect();
    let client = http_client();
    let receiver = TestReceiver::start().await;
    let created = client
        .post(format!("{}/api/v3/repos/acme/widgets/hooks", origins[0]))
        .bearer_auth(TOKEN)
        .json(&json!({"events": ["push"], "config": {"url": receiver.url, "content_type": "json"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let hook: Value = created.json().await.unwrap();
    receiver.next_of("ping").await;

    // Event n goes to node n % 3; when that node is gone, to the next one.
    let targets = origins.clone();
    let publishers = Publishers::start(&client, TOKEN, EVENTS, 12, move |n, attempt| {
        format!("{}/api/v3/events", targets[(n + attempt) % NODES])
    });

    let mut arrivals: HashMap<String, usize> = HashMap::new();
    fn record(arrivals: &mut HashMap<String, usize>, received: Received) {
        let guid = received.header("x-github-delivery").unwrap().to_owned();
        *arrivals.entry(guid).or_default() += 1;
    }
    for _ in 0..KILL_AFTER {
        record(&mut arrivals, receiver.next_of("push").await);
    }
    let (mut victim, _) = nodes.pop().unwrap();
    let pid = victim.id().unwrap().to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    victim.wait().await.unwrap();

    let expected = publishers.finish().await;
    assert_eq!(expected.len(), EVENTS);
    while !expected.iter().all(|guid| arrivals.contains_key(guid)) {
        record(&mut arrivals, receiver.next_of("push").await);
    }
    let duplicates: usize = arrivals.values().map(|count| count - 1).sum();
    let twice = arrivals.values().filter(|count| **count > 1).count();
    let unacknowledged = arrivals
        .keys()
        .filter(|guid| !expected.contains(*guid))
        .count();

    // The survivors both delivered; a node started again joins in on the same database.
    let mut made = Vec::new();
    for (_, origin) in &nodes {
        made.push(attempts_made(&client, origin).await);
    }
    assert!(
        made.iter().all(|count| *count > 0.0),
        "every surviving node delivered: {made:?}"
    );
    nodes.push(node(&storage).await);
    for (_, origin) in &nodes {
        let hooks: Value = client
            .get(format!("{origin}/api/v3/repos/acme/widgets/hooks"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(hooks.as_array().unwrap().len(), 1, "{origin}");
        assert_eq!(hooks[0]["id"], hook["id"]);
        let logged = logged_guids(&client, origin, &hook["id"]).await;
        assert!(
            expected.is_subset(&logged),
            "{origin} lists every delivery: {} of {}",
            expected.intersection(&logged).count(),
            expected.len()
        );
    }
    println!(
        "cluster test: {NODES} nodes, {} events acknowledged, all delivered; one node killed \
         after {KILL_AFTER} arrivals; {duplicates} duplicate arrivals ({twice} events more than \
         once); {unacknowledged} unacknowledged arrived too; attempts by the survivors: {made:?}",
        expected.len()
    );
}

/// Work queued through one process wakes another at once: a node that only serves the API
/// takes the events, a second node delivers them, and its timer alone (a lease of ten
/// minutes) would not have woken it for minutes.
async fn work_queued_on_one_node_wakes_another_at_once() {
    let storage = std::sync::Arc::new(Storage::new().await);
    let api_only = crate::helpers::start(&storage, |_| {}).await;
    let _delivering = crate::helpers::start(&storage, |config| {
        config.delivery.deliver = true;
        config.delivery.allow_target = vec!["127.0.0.0/8".parse().unwrap()];
        config.delivery.lease = std::time::Duration::from_secs(600);
    })
    .await;
    let receiver = TestReceiver::start().await;
    // Let the delivering node's first, empty claim pass: from then on only a wake-up (or
    // ten minutes) makes it look again.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    api_only
        .create_hook(
            "/repos/acme/widgets/hooks",
            crate::helpers::ADMIN_TOKEN,
            &crate::helpers::hook_body(&receiver.url),
        )
        .await;
    // The receiver waits 20 s for each: only a wake-up from the other node's commit can
    // bring them that soon.
    receiver.next_of("ping").await;
    api_only
        .publish("push", "acme/widgets", json!({"n": 1}))
        .await;
    receiver.next_of("push").await;
}

/// A delivery that takes longer than a lease is not taken over by the other node: its
/// worker renews the lease while the receiver keeps it waiting.
async fn a_live_node_keeps_its_lease_however_long_the_receiver_takes() {
    let storage = std::sync::Arc::new(Storage::new().await);
    let delivering = |config: &mut hookpost::config::ServeConfig| {
        config.delivery.deliver = true;
        config.delivery.allow_target = vec!["127.0.0.0/8".parse().unwrap()];
        config.delivery.lease = std::time::Duration::from_secs(1);
        config.delivery.delivery_timeout = std::time::Duration::from_secs(4);
        config.delivery.retry_schedule = "none".parse().unwrap();
    };
    let first = crate::helpers::start(&storage, delivering).await;
    let _second = crate::helpers::start(&storage, delivering).await;
    let receiver = TestReceiver::start().await;
    let hook = first
        .create_hook(
            "/repos/acme/widgets/hooks",
            crate::helpers::ADMIN_TOKEN,
            &crate::helpers::hook_body(&receiver.url),
        )
        .await;
    receiver.next_of("ping").await;
    receiver.set(crate::receiver::Behaviour::Hang);
    first.publish("push", "acme/widgets", json!({"n": 1})).await;
    receiver.next_of("push").await;
    // Four leases pass while the receiver hangs; a lapsed lease would let the other node
    // send the push again.
    let path = format!("/repos/acme/widgets/hooks/{}", hook["id"]);
    let mut log = Vec::new();
    for _ in 0..100 {
        log = first.deliveries(&path).await;
        if log.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(log[0]["status"], "timed out", "{log:?}");
    assert_eq!(receiver.pending().await, 0, "the push was sent once");
}

/// A token revoked through one node is refused by another that had just accepted it (and
/// so holds it in its cache) once that cache may be trusted no longer.
async fn a_token_revoked_on_one_node_is_refused_by_another_within_a_second() {
    let storage = std::sync::Arc::new(Storage::new().await);
    let (first, second) = (
        crate::helpers::start(&storage, |_| {}).await,
        crate::helpers::start(&storage, |_| {}).await,
    );
    let token = second.owner_token(&["acme"]).await;
    let hooks = "/repos/acme/widgets/hooks";
    assert_eq!(second.get(hooks, &token).await.status, StatusCode::OK);
    let listed = first
        .get("/admin/tokens", crate::helpers::ADMIN_TOKEN)
        .await;
    let id = &listed.body[0]["id"];
    let revoked = first
        .delete(&format!("/admin/tokens/{id}"), crate::helpers::ADMIN_TOKEN)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    tokio::time::sleep(hookpost::auth::RECHECK_AFTER).await;
    assert_eq!(
        second.get(hooks, &token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        first.get(hooks, &token).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// A node killed with `kill -9` while its attempts hang has them made again by a node
/// started after it, within seconds: leases last ten minutes here, so only the dead node's
/// silent heartbeat can explain it.
async fn a_killed_nodes_work_is_resumed_within_seconds_not_at_lease_end() {
    let storage = Storage::new().await;
    let receiver = TestReceiver::start().await;
    receiver.set(crate::receiver::Behaviour::Hang);
    let node_env = [
        ("HOOKPOST_ADMIN_TOKEN", TOKEN),
        ("HOOKPOST_ALLOW_TARGET", "127.0.0.0/8"),
        ("HOOKPOST_LEASE", "600s"),
    ];
    let (mut first, address) = spawn_binary(&storage, &node_env).await;
    let client = http_client();
    let api = format!("http://{address}/api/v3");
    let created = client
        .post(format!("{api}/repos/acme/widgets/hooks"))
        .header("Authorization", format!("token {TOKEN}"))
        .json(&crate::helpers::hook_body(&receiver.url))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    for n in 0..3 {
        let published = client
            .post(format!("{api}/events"))
            .header("Authorization", format!("token {TOKEN}"))
            .json(&json!({"event": "push", "repository": "acme/widgets", "payload": {"n": n}}))
            .send()
            .await
            .unwrap();
        assert_eq!(published.status(), StatusCode::ACCEPTED);
    }
    // The ping and the three pushes are in flight at the first node, hanging.
    let next_guid = || async {
        let received = receiver.next().await;
        received.header("x-github-delivery").unwrap().to_owned()
    };
    let mut guids = HashSet::new();
    for _ in 0..4 {
        guids.insert(next_guid().await);
    }
    first.kill().await.unwrap();
    receiver.set(crate::receiver::Behaviour::Status(200));
    let (_second, _) = spawn_binary(&storage, &node_env).await;
    let started = std::time::Instant::now();
    let mut again = HashSet::new();
    while again.len() < guids.len() {
        // Each wait is bounded by the receiver (20 s): a lease end would be ten minutes.
        again.insert(next_guid().await);
    }
    assert_eq!(again, guids);
    eprintln!("resumed within {:?} of the kill", started.elapsed());
}

/// Two in-process delivering nodes on `storage`'s database.
async fn two_delivering_nodes(storage: &std::sync::Arc<Storage>) -> [crate::helpers::TestApp; 2] {
    let delivering = |config: &mut hookpost::config::ServeConfig| {
        config.delivery.deliver = true;
        config.delivery.allow_target = vec!["127.0.0.0/8".parse().unwrap()];
    };
    [
        crate::helpers::start(storage, delivering).await,
        crate::helpers::start(storage, delivering).await,
    ]
}

/// The attempts each of `nodes` has made, from their `/metrics`.
async fn attempts_by_node(nodes: &[crate::helpers::TestApp]) -> Vec<f64> {
    let mut made = Vec::with_capacity(nodes.len());
    for node in nodes {
        made.push(attempts_made(&http_client(), node.api.trim_end_matches("/api/v3")).await);
    }
    made
}

/// A hook limited to 5 per second, with events published through two delivering nodes
/// on one database: together they never send it more than its limit allows.
async fn a_rate_limit_holds_across_two_nodes() {
    let storage = std::sync::Arc::new(Storage::new().await);
    let nodes = two_delivering_nodes(&storage).await;
    let receiver = TestReceiver::start().await;
    let start = hookpost::domain::timestamp::Timestamp::now();
    nodes[0]
        .create_hook(
            "/repos/acme/widgets/hooks",
            crate::helpers::ADMIN_TOKEN,
            &json!({"config": {"url": receiver.url, "rate_limit": 5}}),
        )
        .await;
    for n in 0..19 {
        nodes[n % 2]
            .publish("push", "acme/widgets", json!({"n": n}))
            .await;
    }
    let times = crate::flow::receipts(&receiver, 20).await;
    crate::flow::assert_within_limit(&times, start, 5);
    let made = attempts_by_node(&nodes).await;
    eprintln!(
        "attempts by node: {made:?}; the last receipt {} ms after the start",
        times[19].0 - start.0
    );
}

/// A FIFO hook with events published through two delivering nodes on one database: the
/// receiver accepts every event in the order published (the order they were committed),
/// one request at a time, though the first attempt of every fourth event fails.
async fn a_fifo_hook_is_served_in_order_by_two_nodes() {
    let storage = std::sync::Arc::new(Storage::new().await);
    let nodes = two_delivering_nodes(&storage).await;
    let receiver = crate::flow::OrderReceiver::start((0..16).filter(|n| n % 4 == 1)).await;
    nodes[0]
        .create_hook(
            "/repos/acme/widgets/hooks",
            crate::helpers::ADMIN_TOKEN,
            &json!({"config": {"url": receiver.url, "content_type": "json",
                               "ordering": "fifo", "retry_schedule": "1s"}}),
        )
        .await;
    for n in 0..16 {
        nodes[n % 2]
            .publish("push", "acme/widgets", json!({"n": n}))
            .await;
    }
    let (accepted, most_held) = receiver.accepted(16).await;
    assert_eq!(accepted, (0..16).collect::<Vec<u64>>());
    assert_eq!(most_held, 1, "one at a time across both nodes");
    let made = attempts_by_node(&nodes).await;
    eprintln!("attempts by node: {made:?}");
}

crate::harness::tests!(
    a_fifo_hook_is_served_in_order_by_two_nodes,
    a_rate_limit_holds_across_two_nodes,
    a_killed_nodes_work_is_resumed_within_seconds_not_at_lease_end,
    a_token_revoked_on_one_node_is_refused_by_another_within_a_second,
    work_queued_on_one_node_wakes_another_at_once,
    a_live_node_keeps_its_lease_however_long_the_receiver_takes,
    ;
    MultiThread three_nodes_share_the_work_and_a_kill_9_loses_nothing,
);
