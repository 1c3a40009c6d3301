//! Hookpost's benchmark harness: starts the real `hookpost serve` (release build) on its
//! own temporary data directory (or, with `--database`, a fresh PostgreSQL database shared
//! by `--nodes` processes) and a minimal receiver on loopback, drives a load, and prints
//! figures. It measures; it asserts nothing.
//!
//! Scenarios:
//! - `throughput`: N events of ~1 KB published with concurrency C to H hooks; reports
//!   acknowledged publishes/s, end-to-end deliveries/s, publish→receipt latency, server CPU
//!   per delivery and peak RSS.
//! - `backlog`: N events queued while nothing delivers (the server runs `--deliver false`),
//!   then a delivering server starts on the same data: RSS while queued, drain rate.
//! - `latency`: events offered at a fixed rate; publish→receipt percentiles.
//! - `hostile`: owner A's hook points at a blackhole (accepts, never answers) and N of its
//!   events are queued; then owner B's healthy hook is offered events at a fixed rate:
//!   B's publish→receipt percentiles, while A's backlog waits.
//! - `rate-limit`: `--limited-events` events queued for owner A's hook limited to `--limit`
//!   deliveries/s, then the `throughput` load on owner B's unlimited hook beside it: B's
//!   deliveries/s (compare with `--limited-events 0`, interleaved) and the rate A received.
//! - `fifo`: `--events` events published one after the other (so commit order is publish
//!   order; round-robin over `--nodes`) to a FIFO hook whose receiver fails `--fail-per-mille`
//!   of first attempts at random, retry schedule `--fifo-retry`: whether every event was
//!   accepted in commit order, one request at a time, and how long it took.
//! - `scale`: one hook's log seeded with `--seed` attempts directly in the store (each its
//!   own event and delivery), then the delivery list timed over HTTP (first page, a page
//!   reached by following `cursor` 1,000 pages back, the filters with no match) and the
//!   `throughput` load run over the grown log (compare with `--seed 0`, interleaved), and
//!   the bytes on disk per delivery.
//! - `prune`: the same seeded log, made older than the server's one-day `--retention` with
//!   `--past-retention` (kept without it, the baseline), then `latency`'s load while the
//!   server prunes it: publish→receipt percentiles, CPU, and what the server's `/metrics`
//!   say retention deleted and how long its batches took.
//! - `failover`: one node takes `--events` events (keep them under the per-destination
//!   concurrency, 64, so all are in flight at once) to a receiver that holds every request;
//!   the other `--nodes` − 1 start, the first is killed with SIGKILL (a lone node is started
//!   again), the receiver starts answering, and the time from the kill until every event has
//!   arrived again is reported.
//! - `floor`: no server; what this machine charges at `--rate` per second for a thread's
//!   wake-up and for a synced write of `--payload-bytes`, the least any durable server
//!   spends per event at that rate (`latency`'s figures are compared with it).

mod floor;
mod measure;
mod payload;
mod publisher;
mod receiver;
mod scale;
mod server;
mod storage;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};

use measure::{Percentiles, ProcessUsage};
use publisher::{BENCH_REPOSITORY, Publisher, get_timed};
use receiver::{Blackhole, HoldingReceiver, OrderedReceiver, Receiver};
use server::{Nodes, Server};
use storage::Storage;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Scenario {
    Throughput,
    Backlog,
    Latency,
    Hostile,
    RateLimit,
    Fifo,
    Scale,
    Prune,
    Failover,
    Floor,
}

#[derive(Parser, Debug)]
#[command(about = "Measures a real hookpost serve against a local receiver")]
struct Args {
    #[arg(long, value_enum, default_value = "throughput")]
    scenario: Scenario,
    /// Events to publish (throughput, backlog; hostile: to the blackhole).
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// Publishes in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Hooks subscribed to each event (fan-out).
    #[arg(long, default_value_t = 1)]
    hooks: usize,
    /// Events offered per second (latency, hostile, floor).
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// How long to offer events (latency, hostile, floor).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Size of each event's payload (floor: of each synced write).
    #[arg(long, default_value_t = 1024)]
    payload_bytes: usize,
    /// The hookpost binary to run.
    #[arg(long, default_value = "target/release/hookpost")]
    binary: PathBuf,
    /// A `postgres://` URL of a PostgreSQL server: the run creates a database of its own
    /// there (and drops it after). Without it, the embedded SQLite database.
    #[arg(long)]
    database: Option<String>,
    /// `hookpost serve` processes sharing the database (PostgreSQL only).
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Events for the rate-limited hook (rate-limit; 0 runs without it, the baseline).
    #[arg(long, default_value_t = 1000)]
    limited_events: usize,
    /// The limited hook's `rate_limit`, deliveries per second (rate-limit).
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Per mille of first attempts the receiver fails (fifo).
    #[arg(long, default_value_t = 200)]
    fail_per_mille: u64,
    /// The FIFO hook's `retry_schedule` (fifo).
    #[arg(long, default_value = "1s")]
    fifo_retry: String,
    /// Attempts seeded into the log before measuring (scale, prune).
    #[arg(long, default_value_t = 5_000_000)]
    seed: u64,
    /// The seeded log is two days old, past the server's one-day `--retention`, so it is
    /// pruned while the load runs (prune; without it the same log is kept, the baseline).
    #[arg(long)]
    past_retention: bool,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    println!(
        "machine: {} cores, {}",
        measure::cores(),
        measure::cpu_model()
    );
    println!(
        "command: {}",
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    if let Scenario::Floor = args.scenario {
        // No server: the machine alone, on threads of its own that sleep between ticks.
        let (rate, seconds, bytes) = (args.rate, args.seconds, args.payload_bytes);
        tokio::task::spawn_blocking(move || floor::report(rate, seconds, bytes))
            .await
            .expect("the floor scenario does not panic");
        return;
    }
    if !args.binary.exists() {
        eprintln!(
            "{} does not exist: run `cargo build --release` first",
            args.binary.display()
        );
        std::process::exit(2);
    }
    if args.nodes > 1 && args.database.is_none() {
        eprintln!("--nodes needs --database: processes share work through PostgreSQL");
        std::process::exit(2);
    }
    let storage = Storage::create(args.database.as_deref()).await;
    println!("database: {}, {} node(s)", storage.describe(), args.nodes);
    match args.scenario {
        Scenario::Throughput => throughput(&args, &storage).await,
        Scenario::Backlog => backlog(&args, &storage).await,
        Scenario::Latency => latency(&args, &storage).await,
        Scenario::Hostile => hostile(&args, &storage).await,
        Scenario::RateLimit => rate_limit(&args, &storage).await,
        Scenario::Fifo => fifo(&args, &storage).await,
        Scenario::Scale => scale(&args, &storage).await,
        Scenario::Prune => prune(&args, &storage).await,
        Scenario::Failover => failover(&args, &storage).await,
        Scenario::Floor => unreachable!("measured above, without a database"),
    }
    storage.remove().await;
}

/// Creates `hooks` hooks on the receiver.
async fn subscribe(nodes: &Nodes, receiver: &Receiver, hooks: usize) {
    for _ in 0..hooks {
        nodes.first().create_hook(&receiver.url()).await;
    }
}

async fn throughput(args: &Args, storage: &Storage) {
    let receiver = Receiver::start(None).await;
    let server = Nodes::start(&args.binary, storage, args.nodes, true).await;
    subscribe(&server, &receiver, args.hooks).await;
    let expected = (args.events * args.hooks) as u64;
    let usage_before = server.usage();
    let database_before = measure::postgres_cpu_seconds();

    let publisher = Arc::new(Publisher::new(&server.apis(), args.payload_bytes));
    let started = Instant::now();
    let acks = publisher.publish_all(args.events, args.concurrency).await;
    let acknowledged_in = started.elapsed();
    receiver.wait_for(expected, Duration::from_secs(600)).await;
    let delivered_in = receiver.last_receipt().duration_since(started);
    let usage_after = server.usage();
    let database_cpu = storage
        .is_postgres()
        .then(|| measure::postgres_cpu_seconds() - database_before);

    let cpu = usage_after.cpu_seconds - usage_before.cpu_seconds;
    println!(
        "scenario: throughput, {} events x {} hooks, concurrency {}",
        args.events, args.hooks, args.concurrency
    );
    println!(
        "acknowledged publishes/s: {:.0}",
        args.events as f64 / acknowledged_in.as_secs_f64()
    );
    println!(
        "end-to-end deliveries/s: {:.0}",
        expected as f64 / delivered_in.as_secs_f64()
    );
    report_run(acks, &receiver, (cpu, database_cpu), expected, &usage_after);
    server.stop().await;
}

/// The figures every delivering run prints: latencies, CPU per delivery, peak memory.
fn report_run(
    acks: Vec<Duration>,
    receiver: &Receiver,
    (cpu, database_cpu): (f64, Option<f64>),
    deliveries: u64,
    usage: &ProcessUsage,
) {
    println!("publish ack latency: {}", Percentiles::of(acks));
    println!(
        "publish->receipt latency: {}",
        Percentiles::of(receiver.latencies())
    );
    println!(
        "server CPU: {cpu:.2} s ({:.3} ms per delivery)",
        cpu * 1000.0 / deliveries as f64
    );
    if let Some(database_cpu) = database_cpu {
        println!(
            "PostgreSQL CPU: {database_cpu:.2} s ({:.3} ms per delivery); server and PostgreSQL: {:.3} ms per delivery",
            database_cpu * 1000.0 / deliveries as f64,
            (cpu + database_cpu) * 1000.0 / deliveries as f64
        );
    }
    println!(
        "server peak RSS: {:.1} MB",
        usage.peak_rss_kb as f64 / 1024.0
    );
}

async fn backlog(args: &Args, storage: &Storage) {
    let receiver = Receiver::start(None).await;
    let queueing = Nodes::start(&args.binary, storage, args.nodes, false).await;
    subscribe(&queueing, &receiver, args.hooks).await;
    let publisher = Arc::new(Publisher::new(&queueing.apis(), args.payload_bytes));
    let started = Instant::now();
    publisher.publish_all(args.events, args.concurrency).await;
    let queued_in = started.elapsed();
    let queued_usage = queueing.usage();
    queueing.stop().await;
    let expected = (args.events * args.hooks) as u64;
    println!(
        "scenario: backlog, {} events x {} hooks queued while nothing delivers",
        args.events, args.hooks
    );
    println!(
        "acknowledged publishes/s while queueing: {:.0}",
        args.events as f64 / queued_in.as_secs_f64()
    );
    println!(
        "RSS with {expected} deliveries queued: {:.1} MB (peak {:.1} MB)",
        queued_usage.rss_kb as f64 / 1024.0,
        queued_usage.peak_rss_kb as f64 / 1024.0
    );

    let pings = args.hooks as u64;
    receiver.reset();
    let draining = Nodes::start(&args.binary, storage, args.nodes, true).await;
    let drain_started = Instant::now();
    receiver.wait_for(expected, Duration::from_secs(900)).await;
    let drained_in = receiver.last_receipt().duration_since(drain_started);
    let usage = draining.usage();
    println!(
        "drain: {expected} deliveries in {:.2} s = {:.0} deliveries/s (pings already sent: {pings})",
        drained_in.as_secs_f64(),
        expected as f64 / drained_in.as_secs_f64()
    );
    println!(
        "server CPU while draining: {:.2} s ({:.3} ms per delivery)",
        usage.cpu_seconds,
        usage.cpu_seconds * 1000.0 / expected as f64
    );
    println!(
        "server peak RSS while draining: {:.1} MB",
        usage.peak_rss_kb as f64 / 1024.0
    );
    draining.stop().await;
}

/// What `--rate` events/s for `--seconds` to the benchmark repository came to.
struct Offered {
    acks: Vec<Duration>,
    cpu: f64,
    /// PostgreSQL's CPU over the same time, on PostgreSQL.
    database_cpu: Option<f64>,
    deliveries: u64,
    usage: ProcessUsage,
}

impl Offered {
    fn report(self, receiver: &Receiver) {
        report_run(
            self.acks,
            receiver,
            (self.cpu, self.database_cpu),
            self.deliveries,
            &self.usage,
        );
    }
}

/// Offers `--rate` events/s for `--seconds` to the benchmark repository and waits for every
/// delivery, measuring the server meanwhile.
async fn offer_at_rate(
    args: &Args,
    storage: &Storage,
    server: &Nodes,
    receiver: &Receiver,
) -> Offered {
    let usage_before = server.usage();
    let database_before = measure::postgres_cpu_seconds();
    let publisher = Arc::new(Publisher::new(&server.apis(), args.payload_bytes));
    let total = args.rate * args.seconds;
    let acks = publisher.publish_at_rate(args.rate, total).await;
    let deliveries = total * args.hooks as u64;
    receiver
        .wait_for(deliveries, Duration::from_secs(600))
        .await;
    let usage = server.usage();
    Offered {
        acks,
        cpu: usage.cpu_seconds - usage_before.cpu_seconds,
        database_cpu: storage
            .is_postgres()
            .then(|| measure::postgres_cpu_seconds() - database_before),
        deliveries,
        usage,
    }
}

async fn latency(args: &Args, storage: &Storage) {
    let receiver = Receiver::start(None).await;
    let server = Nodes::start(&args.binary, storage, args.nodes, true).await;
    subscribe(&server, &receiver, args.hooks).await;
    let offered = offer_at_rate(args, storage, &server, &receiver).await;
    println!(
        "scenario: latency, {} events/s offered for {} s to {} hooks",
        args.rate, args.seconds, args.hooks
    );
    offered.report(&receiver);
    server.stop().await;
}

async fn hostile(args: &Args, storage: &Storage) {
    const STUCK: &str = "alpha/stuck";
    let blackhole = Blackhole::start().await;
    let receiver = Receiver::start(None).await;
    let server = Nodes::start(&args.binary, storage, args.nodes, true).await;
    server.first().create_hook_on(STUCK, &blackhole.url()).await;
    subscribe(&server, &receiver, args.hooks).await;

    let stuck = Arc::new(Publisher::on(&server.apis(), args.payload_bytes, STUCK));
    let started = Instant::now();
    stuck.publish_all(args.events, args.concurrency).await;
    let queued_in = started.elapsed();

    let offered = offer_at_rate(args, storage, &server, &receiver).await;
    println!(
        "scenario: hostile, owner A queued {} events to a blackhole in {:.2} s; owner B offered {} events/s for {} s to {} hook(s)",
        args.events,
        queued_in.as_secs_f64(),
        args.rate,
        args.seconds,
        args.hooks
    );
    println!(
        "blackhole connections accepted: {} (owner A's attempts under way or timed out)",
        blackhole.accepted()
    );
    println!("owner B:");
    offered.report(&receiver);
    server.stop().await;
}

async fn rate_limit(args: &Args, storage: &Storage) {
    const LIMITED: &str = "alpha/limited";
    let limited = Receiver::start(None).await;
    let receiver = Receiver::start(None).await;
    let server = Nodes::start(&args.binary, storage, args.nodes, true).await;
    if args.limited_events > 0 {
        server
            .first()
            .create_limited_hook_on(LIMITED, &limited.url(), Some(args.limit))
            .await;
    }
    subscribe(&server, &receiver, args.hooks).await;
    let publisher = Arc::new(Publisher::on(&server.apis(), args.payload_bytes, LIMITED));
    publisher
        .publish_all(args.limited_events, args.concurrency)
        .await;

    let expected = (args.events * args.hooks) as u64;
    let publisher = Arc::new(Publisher::new(&server.apis(), args.payload_bytes));
    let started = Instant::now();
    publisher.publish_all(args.events, args.concurrency).await;
    receiver.wait_for(expected, Duration::from_secs(600)).await;
    let delivered_in = receiver.last_receipt().duration_since(started);
    println!(
        "scenario: rate-limit, owner A: {} events to a hook limited to {}/s; owner B: {} events x {} hooks, concurrency {}",
        args.limited_events, args.limit, args.events, args.hooks, args.concurrency
    );
    println!(
        "owner B end-to-end deliveries/s: {:.0}",
        expected as f64 / delivered_in.as_secs_f64()
    );
    if args.limited_events > 0 {
        let wait = Duration::from_secs(60 + 2 * args.limited_events as u64 / u64::from(args.limit));
        limited.wait_for(args.limited_events as u64, wait).await;
        let arrivals = limited.arrivals();
        let span = arrivals[arrivals.len() - 1].duration_since(arrivals[0]);
        // After the first second (the burst), the most that arrived in any one second.
        let after_burst: Vec<Instant> = arrivals
            .iter()
            .copied()
            .filter(|at| at.duration_since(arrivals[0]) >= Duration::from_secs(1))
            .collect();
        let busiest = after_burst
            .iter()
            .map(|at| {
                after_burst
                    .iter()
                    .filter(|other| {
                        **other <= *at && at.duration_since(**other) < Duration::from_secs(1)
                    })
                    .count()
            })
            .max()
            .unwrap_or(0);
        println!(
            "owner A received {} in {:.2} s: {:.1} deliveries/s overall; busiest second after the first: {busiest}",
            arrivals.len(),
            span.as_secs_f64(),
            arrivals.len() as f64 / span.as_secs_f64()
        );
    }
    server.stop().await;
}

async fn fifo(args: &Args, storage: &Storage) {
    let receiver = OrderedReceiver::start(args.fail_per_mille).await;
    let server = Nodes::start(&args.binary, storage, args.nodes, true).await;
    server
        .first()
        .create_hook_with(
            BENCH_REPOSITORY,
            serde_json::json!({"url": receiver.url(), "content_type": "json",
                               "ordering": "fifo", "retry_schedule": args.fifo_retry}),
        )
        .await;
    let publisher = Arc::new(Publisher::new(&server.apis(), args.payload_bytes));
    let started = Instant::now();
    // One at a time: each is committed before the next is published.
    publisher.publish_all(args.events, 1).await;
    let published_in = started.elapsed();
    let limit = Duration::from_secs(120 + args.events as u64 * 2);
    let (accepted, first_failures, most_held) = receiver.accepted(args.events, limit).await;
    let took = started.elapsed();
    let in_order = accepted.iter().copied().eq(0..args.events as u64);
    println!(
        "scenario: fifo, {} events published one after the other over {} node(s) in {:.2} s; {} per mille of first attempts fail, retry schedule {}",
        args.events,
        args.nodes,
        published_in.as_secs_f64(),
        args.fail_per_mille,
        args.fifo_retry
    );
    println!(
        "accepted {} of {} in {:.1} s; first attempts failed: {first_failures}; in commit order: {}; most requests at once: {most_held}",
        accepted.len(),
        args.events,
        took.as_secs_f64(),
        if in_order { "yes" } else { "NO" },
    );
    if !in_order {
        let first_wrong = accepted
            .iter()
            .enumerate()
            .find(|(index, n)| *index as u64 != **n);
        println!("first out of order: {first_wrong:?}");
    }
    server.stop().await;
}

/// The median of `samples`.
fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

/// The median of five answers to `url`.
async fn timed_five(url: &str) -> (u16, Duration) {
    let mut samples = Vec::with_capacity(5);
    let mut status = 0;
    for _ in 0..5 {
        let (answered, _, took) = get_timed(url).await;
        status = answered;
        samples.push(took);
    }
    (status, median(samples))
}

/// One hook on the benchmark repository, delivering to `receiver`, and its log grown by
/// `--seed` attempts (each event created `backdate_ms` before the first real one); no
/// server runs afterwards.
async fn seed_log(args: &Args, storage: &Storage, receiver: &Receiver, backdate_ms: i64) {
    // One real attempt, the seed's template.
    let server = Nodes::start(&args.binary, storage, 1, true).await;
    subscribe(&server, receiver, 1).await;
    Arc::new(Publisher::new(&server.apis(), args.payload_bytes))
        .publish_all(1, 1)
        .await;
    receiver.wait_for(1, Duration::from_secs(60)).await;
    server.stop().await;
    let started = Instant::now();
    scale::seed(storage, args.seed, backdate_ms).await;
    println!(
        "{} attempts seeded in {:.1} s",
        args.seed,
        started.elapsed().as_secs_f64()
    );
}

async fn scale(args: &Args, storage: &Storage) {
    let receiver = Receiver::start(None).await;
    println!("scenario: scale");
    seed_log(args, storage, &receiver, 0).await;

    let server = Nodes::start(&args.binary, storage, args.nodes, true).await;
    let log = format!(
        "{}/repos/{BENCH_REPOSITORY}/hooks/1/deliveries",
        server.first().api()
    );
    println!("delivery list, median of 5 answers (request sent to body read, over loopback):");
    for (name, query) in [
        ("first page", ""),
        ("status=failure (no match)", "?status=failure"),
        ("redelivery=true (no match)", "?redelivery=true"),
        ("status=success", "?status=success"),
    ] {
        let (status, took) = timed_five(&format!("{log}{query}")).await;
        println!(
            "  {name}: {:.2} ms (HTTP {status})",
            took.as_secs_f64() * 1000.0
        );
    }
    let mut page = log.clone();
    let mut followed = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let (_, next, took) = get_timed(&page).await;
        followed.push(took);
        match next {
            Some(next) => page = next,
            None => break,
        }
    }
    let pages = followed.len();
    let slowest = followed.iter().max().copied().unwrap_or_default();
    let (status, took) = timed_five(&page).await;
    println!(
        "  page {pages} by cursor: {:.2} ms (HTTP {status}); the {pages} pages followed: median {:.2} ms, slowest {:.2} ms",
        took.as_secs_f64() * 1000.0,
        median(followed).as_secs_f64() * 1000.0,
        slowest.as_secs_f64() * 1000.0
    );

    receiver.reset();
    let usage_before = server.usage();
    let started = Instant::now();
    let acks = Arc::new(Publisher::new(&server.apis(), args.payload_bytes))
        .publish_all(args.events, args.concurrency)
        .await;
    receiver
        .wait_for(args.events as u64, Duration::from_secs(600))
        .await;
    let delivered_in = receiver.last_receipt().duration_since(started);
    let usage_after = server.usage();
    println!(
        "over the grown log: end-to-end deliveries/s: {:.0}",
        args.events as f64 / delivered_in.as_secs_f64()
    );
    report_run(
        acks,
        &receiver,
        (usage_after.cpu_seconds - usage_before.cpu_seconds, None),
        args.events as u64,
        &usage_after,
    );
    server.stop().await;
    let deliveries = args.seed + 1 + args.events as u64;
    let (bytes, tables) = scale::stored_bytes(storage).await;
    let per_delivery = |bytes: u64| bytes as f64 / deliveries as f64;
    println!(
        "on disk: {:.2} GB for {deliveries} deliveries, {:.0} bytes per delivery",
        bytes as f64 / 1e9,
        per_delivery(bytes)
    );
    let largest: Vec<String> = tables
        .iter()
        .take(4)
        .map(|(table, bytes)| format!("{table} {:.0}", per_delivery(*bytes)))
        .collect();
    println!(
        "  by table, with its indexes, bytes per delivery: {}",
        largest.join(", ")
    );
}

/// The `prune` scenario's server keeps a day; its seeded log, made two days old with
/// `--past-retention`, is pruned as soon as it starts.
const PRUNE_RETENTION: [(&str, &str); 1] = [("HOOKPOST_RETENTION", "1day")];
const TWO_DAYS_MS: i64 = 2 * 86_400_000;

async fn prune(args: &Args, storage: &Storage) {
    let receiver = Receiver::start(None).await;
    println!(
        "scenario: prune, the seeded log {}",
        if args.past_retention {
            "past retention, pruned meanwhile"
        } else {
            "kept (the baseline)"
        }
    );
    let backdate = if args.past_retention { TWO_DAYS_MS } else { 0 };
    seed_log(args, storage, &receiver, backdate).await;
    let server = Nodes::start_with(&args.binary, storage, args.nodes, true, &PRUNE_RETENTION).await;
    receiver.reset();
    let offered = offer_at_rate(args, storage, &server, &receiver).await;
    println!(
        "{} events/s offered for {} s while the pruner ran",
        args.rate, args.seconds
    );
    offered.report(&receiver);
    let metrics = server.first().metrics().await;
    print_pruning(&metrics);
    server.stop().await;
}

/// What the first node's `/metrics` says retention did: events pruned, batches, their
/// mean, and how many took longer than a few of the histogram's bounds.
fn print_pruning(metrics: &str) {
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(0.0)
    };
    let pruned = value("hookpost_events_pruned_total ");
    let batches = value("hookpost_prune_batch_duration_seconds_count ");
    let seconds = value("hookpost_prune_batch_duration_seconds_sum ");
    println!(
        "pruned: {pruned:.0} events in {batches:.0} batches, {:.2} ms per batch on average",
        if batches > 0.0 {
            seconds * 1000.0 / batches
        } else {
            0.0
        }
    );
    // Cumulative counts by upper bound, as the histogram's bucket lines give them.
    let buckets: Vec<(f64, f64)> = metrics
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("hookpost_prune_batch_duration_seconds_bucket{le=\"")?;
            let (bound, count) = rest.split_once("\"} ")?;
            Some((bound.parse().ok()?, count.trim().parse().ok()?))
        })
        .collect();
    let over: Vec<String> = [0.004, 0.016, 0.064, 0.256]
        .iter()
        .map(|bound| {
            let within = buckets
                .iter()
                .filter(|(le, _)| *le <= bound * 1.000_001)
                .map(|(_, count)| *count)
                .fold(0.0, f64::max);
            format!("{:.0} over {bound} s", batches - within)
        })
        .collect();
    println!("  batches: {}", over.join(", "));
}

/// A lease far longer than the run: work comes back through liveness, not lease ends.
const FAILOVER_LEASE: [(&str, &str); 1] = [("HOOKPOST_LEASE", "600s")];

async fn failover(args: &Args, storage: &Storage) {
    let receiver = HoldingReceiver::start().await;
    let victim = Server::start_with(&args.binary, storage, true, &FAILOVER_LEASE).await;
    victim.create_hook(&receiver.url()).await;
    Arc::new(Publisher::new(&[victim.api()], args.payload_bytes))
        .publish_all(args.events, args.concurrency)
        .await;
    receiver
        .settle(Duration::from_secs(1), Duration::from_secs(30))
        .await;
    let in_flight = receiver.arrivals().len();
    let mut survivors = Vec::new();
    for _ in 1..args.nodes {
        survivors.push(Server::start_with(&args.binary, storage, true, &FAILOVER_LEASE).await);
    }
    // The survivors' first heartbeats.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let killed = Instant::now();
    victim.kill().await;
    if args.nodes == 1 {
        survivors.push(Server::start_with(&args.binary, storage, true, &FAILOVER_LEASE).await);
    }
    let started_again = killed.elapsed();
    receiver.release();
    let resumed = receiver
        .all_after(0..args.events as u64, killed, Duration::from_secs(120))
        .await;
    println!(
        "scenario: failover, {} events to one node, {in_flight} of them in flight at the receiver when it was killed (SIGKILL); {}",
        args.events,
        if args.nodes == 1 {
            format!(
                "a lone node started again (listening {:.2} s after the kill)",
                started_again.as_secs_f64()
            )
        } else {
            format!("{} other nodes live", args.nodes - 1)
        }
    );
    match resumed {
        Ok(last) => println!(
            "every event arrived again {:.2} s after the kill",
            last.duration_since(killed).as_secs_f64()
        ),
        Err(missing) => println!(
            "NOT resumed within 120 s: {} events missing, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(10)]
        ),
    }
    for survivor in survivors {
        survivor.stop().await;
    }
}
