//! Prometheus metrics, one registry per server (no global recorder), rendered as text at
//! `GET /metrics`. Labels are bounded: outcomes, methods, route templates and status codes,
//! never URLs; hook ids only for the [`BUSIEST_HOOKS`](crate::store::BUSIEST_HOOKS) hooks
//! with the most due deliveries, so 100,000 hooks make no more series than ten.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::store::QueueStats;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `success` or `failure`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HookLabels {
    pub hook_id: i64,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    /// The route template (`/api/v3/repos/{owner}/{repo}/hooks`), or `unmatched`.
    pub route: String,
    pub status: u16,
}

/// Everything Hookpost counts.
pub struct Metrics {
    /// Guarded only for rendering; the metrics themselves are atomics.
    registry: Mutex<Registry>,
    pub events_published: Counter,
    pub attempts: Family<OutcomeLabels, Counter>,
    pub attempt_duration: Histogram,
    pub http_requests: Family<RequestLabels, Counter>,
    pub deliveries_deferred: Counter,
    pub hooks_disabled: Counter,
    /// Retention's work: what it deleted, and how long each of its batches took from
    /// being asked for to its commit (on SQLite, writes queued behind it wait that long).
    pub events_pruned: Counter,
    pub prune_batch_duration: Histogram,
    deliveries_due: Gauge,
    deliveries_scheduled: Gauge,
    deliveries_held: Gauge,
    deliveries_in_line: Gauge,
    header_sets: Gauge,
    oldest_due_age: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// The busiest hooks' due deliveries, set anew at every rendering.
    hook_due: Family<HookLabels, Gauge>,
    hook_oldest_due_age: Family<HookLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("hookpost");
        let metrics = Metrics {
            events_published: Counter::default(),
            attempts: Family::default(),
            // 1 ms to ~16 s.
            attempt_duration: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            http_requests: Family::default(),
            deliveries_deferred: Counter::default(),
            hooks_disabled: Counter::default(),
            events_pruned: Counter::default(),
            // 0.25 ms to ~4 s.
            prune_batch_duration: Histogram::new(exponential_buckets(0.000_25, 2.0, 15)),
            deliveries_due: Gauge::default(),
            deliveries_scheduled: Gauge::default(),
            deliveries_held: Gauge::default(),
            deliveries_in_line: Gauge::default(),
            header_sets: Gauge::default(),
            oldest_due_age: Gauge::default(),
            hook_due: Family::default(),
            hook_oldest_due_age: Family::default(),
            registry: Mutex::new(Registry::default()),
        };
        registry.register(
            "events_published",
            "Events accepted for delivery",
            metrics.events_published.clone(),
        );
        registry.register(
            "delivery_attempts",
            "Delivery attempts made, by outcome",
            metrics.attempts.clone(),
        );
        registry.register(
            "delivery_attempt_duration_seconds",
            "How long delivery attempts took",
            metrics.attempt_duration.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests served, by route and status",
            metrics.http_requests.clone(),
        );
        registry.register(
            "deliveries_deferred",
            "Claimed deliveries handed back to wait in the database because their destination was busy",
            metrics.deliveries_deferred.clone(),
        );
        registry.register(
            "hooks_disabled",
            "Hooks disabled by --disable-after because every attempt failed for that long",
            metrics.hooks_disabled.clone(),
        );
        registry.register(
            "events_pruned",
            "Events deleted by --retention, with their deliveries and attempts",
            metrics.events_pruned.clone(),
        );
        registry.register(
            "prune_batch_duration_seconds",
            "How long each of --retention's delete batches took, from asking to commit",
            metrics.prune_batch_duration.clone(),
        );
        registry.register(
            "deliveries_due",
            "Deliveries due now and not leased",
            metrics.deliveries_due.clone(),
        );
        registry.register(
            "deliveries_scheduled",
            "Deliveries waiting for a later attempt",
            metrics.deliveries_scheduled.clone(),
        );
        registry.register(
            "deliveries_held",
            "Deliveries held for hooks disabled by --disable-after, sent when they are re-activated",
            metrics.deliveries_held.clone(),
        );
        registry.register(
            "deliveries_in_line",
            "Deliveries waiting behind the head of a FIFO hook's line",
            metrics.deliveries_in_line.clone(),
        );
        registry.register(
            "request_header_sets",
            "Request-header templates stored once and referenced by attempts (a few per hook and event type)",
            metrics.header_sets.clone(),
        );
        registry.register(
            "oldest_due_delivery_age_seconds",
            "How long the oldest due delivery has been waiting",
            metrics.oldest_due_age.clone(),
        );
        registry.register(
            "hook_deliveries_due",
            "Deliveries due now, for the ten hooks with the most",
            metrics.hook_due.clone(),
        );
        registry.register(
            "hook_oldest_due_delivery_age_seconds",
            "How long the oldest due delivery has been waiting, for the ten hooks with the most due",
            metrics.hook_oldest_due_age.clone(),
        );
        *metrics.registry.lock().expect("not poisoned") = registry;
        metrics
    }
}

impl Metrics {
    pub fn record_attempt(&self, succeeded: bool, seconds: f64) {
        let outcome = if succeeded { "success" } else { "failure" };
        self.attempts
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
        self.attempt_duration.observe(seconds);
    }

    pub fn record_deferred(&self, deliveries: usize) {
        self.deliveries_deferred
            .inc_by(u64::try_from(deliveries).unwrap_or(u64::MAX));
    }

    /// The Prometheus text exposition, with the queue gauges taken from `queue`.
    pub fn render(&self, queue: &QueueStats) -> String {
        // Held while the gauges are set too, so that concurrent renderings don't mix.
        let registry = self.registry.lock().expect("not poisoned");
        self.deliveries_due
            .set(i64::try_from(queue.due).unwrap_or(i64::MAX));
        self.deliveries_scheduled
            .set(i64::try_from(queue.scheduled).unwrap_or(i64::MAX));
        self.deliveries_held
            .set(i64::try_from(queue.held).unwrap_or(i64::MAX));
        self.deliveries_in_line
            .set(i64::try_from(queue.in_line).unwrap_or(i64::MAX));
        self.header_sets
            .set(i64::try_from(queue.header_sets).unwrap_or(i64::MAX));
        self.oldest_due_age.set(queue.oldest_due_age_seconds);
        // Hooks that left the top since the last rendering lose their series.
        self.hook_due.clear();
        self.hook_oldest_due_age.clear();
        for hook in &queue.busiest_hooks {
            let labels = HookLabels {
                hook_id: hook.hook_id.0,
            };
            self.hook_due
                .get_or_create(&labels)
                .set(i64::try_from(hook.due).unwrap_or(i64::MAX));
            self.hook_oldest_due_age
                .get_or_create(&labels)
                .set(hook.oldest_due_age_seconds);
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry)
            .expect("writing to a String cannot fail");
        text
    }
}
