//! The HTTP server's limits, over raw sockets: a client that sends half a request head, or
//! idles on a kept-alive connection, is cut at the header deadline; one that stalls its body
//! at the body deadline; beyond the connection limit, clients wait to be accepted.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{ADMIN_TOKEN, TestApp, spawn_app_with};

/// Reads until the server closes the connection (at most 30 s, then the test fails);
/// returns what it sent.
async fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut received))
        .await
        .expect("the server closes the connection")
        .expect("the read ends cleanly");
    received
}

async fn app_with_header_deadline(header: Duration, most: Option<usize>) -> TestApp {
    spawn_app_with(|config| {
        config.connections.header_read_timeout = header;
        config.connections.max_connections = most;
    })
    .await
}

async fn a_half_sent_head_and_an_idle_keep_alive_are_cut_at_the_header_deadline() {
    let app = app_with_header_deadline(Duration::from_millis(300), None).await;
    let mut half = TcpStream::connect(app.address).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    assert!(
        until_closed(&mut half).await.is_empty(),
        "no answer to half a head"
    );

    let mut idle = TcpStream::connect(app.address).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answered = String::from_utf8(until_closed(&mut idle).await).unwrap();
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
}

async fn a_stalled_body_is_cut_at_the_body_deadline() {
    let app = spawn_app_with(|config| {
        config.connections.body_read_timeout = Duration::from_millis(300);
    })
    .await;
    let mut stalled = TcpStream::connect(app.address).await.unwrap();
    let head = format!(
        "POST /api/v3/events HTTP/1.1\r\nHost: x\r\nAuthorization: token {ADMIN_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"event\""
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    let answered = String::from_utf8(until_closed(&mut stalled).await).unwrap();
    assert!(
        answered.starts_with("HTTP/1.1 408"),
        "408, and the connection closed: {answered}"
    );
}

async fn beyond_the_connection_limit_clients_wait_their_turn() {
    let app = app_with_header_deadline(Duration::from_secs(60), Some(2)).await;
    let first = TcpStream::connect(app.address).await.unwrap();
    let _second = TcpStream::connect(app.address).await.unwrap();
    let third = tokio::spawn({
        let client = app.client.clone();
        let url = format!("http://{}/healthz", app.address);
        async move { client.get(url).send().await.map(|r| r.status()) }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !third.is_finished(),
        "served although two connections hold the limit"
    );
    drop(first);
    let status = tokio::time::timeout(Duration::from_secs(30), third)
        .await
        .expect("served once a connection closes")
        .unwrap()
        .unwrap();
    assert_eq!(status, reqwest::StatusCode::OK);
}

crate::harness::tests!(
    a_half_sent_head_and_an_idle_keep_alive_are_cut_at_the_header_deadline,
    a_stalled_body_is_cut_at_the_body_deadline,
    beyond_the_connection_limit_clients_wait_their_turn,
);
