//! A minimal, fast webhook receiver: answers 200 at once, counts deliveries, and measures
//! publish→receipt latency from the timestamp the publisher put in each payload; and a
//! blackhole, which accepts connections and never answers.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;

#[derive(Default)]
struct Stats {
    received: AtomicU64,
    latencies: Mutex<Vec<Duration>>,
    /// When each delivery arrived.
    arrivals: Mutex<Vec<Instant>>,
    last: Mutex<Option<Instant>>,
    arrived: Notify,
}

pub struct Receiver {
    address: SocketAddr,
    stats: Arc<Stats>,
}

/// The number after the first `key` (`"t":`) of a payload, found without parsing JSON.
fn number_after<N: std::str::FromStr>(body: &[u8], key: &[u8]) -> Option<N> {
    let start = body.windows(key.len()).position(|w| w == key)? + key.len();
    let digits = body[start..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    std::str::from_utf8(&body[start..start + digits])
        .ok()?
        .parse()
        .ok()
}

/// The `"t":<nanos>` the publisher wrote at the start of the payload.
fn sent_at(body: &[u8]) -> Option<u128> {
    number_after(body, b"\"t\":")
}

/// Binds a free loopback port.
async fn bind() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("the receiver binds");
    let address = listener.local_addr().expect("a local address");
    (listener, address)
}

/// Serves HTTP/1.1 on `listener` until the run ends: `answer` gets each request and says
/// the status of its (empty) response.
fn serve<A, F>(listener: TcpListener, answer: A)
where
    A: Fn(hyper::Request<hyper::body::Incoming>) -> F + Clone + Send + Sync + 'static,
    F: std::future::Future<Output = u16> + Send + 'static,
{
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let status = answer(request);
                    async move {
                        let mut response = hyper::Response::new(Empty::<Bytes>::new());
                        *response.status_mut() =
                            hyper::StatusCode::from_u16(status.await).expect("a status");
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

/// The whole body of `request` (empty if it broke off).
async fn body(request: hyper::Request<hyper::body::Incoming>) -> Bytes {
    request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default()
}

impl Receiver {
    pub async fn start(port: Option<u16>) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port.unwrap_or(0)))
            .await
            .expect("the receiver binds");
        let address = listener.local_addr().expect("a local address");
        let stats = Arc::new(Stats::default());
        let shared = stats.clone();
        serve(listener, move |request| {
            let stats = shared.clone();
            async move {
                let is_ping = request
                    .headers()
                    .get("x-github-event")
                    .is_some_and(|e| e == "ping");
                let body = body(request).await;
                if !is_ping {
                    stats.record(&body);
                }
                200
            }
        });
        Receiver { address, stats }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.address)
    }

    /// Forgets what was counted so far.
    pub fn reset(&self) {
        self.stats.received.store(0, Ordering::SeqCst);
        self.stats.latencies.lock().unwrap().clear();
        self.stats.arrivals.lock().unwrap().clear();
    }

    pub async fn wait_for(&self, count: u64, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let arrived = self.stats.arrived.notified();
            if self.stats.received.load(Ordering::SeqCst) >= count {
                return;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!(
                    "only {} of {count} deliveries arrived within {limit:?}",
                    self.stats.received.load(Ordering::SeqCst)
                );
            }
        }
    }

    pub fn last_receipt(&self) -> Instant {
        self.stats.last.lock().unwrap().unwrap_or_else(Instant::now)
    }

    pub fn latencies(&self) -> Vec<Duration> {
        self.stats.latencies.lock().unwrap().clone()
    }

    /// When each delivery arrived, in order.
    pub fn arrivals(&self) -> Vec<Instant> {
        self.stats.arrivals.lock().unwrap().clone()
    }
}

impl Stats {
    fn record(&self, body: &[u8]) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        if let Some(sent) = sent_at(body) {
            let latency = Duration::from_nanos(now.saturating_sub(sent) as u64);
            self.latencies.lock().unwrap().push(latency);
        }
        let arrived = Instant::now();
        self.arrivals.lock().unwrap().push(arrived);
        *self.last.lock().unwrap() = Some(arrived);
        self.received.fetch_add(1, Ordering::SeqCst);
        self.arrived.notify_waiters();
    }
}

/// A receiver that accepts connections, reads nothing and never answers: every attempt to
/// it lasts until the sender's deadline.
pub struct Blackhole {
    address: SocketAddr,
    accepted: Arc<AtomicU64>,
}

/// The most connections a blackhole holds; older ones are dropped beyond it.
const BLACKHOLE_HOLDS: usize = 10_000;

impl Blackhole {
    pub async fn start() -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("the blackhole binds");
        let address = listener.local_addr().expect("a local address");
        let accepted = Arc::new(AtomicU64::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            let mut held = std::collections::VecDeque::new();
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                if held.len() == BLACKHOLE_HOLDS {
                    held.pop_front();
                }
                held.push_back(stream);
            }
        });
        Blackhole { address, accepted }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.address)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// A receiver for ordered delivery: fails the first attempt of a random share of events
/// (a fixed-seed generator, so runs compare), and records the order in which events were
/// first accepted and the most requests it held at once.
pub struct OrderedReceiver {
    address: SocketAddr,
    state: Arc<Mutex<Ordered>>,
    arrived: Arc<Notify>,
}

struct Ordered {
    /// Per mille of first attempts answered 500.
    fail_per_mille: u64,
    rng: u64,
    seen: std::collections::HashSet<u64>,
    first_failures: u64,
    accepted: Vec<u64>,
    holding: usize,
    most_held: usize,
}

impl Ordered {
    /// xorshift64: enough randomness for choosing failures, no dependency.
    fn next_random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// The status for a request carrying `n` (pings and others pass).
    fn answer(&mut self, n: Option<u64>) -> u16 {
        self.holding -= 1;
        let Some(n) = n else { return 200 };
        if self.seen.insert(n) && self.next_random() % 1000 < self.fail_per_mille {
            self.first_failures += 1;
            return 500;
        }
        self.accepted.push(n);
        200
    }
}

/// The `"n":<number>` the publisher wrote in the payload.
fn sequence(body: &[u8]) -> Option<u64> {
    number_after(body, b"\"n\":")
}

impl OrderedReceiver {
    pub async fn start(fail_per_mille: u64) -> Self {
        let (listener, address) = bind().await;
        let state = Arc::new(Mutex::new(Ordered {
            fail_per_mille,
            rng: 0x9E37_79B9_7F4A_7C15,
            seen: std::collections::HashSet::new(),
            first_failures: 0,
            accepted: Vec::new(),
            holding: 0,
            most_held: 0,
        }));
        let arrived = Arc::new(Notify::new());
        let (shared, notify) = (state.clone(), arrived.clone());
        serve(listener, move |request| {
            let (state, notify) = (shared.clone(), notify.clone());
            async move {
                {
                    let mut state = state.lock().unwrap();
                    state.holding += 1;
                    state.most_held = state.most_held.max(state.holding);
                }
                let body = body(request).await;
                let status = state.lock().unwrap().answer(sequence(&body));
                notify.notify_waiters();
                status
            }
        });
        OrderedReceiver {
            address,
            state,
            arrived,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.address)
    }

    /// Waits until `count` events were accepted (or `limit` passes); returns them in the
    /// order accepted, how many first attempts failed, and the most requests held at once.
    pub async fn accepted(&self, count: usize, limit: Duration) -> (Vec<u64>, u64, usize) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let arrived = self.arrived.notified();
            {
                let state = self.state.lock().unwrap();
                if state.accepted.len() >= count || tokio::time::Instant::now() >= deadline {
                    return (
                        state.accepted.clone(),
                        state.first_failures,
                        state.most_held,
                    );
                }
            }
            let _ = tokio::time::timeout_at(deadline, arrived).await;
        }
    }
}

/// A receiver that can hold every request unanswered until released (a receiver that is
/// slow at the moment a node dies), and records when each event (`"n"` in its payload)
/// arrived: what a failover is timed with.
pub struct HoldingReceiver {
    address: SocketAddr,
    holding: tokio::sync::watch::Sender<bool>,
    arrivals: Arc<Mutex<Vec<(u64, Instant)>>>,
    arrived: Arc<Notify>,
}

impl HoldingReceiver {
    /// Starts holding.
    pub async fn start() -> Self {
        let (listener, address) = bind().await;
        let (holding, _) = tokio::sync::watch::channel(true);
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let (gate, shared, notify) = (holding.clone(), arrivals.clone(), arrived.clone());
        serve(listener, move |request| {
            let (mut gate, arrivals, notify) = (gate.subscribe(), shared.clone(), notify.clone());
            async move {
                if let Some(n) = sequence(&body(request).await) {
                    arrivals.lock().unwrap().push((n, Instant::now()));
                    notify.notify_waiters();
                }
                let _ = gate.wait_for(|holding| !*holding).await;
                200
            }
        });
        HoldingReceiver {
            address,
            holding,
            arrivals,
            arrived,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.address)
    }

    /// Answers every held request, and every later one at once.
    pub fn release(&self) {
        self.holding.send_replace(false);
    }

    /// The events that arrived so far, each with when it arrived, in order.
    pub fn arrivals(&self) -> Vec<(u64, Instant)> {
        self.arrivals.lock().unwrap().clone()
    }

    /// Waits until no event has arrived for `quiet` (or `limit` passes).
    pub async fn settle(&self, quiet: Duration, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            let arrived = self.arrived.notified();
            if tokio::time::timeout(quiet, arrived).await.is_err() {
                return;
            }
        }
    }

    /// Waits until every event of `events` has arrived after `since` (or `limit` passes);
    /// returns when the last of them arrived, or the events still missing.
    pub async fn all_after(
        &self,
        events: std::ops::Range<u64>,
        since: Instant,
        limit: Duration,
    ) -> Result<Instant, Vec<u64>> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let arrived = self.arrived.notified();
            let mut first_after = std::collections::HashMap::new();
            for (n, at) in self.arrivals() {
                if at > since {
                    first_after.entry(n).or_insert(at);
                }
            }
            let missing: Vec<u64> = events
                .clone()
                .filter(|n| !first_after.contains_key(n))
                .collect();
            if missing.is_empty() {
                return Ok(first_after.into_values().max().unwrap_or(since));
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return Err(missing);
            }
        }
    }
}
