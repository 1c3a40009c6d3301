//! A database outage under a steady publish load: PostgreSQL is reached through a proxy
//! the test cuts (every connection dropped, new ones refused) and restores, so the server
//! other tests share is never touched. Publishes during the outage are `503` with
//! `Retry-After` (never `500`), `/readyz` says not ready, and every acknowledged event
//! arrives, the attempts made during the outage recorded as soon as the database is back
//! (the lease is far longer than the test waits).

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::helpers::{Storage, http_client, spawn_binary};
use crate::receiver::TestReceiver;

const TOKEN: &str = "hp_outage_admin_token";
const EVENTS: usize = 150;
/// Publishes between the cut and the restore (20 ms apart).
const CUT_AT: usize = 50;
const RESTORE_AT: usize = 100;

/// A TCP proxy whose connections the test can cut.
struct Proxy {
    address: SocketAddr,
    cut: watch::Sender<bool>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (cut, watching) = watch::channel(false);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if *watching.borrow() {
                    continue; // Refused: dropped at once.
                }
                let mut cut = watching.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Proxy { address, cut }
    }

    fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }
}

async fn a_database_outage_is_503_and_loses_nothing_acknowledged() {
    let storage = Storage::new().await;
    let mut url = url::Url::parse(storage.database_url().expect("a PostgreSQL storage")).unwrap();
    let target = url.socket_addrs(|| Some(5432)).unwrap()[0];
    let proxy = Proxy::start(target).await;
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(proxy.address.port())).unwrap();
    let (_node, address) = spawn_binary(
        &storage,
        &[
            ("HOOKPOST_DATABASE", url.as_str()),
            ("HOOKPOST_ADMIN_TOKEN", TOKEN),
            ("HOOKPOST_ALLOW_TARGET", "127.0.0.0/8"),
            ("HOOKPOST_LEASE", "300s"),
        ],
    )
    .await;
    let origin = format!("http://{address}");
    let client = http_client();
    let receiver = TestReceiver::start().await;
    let created = client
        .post(format!("{origin}/api/v3/repos/acme/widgets/hooks"))
        .bearer_auth(TOKEN)
        .json(&json!({"events": ["push"], "config": {"url": receiver.url}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    receiver.next_of("ping").await;

    let ready = async || {
        client
            .get(format!("{origin}/readyz"))
            .send()
            .await
            .unwrap()
            .status()
    };
    let mut acknowledged = HashSet::new();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for n in 0..EVENTS {
        if n == CUT_AT {
            proxy.set_cut(true);
            assert_eq!(ready().await, StatusCode::SERVICE_UNAVAILABLE);
        }
        if n == RESTORE_AT {
            proxy.set_cut(false);
        }
        let answer = client
            .post(format!("{origin}/api/v3/events"))
            .bearer_auth(TOKEN)
            .json(&json!({"event": "push", "repository": "acme/widgets", "payload": {"n": n}}))
            .send()
            .await
            .unwrap();
        let status = answer.status();
        *statuses.entry(status.as_u16()).or_default() += 1;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(answer.headers().contains_key("retry-after"));
            let body: serde_json::Value = answer.json().await.unwrap();
            assert_eq!(body["status"], "503", "GitHub's error shape: {body}");
        } else if status == StatusCode::ACCEPTED {
            let body: serde_json::Value = answer.json().await.unwrap();
            acknowledged.insert(body["id"].as_str().unwrap().to_owned());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        statuses.keys().all(|status| [202, 503].contains(status)),
        "only 202 and 503: {statuses:?}"
    );
    assert!(
        statuses.get(&503).is_some_and(|count| *count > 0),
        "{statuses:?}"
    );
    assert!(
        acknowledged.len() >= EVENTS - (RESTORE_AT - CUT_AT),
        "{statuses:?}"
    );

    let mut arrived = HashSet::new();
    while !acknowledged.is_subset(&arrived) {
        let received = receiver.next_of("push").await;
        arrived.insert(received.header("x-github-delivery").unwrap().to_owned());
    }
    assert_eq!(ready().await, StatusCode::OK);
}

crate::harness::tests!(a_database_outage_is_503_and_loses_nothing_acknowledged,);
