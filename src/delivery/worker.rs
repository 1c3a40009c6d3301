//! The delivery worker: claims due deliveries under a lease, sends each in its own task,
//! records the attempt and schedules the next one.
//!
//! The claim loop sleeps until work is queued (a [`Notify`] poked by the API), a task frees
//! a slot, or the next scheduled retry or lease expiry is due: there is no polling interval
//! on the hot path. What is claimed goes through the [`Scheduler`]: deliveries in memory
//! are bounded, attempts in flight are bounded overall, per destination and per tenant, and
//! a destination that cannot take its work soon gets it back in the store, not in memory.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::DeliveryConfig;
use super::client::{AttemptResult, Transport};
use super::connect::Destination;
use super::outcome_log::OutcomeLog;
use super::retry::random_jitter;
use super::scheduler::{Deferred, Limits, Scheduler, Start, backlog_window};
use crate::domain::guard::Guard;
use crate::domain::retry::RetrySchedule;
use crate::domain::timestamp::Timestamp;
use crate::metrics::Metrics;
use crate::store::{
    AttemptRecord, ClaimedDelivery, DeliveryId, HookId, Postponed, Store, StoreError, Tenant,
};
use crate::wire::{self, WireSettings};

/// How often a worker says it is alive (PostgreSQL: its `nodes` row).
const HEARTBEAT: Duration = Duration::from_secs(1);
/// A worker silent this long is taken for dead, and its leased work is resumed by others.
/// Well above [`HEARTBEAT`], so that a busy node is not taken for dead (a node that is, yet
/// alive, only makes its in-flight attempts twice: delivery is at least once anyway).
const SILENT_AFTER: Duration = Duration::from_secs(3);

/// Most deliveries claimed in one transaction.
const CLAIM_BATCH: usize = 512;
/// The first and the longest wait before recording an attempt again while the database
/// cannot be reached.
const RECORD_RETRY_FIRST: Duration = Duration::from_millis(100);
const RECORD_RETRY_MOST: Duration = Duration::from_secs(1);
/// How often waiting lines are looked at again while deliveries wait in them: a
/// destination that got slower hands back what it can no longer start soon.
const REVIEW_LINES: Duration = Duration::from_millis(250);

pub struct Worker {
    /// Names this process's leases.
    id: String,
    store: Arc<dyn Store>,
    transport: Transport,
    wire: WireSettings,
    schedule: RetrySchedule,
    /// Poked by the API when work is queued.
    wake: Arc<Notify>,
    /// Poked by a delivery task when it finishes and frees its slot.
    freed: Notify,
    /// What is held in memory, and which attempt starts next.
    scheduler: Mutex<Scheduler<Destination, Tenant, ClaimedDelivery>>,
    /// The delivery tasks, awaited at shutdown.
    tasks: TaskTracker,
    /// Set at shutdown: no attempt starts after it.
    stopping: CancellationToken,
    /// Ids of claimed deliveries not yet recorded, released on shutdown.
    in_flight: Mutex<HashSet<DeliveryId>>,
    /// How long in-flight attempts may take to finish at shutdown.
    grace: Duration,
    /// How long a claim holds its deliveries; renewed every third of it while they wait or
    /// are sent, so that only a dead process's leases ever run out.
    lease: Duration,
    metrics: Arc<Metrics>,
    /// Lines about failed attempts, rate-limited.
    outcomes: OutcomeLog,
}

impl Worker {
    /// # Errors
    /// When the HTTP clients cannot be built.
    pub fn new(
        store: Arc<dyn Store>,
        config: &DeliveryConfig,
        aliases: Vec<String>,
        wake: Arc<Notify>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let guard = Arc::new(Guard::new(
            config.allow_private_targets,
            config.allow_target.clone(),
        ));
        let concurrency = config.concurrency.max(1);
        let limits = Limits {
            concurrency,
            per_destination: config.per_destination_concurrency.max(1),
            held: concurrency * 4,
        };
        Ok(Worker {
            id: uuid::Uuid::new_v4().to_string(),
            store,
            transport: Transport::new(guard, config.delivery_timeout)?,
            wire: WireSettings {
                user_agent: config.user_agent.clone(),
                aliases,
            },
            schedule: config.retry_schedule.clone(),
            wake,
            freed: Notify::new(),
            scheduler: Mutex::new(Scheduler::new(limits)),
            tasks: TaskTracker::new(),
            stopping: CancellationToken::new(),
            in_flight: Mutex::new(HashSet::new()),
            grace: config.delivery_timeout + Duration::from_secs(1),
            lease: config.lease.max(Duration::from_secs(1)),
            metrics,
            outcomes: OutcomeLog::default(),
        })
    }

    /// Claims every delivery due at `now` and delivers them, returning how many were
    /// attempted. The step tests drive with a clock of their own.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn run_once(self: &Arc<Self>, now: Timestamp) -> Result<usize, StoreError> {
        let lease_until = self.lease_end(now);
        let claim = self
            .store
            .claim_due(&self.id, now, lease_until, CLAIM_BATCH as u32)
            .await?;
        let count = claim.deliveries.len();
        let mut tasks = JoinSet::new();
        for delivery in claim.deliveries {
            let worker = self.clone();
            tasks.spawn(async move { worker.deliver(delivery, now).await });
        }
        while tasks.join_next().await.is_some() {}
        Ok(count)
    }

    /// Delivers until `shutdown`, then lets attempts under way finish (within the grace
    /// period) and hands back every delivery not attempted.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut next_due: Option<Timestamp> = None;
        // Work was queued since the last claim, or the last claim left more due behind: a
        // freed slot is then a reason to claim again; otherwise it is not, which spares a
        // claim transaction per finished delivery.
        let mut queued = true;
        let mut backlog = false;
        let mut renewals = tokio::time::interval(self.lease / 3);
        renewals.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let heartbeats = tokio::spawn(self.clone().beat(shutdown.clone()));
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let evicted = self.lock_scheduler().evict(Instant::now());
            self.defer(evicted).await;
            let room = self.lock_scheduler().room().min(CLAIM_BATCH);
            let due = next_due.is_some_and(|due| due <= Timestamp::now());
            if room > 0 && (queued || backlog || due) {
                let now = Timestamp::now();
                queued = false;
                match self
                    .store
                    .claim_due(&self.id, now, self.lease_end(now), room as u32)
                    .await
                {
                    Ok(claim) => {
                        backlog = claim.deliveries.len() + claim.throttled >= room;
                        next_due = claim.next_due;
                        self.admit(claim.deliveries).await;
                        if backlog {
                            continue;
                        }
                    }
                    Err(error) => {
                        tracing::error!(%error, "claiming deliveries failed; retrying in 1 s");
                        next_due = Some(Timestamp(now.0 + 1000));
                    }
                }
            }
            // With no room, only a freed slot can let us go on. Otherwise look again at
            // least once a lease: another process sharing the database may have died
            // holding leases this one has not seen.
            let mut sleep = match (room > 0, next_due) {
                (true, Some(due)) => {
                    let wait = u64::try_from(due.0 - Timestamp::now().0).unwrap_or(0);
                    Duration::from_millis(wait).min(self.lease)
                }
                (true, None) => self.lease,
                (false, _) => Duration::from_secs(3600),
            };
            if self.lock_scheduler().has_waiting() {
                sleep = sleep.min(REVIEW_LINES);
            }
            let sleep = tokio::time::Instant::now() + sleep;
            // Says how many lines about failed attempts a busy window left out when it ends,
            // even when no attempt follows it (an attempt that opens a window late moves the
            // end, so a fixed interval could write the summary a whole window later).
            let window_ends = tokio::time::Instant::from_std(self.outcomes.window_ends());
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.wake.notified() => queued = true,
                () = self.freed.notified() => {}
                _ = renewals.tick() => self.renew_leases().await,
                () = tokio::time::sleep_until(window_ends) => {
                    self.outcomes.close_window(Instant::now());
                }
                () = tokio::time::sleep_until(sleep) => queued = true,
            }
        }
        self.stopping.cancel();
        heartbeats.abort();
        let waiting = self.lock_scheduler().drain();
        let now = Timestamp::now();
        self.hand_back(
            waiting
                .into_iter()
                .map(|delivery| (delivery, Duration::ZERO))
                .collect(),
        )
        .await;
        self.tasks.close();
        if tokio::time::timeout(self.grace, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("attempts still under way after the grace period");
        }
        let unfinished: Vec<(DeliveryId, Timestamp)> = self
            .in_flight
            .lock()
            .expect("not poisoned")
            .drain()
            .map(|id| (id, now))
            .collect();
        if !unfinished.is_empty()
            && let Err(error) = self.store.release(&self.id, unfinished).await
        {
            tracing::warn!(%error, "could not release deliveries; their leases will expire");
        }
    }

    fn lock_scheduler(
        &self,
    ) -> std::sync::MutexGuard<'_, Scheduler<Destination, Tenant, ClaimedDelivery>> {
        self.scheduler
            .lock()
            .expect("the scheduler is never poisoned")
    }

    /// Queues claimed deliveries by destination, hands back what their destinations cannot
    /// take soon, and starts what can start.
    async fn admit(self: &Arc<Self>, deliveries: Vec<ClaimedDelivery>) {
        // One destination per hook of the claim (it never waits for DNS).
        let mut destinations: HashMap<HookId, Destination> = HashMap::new();
        let now = Instant::now();
        let mut deferred = Vec::new();
        {
            let mut scheduler = self.lock_scheduler();
            let mut in_flight = self.in_flight.lock().expect("not poisoned");
            for delivery in deliveries {
                let destination = destinations
                    .entry(delivery.target.hook_id)
                    .or_insert_with(|| self.transport.destination(&delivery.target.config.url))
                    .clone();
                let id = delivery.id;
                let tenant = delivery.target.tenant;
                match scheduler.offer(destination, tenant, delivery, now) {
                    Ok(()) => {
                        in_flight.insert(id);
                    }
                    Err(handed_back) => deferred.push(handed_back),
                }
            }
        }
        self.defer(deferred).await;
        self.start_ready();
    }

    /// Hands back what a busy destination cannot take soon, and postpones the rest of
    /// those hooks' due backlog with it (same URL, same busy destination), so that the next
    /// claims bring other hooks' work instead of more of theirs.
    async fn defer(&self, deliveries: Vec<Deferred<ClaimedDelivery>>) {
        if deliveries.is_empty() {
            return;
        }
        self.metrics.record_deferred(deliveries.len());
        let now = Timestamp::now();
        let mut longest: HashMap<HookId, Duration> = HashMap::new();
        for (delivery, wait) in &deliveries {
            let entry = longest.entry(delivery.target.hook_id).or_default();
            *entry = (*entry).max(*wait);
        }
        self.hand_back(deliveries).await;
        let hooks = longest
            .into_iter()
            .map(|(hook_id, wait)| {
                let (from, until) = backlog_window(wait);
                Postponed {
                    hook_id,
                    from: now.after(from),
                    until: now.after(until),
                }
            })
            .collect();
        if let Err(error) = self.store.postpone_hooks(hooks, now).await {
            tracing::warn!(%error, "could not postpone a busy destination's backlog");
        }
    }

    /// Gives deliveries back to the store, each due after its wait.
    async fn hand_back(&self, deliveries: Vec<Deferred<ClaimedDelivery>>) {
        if deliveries.is_empty() {
            return;
        }
        let now = Timestamp::now();
        let released: Vec<(DeliveryId, Timestamp)> = {
            let mut in_flight = self.in_flight.lock().expect("not poisoned");
            deliveries
                .iter()
                .map(|(delivery, wait)| {
                    in_flight.remove(&delivery.id);
                    (delivery.id, now.after(*wait))
                })
                .collect()
        };
        if let Err(error) = self.store.release(&self.id, released).await {
            tracing::warn!(%error, "could not hand deliveries back; their leases will expire");
        }
    }

    /// Starts every attempt the scheduler allows now, each in its own task.
    fn start_ready(self: &Arc<Self>) {
        loop {
            if self.stopping.is_cancelled() {
                return;
            }
            let Some(start) = self.lock_scheduler().next(Instant::now()) else {
                return;
            };
            let worker = self.clone();
            self.tasks.spawn(async move {
                let Start {
                    destination,
                    tenant,
                    item: delivery,
                    started,
                } = start;
                let id = delivery.id;
                let sent = worker.deliver(delivery, Timestamp::now()).await;
                // Recorded, or left to its lease; what shutdown interrupted is released.
                if !worker.stopping.is_cancelled() {
                    worker.in_flight.lock().expect("not poisoned").remove(&id);
                }
                // The destination's pace is its own: how long the exchange took, not the
                // record after it, which waits for the database.
                worker.lock_scheduler().finished(
                    &destination,
                    &tenant,
                    started,
                    sent.unwrap_or_else(Instant::now),
                );
                worker.freed.notify_one();
                worker.start_ready();
            });
        }
    }

    /// Extends the lease of every delivery held in memory.
    /// Says every [`HEARTBEAT`] that this worker is alive, and takes back the work of
    /// workers silent for [`SILENT_AFTER`]: a node that died or was restarted has its
    /// deliveries resumed by the others within seconds, not at the end of its leases.
    async fn beat(self: Arc<Self>, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(HEARTBEAT);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            match self
                .store
                .heartbeat(&self.id, Timestamp::now(), SILENT_AFTER)
                .await
            {
                Ok(0) => {}
                Ok(taken) => {
                    tracing::info!(taken, "took back the deliveries of a node that stopped");
                }
                Err(error) => tracing::debug!(%error, "could not send a heartbeat"),
            }
        }
    }

    async fn renew_leases(&self) {
        let held: Vec<DeliveryId> = self
            .in_flight
            .lock()
            .expect("not poisoned")
            .iter()
            .copied()
            .collect();
        if held.is_empty() {
            return;
        }
        let until = self.lease_end(Timestamp::now());
        if let Err(error) = self.store.renew_leases(&self.id, held, until).await {
            tracing::warn!(%error, "could not renew leases; other processes may take over those deliveries");
        }
    }

    fn lease_end(&self, now: Timestamp) -> Timestamp {
        now.after(self.lease)
    }

    /// One attempt of one delivery, recorded; returns when its exchange with the receiver
    /// ended (`None` when no request could be built).
    async fn deliver(&self, delivery: ClaimedDelivery, claimed_at: Timestamp) -> Option<Instant> {
        let span = tracing::info_span!(
            "deliver",
            delivery_id = delivery.id.0,
            hook_id = delivery.target.hook_id.0,
            guid = %delivery.event.guid
        );
        async {
            let outgoing = match wire::build(&delivery, &self.wire, Timestamp::now()) {
                Ok(outgoing) => outgoing,
                Err(error) => {
                    // Only a damaged database can hold such a URL: the attempt still ends,
                    // failed, and follows the schedule like any other.
                    tracing::error!(%error, "a stored hook URL does not parse");
                    let failed =
                        AttemptResult::without_response(format!("invalid request: {error}"));
                    let url = delivery.target.config.url.clone();
                    self.record(
                        &delivery,
                        claimed_at,
                        Timestamp::now(),
                        0,
                        failed,
                        (url, Vec::new()),
                    )
                    .await;
                    return None;
                }
            };
            let delivered_at = Timestamp::now();
            let started = std::time::Instant::now();
            // A panic in one attempt ends that attempt, failed, not the delivery's progress.
            let result = AssertUnwindSafe(
                self.transport
                    .send(&outgoing, delivery.target.config.insecure_ssl),
            )
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                AttemptResult::without_response(
                    "invalid request: the attempt could not be made".to_owned(),
                )
            });
            let sent = Instant::now();
            let elapsed = sent.duration_since(started);
            let duration_ms = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX);
            self.metrics
                .record_attempt(result.succeeded, elapsed.as_secs_f64());
            self.record(
                &delivery,
                claimed_at,
                delivered_at,
                duration_ms,
                result,
                outgoing.into_logged(),
            )
            .await;
            Some(sent)
        }
        .instrument(span)
        .await
    }

    /// One line about an attempt: `debug` when it succeeded, else `info` within the
    /// outcome log's rate limit, saying what happens next.
    fn log_outcome(
        &self,
        delivery: &ClaimedDelivery,
        result: &AttemptResult,
        next_attempt: Option<Timestamp>,
    ) {
        // The `deliver` span around this names the delivery, hook and event guid.
        let event = delivery.event.name.as_str();
        let attempt = delivery.attempts + 1;
        let status = result.status.as_str();
        if result.succeeded {
            tracing::debug!(event, attempt, status, "attempt succeeded");
            return;
        }
        if !self.outcomes.admit(Instant::now()) {
            return;
        }
        let what = if status.starts_with("blocked") {
            "attempt blocked by the destination guard"
        } else {
            "attempt failed"
        };
        let then = match next_attempt {
            Some(next) => format!("retrying at {}", next.to_github()),
            None if delivery.retry => "no retries left, the delivery has failed".to_owned(),
            None => "not retried (a ping, test push or redelivery)".to_owned(),
        };
        tracing::info!(event, attempt, status, "{what}; {then}");
    }

    /// Records `result` as the attempt of `delivery` and schedules its next one.
    async fn record(
        &self,
        delivery: &ClaimedDelivery,
        claimed_at: Timestamp,
        delivered_at: Timestamp,
        duration_ms: i64,
        result: AttemptResult,
        (url, request_headers): (String, Vec<(String, String)>),
    ) {
        let now = claimed_at.max(Timestamp::now());
        let next_attempt = if result.succeeded || !delivery.retry {
            None
        } else {
            // The hook's own schedule, else the server's.
            let schedule = delivery.target.config.retry_schedule.as_ref();
            schedule.unwrap_or(&self.schedule).next_attempt(
                delivery.attempts + 1,
                now,
                random_jitter(),
                result.retry_after,
            )
        };
        self.log_outcome(delivery, &result, next_attempt);
        let record = AttemptRecord {
            delivery_id: delivery.id,
            hook_id: delivery.target.hook_id,
            event_id: delivery.event.id,
            event_guid: delivery.event.guid.clone(),
            installation_id: delivery.installation_id,
            redelivery: delivery.redelivery || delivery.attempts > 0,
            retry: delivery.retry,
            delivered_at,
            duration_ms,
            status: result.status,
            status_code: result.status_code,
            url,
            request_headers,
            response_headers: result.headers,
            response_body: result.body,
            throttled_at: delivery.throttled_at,
            in_line: delivery.in_line,
            succeeded: result.succeeded,
            next_attempt,
        };
        // A retry is new scheduled work, and so is the next delivery of a FIFO line.
        let new_work = record.next_attempt.is_some() || record.in_line;
        // While the database is unreachable, try again as it comes back rather than leave
        // the attempt to be made again when its lease runs out; give up well within it.
        let give_up = Instant::now() + self.lease / 2;
        let mut wait = RECORD_RETRY_FIRST;
        loop {
            match self.store.record_attempt(record.clone()).await {
                Ok(()) => {
                    // The claim loop must learn of new work's time.
                    if new_work {
                        self.wake.notify_one();
                    }
                    return;
                }
                Err(error) if error.is_unavailable() && Instant::now() + wait < give_up => {
                    tracing::warn!(%error, ?wait, "the database is unavailable; recording the attempt again soon");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(RECORD_RETRY_MOST);
                }
                Err(error) => {
                    tracing::error!(%error, "could not record an attempt; the lease will expire and it will be made again");
                    return;
                }
            }
        }
    }
}
