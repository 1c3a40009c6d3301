//! The producer: publishes ~1 KB events over keep-alive HTTP connections.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The admin token every server under test is started with.
pub const ADMIN_TOKEN: &str = "hp_bench_admin_token";
/// Where events are published unless a scenario says otherwise.
pub const BENCH_REPOSITORY: &str = "bench/repo";

fn client() -> &'static Client<HttpConnector, Full<Bytes>> {
    static CLIENT: OnceLock<Client<HttpConnector, Full<Bytes>>> = OnceLock::new();
    CLIENT.get_or_init(|| {
        Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1024)
            .build_http()
    })
}

/// POSTs `body` with the admin token; returns the status and the answer's text.
pub async fn post_json(url: &str, body: &str) -> (u16, String) {
    let request = hyper::Request::post(url)
        .header("Authorization", format!("Bearer {ADMIN_TOKEN}"))
        .header("Content-Type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("a valid request");
    answer_text(request).await
}

/// GETs `url` with the admin token; returns the status and the answer's text.
pub async fn get_text(url: &str) -> (u16, String) {
    let request = hyper::Request::get(url)
        .header("Authorization", format!("Bearer {ADMIN_TOKEN}"))
        .body(Full::new(Bytes::new()))
        .expect("a valid request");
    answer_text(request).await
}

/// Sends `request`; returns the answer's status and text.
async fn answer_text(request: hyper::Request<Full<Bytes>>) -> (u16, String) {
    let response = client().request(request).await.expect("hookpost answers");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// GETs `url` with the admin token; returns the status, the `Link` header's `rel="next"`
/// address, and how long the answer took (request sent to body read).
pub async fn get_timed(url: &str) -> (u16, Option<String>, Duration) {
    let request = hyper::Request::get(url)
        .header("Authorization", format!("Bearer {ADMIN_TOKEN}"))
        .body(Full::new(Bytes::new()))
        .expect("a valid request");
    let started = Instant::now();
    let response = client().request(request).await.expect("hookpost answers");
    let status = response.status().as_u16();
    let next = response
        .headers()
        .get("link")
        .and_then(|link| link.to_str().ok())
        .and_then(|link| {
            link.split(',')
                .find(|part| part.contains(r#"rel="next""#))
                .and_then(|part| part.split(['<', '>']).nth(1))
                .map(str::to_owned)
        });
    let _ = response.into_body().collect().await;
    (status, next, started.elapsed())
}

pub struct Publisher {
    /// `…/events` of every node: event n goes to node n mod nodes.
    urls: Vec<String>,
    /// The forge-shaped part of every payload (`payload::forge_like`).
    body: String,
    repository: String,
}

/// Nanoseconds since the Unix epoch: the receiver subtracts this from its own clock.
fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

impl Publisher {
    pub fn new(apis: &[String], payload_bytes: usize) -> Self {
        Self::on(apis, payload_bytes, BENCH_REPOSITORY)
    }

    /// Publishes on `repository` instead of [`BENCH_REPOSITORY`].
    pub fn on(apis: &[String], payload_bytes: usize, repository: &str) -> Self {
        Publisher {
            urls: apis.iter().map(|api| format!("{api}/events")).collect(),
            body: crate::payload::forge_like(payload_bytes.saturating_sub(60)),
            repository: repository.to_owned(),
        }
    }

    /// Publishes one event; returns how long the acknowledgement took.
    async fn publish(&self, n: usize) -> Duration {
        let started = Instant::now();
        // The timestamp leads the payload so the receiver finds it without parsing JSON.
        let body = format!(
            r#"{{"event":"push","repository":"{}","payload":{{"t":{},"n":{n},"pad":{}}}}}"#,
            self.repository,
            now_nanos(),
            self.body
        );
        let (status, answer) = post_json(&self.urls[n % self.urls.len()], &body).await;
        assert_eq!(status, 202, "publishing: {answer}");
        started.elapsed()
    }

    /// Publishes `count` events, `concurrency` at a time; returns the acknowledgement times.
    pub async fn publish_all(self: &Arc<Self>, count: usize, concurrency: usize) -> Vec<Duration> {
        let next = Arc::new(AtomicUsize::new(0));
        let acks = Arc::new(Mutex::new(Vec::with_capacity(count)));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..concurrency {
            let (publisher, next, acks) = (self.clone(), next.clone(), acks.clone());
            tasks.spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= count {
                        return;
                    }
                    let took = publisher.publish(n).await;
                    acks.lock().unwrap().push(took);
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        std::mem::take(&mut *acks.lock().unwrap())
    }

    /// Offers `count` events at `rate` per second, on schedule whatever the answers take.
    pub async fn publish_at_rate(self: &Arc<Self>, rate: u64, count: u64) -> Vec<Duration> {
        let acks = Arc::new(Mutex::new(Vec::with_capacity(count as usize)));
        let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..count as usize {
            ticker.tick().await;
            let (publisher, acks) = (self.clone(), acks.clone());
            tasks.spawn(async move {
                let took = publisher.publish(n).await;
                acks.lock().unwrap().push(took);
            });
        }
        while tasks.join_next().await.is_some() {}
        std::mem::take(&mut *acks.lock().unwrap())
    }
}
