//! The delivery worker: claims due deliveries under a lease, sends each in its own task,
//! records the attempt and schedules the next one.
//!
//! The claim loop sleeps until work is queued (a [`Notify`] poked by the API), a task frees
//! a slot, or the next scheduled retry or lease expiry is due: there is no polling interval
//! on the hot path. Three bounds keep it safe: deliveries held in memory, attempts in flight
//! overall, and attempts in flight per destination host.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::DeliveryConfig;
use super::client::{AttemptResult, Transport};
use super::guard::Guard;
use super::retry::{RetrySchedule, random_jitter};
use crate::domain::timestamp::Timestamp;
use crate::metrics::Metrics;
use crate::store::{AttemptRecord, ClaimedDelivery, DeliveryId, Store, StoreError};
use crate::wire::{self, WireSettings};

/// Most deliveries claimed in one transaction.
const CLAIM_BATCH: usize = 512;

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
    /// Deliveries claimed and not yet recorded (bounds memory while a host is slow).
    held: Arc<Semaphore>,
    /// Attempts in flight, over all hosts.
    sending: Arc<Semaphore>,
    per_host: usize,
    /// One semaphore per destination host.
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Ids of claimed deliveries not yet recorded, released on shutdown.
    in_flight: Mutex<HashSet<DeliveryId>>,
    /// How long in-flight attempts may take to finish at shutdown.
    grace: Duration,
    /// How long a claim holds its deliveries; renewed every third of it while they wait or
    /// are sent, so that only a dead process's leases ever run out.
    lease: Duration,
    metrics: Arc<Metrics>,
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
        let held = concurrency * 4;
        let per_host = config.per_host_concurrency.max(1);
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
            held: Arc::new(Semaphore::new(held)),
            sending: Arc::new(Semaphore::new(concurrency)),
            per_host,
            hosts: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashSet::new()),
            grace: config.delivery_timeout + Duration::from_secs(1),
            lease: config.lease.max(Duration::from_secs(1)),
            metrics,
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
            tasks.spawn(async move {
                worker
                    .deliver(delivery, now, CancellationToken::new())
                    .await
            });
        }
        while tasks.join_next().await.is_some() {}
        Ok(count)
    }

    /// Delivers until `shutdown`, then lets attempts under way finish (within the grace
    /// period) and hands back every delivery not attempted.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let tracker = TaskTracker::new();
        let mut next_due: Option<Timestamp> = None;
        // Work was queued since the last claim, or the last claim left more due behind: a
        // freed slot is then a reason to claim again; otherwise it is not, which spares a
        // claim transaction per finished delivery.
        let mut queued = true;
        let mut backlog = false;
        let mut renewals = tokio::time::interval(self.lease / 3);
        renewals.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let room = self.held.available_permits().min(CLAIM_BATCH);
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
                        backlog = claim.deliveries.len() == room;
                        next_due = claim.next_due;
                        for delivery in claim.deliveries {
                            self.spawn_delivery(&tracker, delivery, now, &shutdown);
                        }
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
            let sleep = match (room > 0, next_due) {
                (true, Some(due)) => {
                    let wait = u64::try_from(due.0 - Timestamp::now().0).unwrap_or(0);
                    Duration::from_millis(wait).min(self.lease)
                }
                (true, None) => self.lease,
                (false, _) => Duration::from_secs(3600),
            };
            let sleep = tokio::time::Instant::now() + sleep;
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.wake.notified() => queued = true,
                () = self.freed.notified() => {}
                _ = renewals.tick() => self.renew_leases().await,
                () = tokio::time::sleep_until(sleep) => queued = true,
            }
        }
        tracker.close();
        if tokio::time::timeout(self.grace, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("attempts still under way after the grace period");
        }
        let unfinished: Vec<DeliveryId> = self
            .in_flight
            .lock()
            .expect("not poisoned")
            .drain()
            .collect();
        if !unfinished.is_empty()
            && let Err(error) = self.store.release(&self.id, unfinished).await
        {
            tracing::warn!(%error, "could not release deliveries; their leases will expire");
        }
    }

    /// Runs one claimed delivery in its own task, holding a slot of `held` until recorded.
    fn spawn_delivery(
        self: &Arc<Self>,
        tracker: &TaskTracker,
        delivery: ClaimedDelivery,
        claimed_at: Timestamp,
        shutdown: &CancellationToken,
    ) {
        let held = self
            .held
            .clone()
            .try_acquire_owned()
            .expect("room was counted before claiming");
        self.in_flight
            .lock()
            .expect("not poisoned")
            .insert(delivery.id);
        let worker = self.clone();
        let stop = shutdown.clone();
        let id = delivery.id;
        tracker.spawn(async move {
            worker.deliver(delivery, claimed_at, stop.clone()).await;
            // Recorded, or left to its lease; what shutdown interrupted is released.
            if !stop.is_cancelled() {
                worker.in_flight.lock().expect("not poisoned").remove(&id);
            }
            drop::<OwnedSemaphorePermit>(held);
            worker.freed.notify_one();
        });
    }

    /// Extends the lease of every delivery held in memory.
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
        Timestamp(
            now.0
                .saturating_add(i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX)),
        )
    }

    fn host_slots(&self, url: &url::Url) -> Arc<Semaphore> {
        let host = format!(
            "{}:{}",
            url.host_str().unwrap_or(""),
            url.port_or_known_default().unwrap_or(0)
        );
        self.hosts
            .lock()
            .expect("not poisoned")
            .entry(host)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
            .clone()
    }

    /// One attempt of one delivery, recorded. Gives up without an attempt if `stop` fires
    /// while it waits for a slot.
    async fn deliver(
        &self,
        delivery: ClaimedDelivery,
        claimed_at: Timestamp,
        stop: CancellationToken,
    ) {
        let span = tracing::info_span!(
            "deliver",
            delivery_id = delivery.id.0,
            hook_id = delivery.target.hook_id.0,
            guid = %delivery.event.guid
        );
        async {
            let outgoing = match wire::build(&delivery, &self.wire) {
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
                    return;
                }
            };
            let host = self.host_slots(&outgoing.url);
            let slots = async {
                let host = host.acquire_owned().await;
                let sending = self.sending.clone().acquire_owned().await;
                (host, sending)
            };
            let _slots = tokio::select! {
                slots = slots => slots,
                () = stop.cancelled() => return,
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
            let elapsed = started.elapsed();
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
        }
        .instrument(span)
        .await;
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
            self.schedule.next_attempt(
                delivery.attempts + 1,
                now,
                random_jitter(),
                result.retry_after,
            )
        };
        tracing::debug!(status = %result.status, "attempt made");
        let record = AttemptRecord {
            delivery_id: delivery.id,
            hook_id: delivery.target.hook_id,
            event_id: delivery.event.id,
            installation_id: delivery.installation_id,
            redelivery: delivery.redelivery || delivery.attempts > 0,
            delivered_at,
            duration_ms,
            status: result.status,
            status_code: result.status_code,
            url,
            request_headers,
            response_headers: result.headers,
            response_body: result.body,
            throttled_at: None,
            succeeded: result.succeeded,
            next_attempt,
        };
        let retries = record.next_attempt.is_some();
        match self.store.record_attempt(record).await {
            Ok(()) => {
                // A retry is new scheduled work: the claim loop must learn its time.
                if retries {
                    self.wake.notify_one();
                }
            }
            Err(error) => {
                tracing::error!(%error, "could not record an attempt; the lease will expire and it will be made again")
            }
        }
    }
}
