//! Group commit for PostgreSQL: publishes and attempt records waiting at the same moment
//! share one transaction, so N concurrent requests cost one commit (and one WAL flush),
//! not N.
//!
//! Two committers take turns: while one commits its batch, the next gathers whatever
//! arrived meanwhile. As on SQLite, writes in a batch share the transaction without
//! savepoints; if the batch fails, each write is run again in a transaction of its own, so
//! the failing one fails alone. A caller hears back only after its transaction committed.
//! A batch with a publish commits on a durable connection and notifies every node of the
//! work it queued; a batch of attempt records alone commits on a relaxed one.

use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinSet;

use super::events::{KnownScopes, Publishing};
use super::header_sets::KnownHeaderSets;
use super::{events, queue};
use crate::domain::timestamp::Timestamp;
use crate::store::packing::PackedEvent;
use crate::store::{AttemptRecord, IdempotencyKey, NewEvent, PublishOutcome, StoreError};

/// Most writes in one transaction.
const BATCH: usize = 256;

/// Batches committing at once (each on its own connection). Two: while one commits, the
/// other gathers; a third only split the same work into smaller batches, which cost
/// PostgreSQL more per delivery (measured: BENCHMARKS.md, seventh sitting).
const COMMITTERS: usize = 2;

enum Work {
    Publish {
        event: PackedEvent,
        key: Option<IdempotencyKey>,
        now: Timestamp,
    },
    Attempt(AttemptRecord),
}

enum Done {
    Published(PublishOutcome),
    Recorded,
}

struct Job {
    work: Work,
    reply: oneshot::Sender<Result<Done, StoreError>>,
}

pub(super) struct Ingest {
    sender: std::sync::Mutex<Option<mpsc::UnboundedSender<Job>>>,
    committers: Mutex<JoinSet<()>>,
}

impl Ingest {
    /// `origin`: the store's name in the notifications of the work it queues.
    pub(super) fn start(durable: Pool, relaxed: Pool, origin: Arc<str>) -> Self {
        let target = Target {
            durable,
            relaxed,
            origin,
            header_sets: Arc::default(),
            scopes: Arc::default(),
        };
        let (sender, receiver) = mpsc::unbounded_channel();
        let receiver = Arc::new(Mutex::new(receiver));
        let mut committers = JoinSet::new();
        for _ in 0..COMMITTERS {
            committers.spawn(commit_loop(receiver.clone(), target.clone()));
        }
        Ingest {
            sender: std::sync::Mutex::new(Some(sender)),
            committers: Mutex::new(committers),
        }
    }

    async fn submit(&self, work: Work) -> Result<Done, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .lock()
            .expect("not poisoned")
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(Job { work, reply })
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    pub(super) async fn publish(
        &self,
        event: NewEvent,
        key: Option<IdempotencyKey>,
        now: Timestamp,
    ) -> Result<PublishOutcome, StoreError> {
        let event = PackedEvent::new(event);
        match self.submit(Work::Publish { event, key, now }).await? {
            Done::Published(outcome) => Ok(outcome),
            Done::Recorded => unreachable!("a publish is answered with its outcome"),
        }
    }

    pub(super) async fn record_attempt(&self, attempt: AttemptRecord) -> Result<(), StoreError> {
        self.submit(Work::Attempt(attempt)).await.map(|_| ())
    }

    /// Commits what was submitted and stops the committers.
    pub(super) async fn close(&self) {
        self.sender.lock().expect("not poisoned").take();
        let mut committers = self.committers.lock().await;
        while committers.join_next().await.is_some() {}
    }
}

/// Where the committers write: a batch with a publish on a durable connection, whose
/// notification names `origin`; attempt records alone on a relaxed one; and the request-
/// header templates and event scopes they found.
#[derive(Clone)]
struct Target {
    durable: Pool,
    relaxed: Pool,
    origin: Arc<str>,
    header_sets: Arc<KnownHeaderSets>,
    scopes: Arc<KnownScopes>,
}

async fn commit_loop(receiver: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>, target: Target) {
    loop {
        let mut batch = Vec::new();
        {
            let mut receiver = receiver.lock().await;
            if receiver.recv_many(&mut batch, BATCH).await == 0 {
                return;
            }
        }
        commit(&target, batch).await;
    }
}

/// Times a transaction that PostgreSQL aborted to break a deadlock is run again before it
/// counts as failed: the transactions of other committers and nodes lock the same hooks and
/// repositories, and the victim is chosen by timing, not by fault.
const CONFLICT_RETRIES: usize = 3;

/// Commits `batch` in one transaction, or each job alone if that fails, and answers.
async fn commit(target: &Target, batch: Vec<Job>) {
    let (works, replies): (Vec<Work>, Vec<_>) =
        batch.into_iter().map(|job| (job.work, job.reply)).unzip();
    match run_again_on_conflict(target, &works).await {
        Ok(done) => {
            for (reply, done) in replies.into_iter().zip(done) {
                let _ = reply.send(Ok(done));
            }
        }
        Err(error) if works.len() == 1 => {
            let _ = replies
                .into_iter()
                .next()
                .map(|reply| reply.send(Err(error)));
        }
        Err(_) => {
            for (work, reply) in works.iter().zip(replies) {
                let outcome = run_again_on_conflict(target, std::slice::from_ref(work)).await;
                let _ = reply.send(outcome.map(|mut done| done.remove(0)));
            }
        }
    }
}

/// [`run`], again (up to [`CONFLICT_RETRIES`] times) while it is a deadlock's victim.
async fn run_again_on_conflict(target: &Target, works: &[Work]) -> Result<Vec<Done>, StoreError> {
    let mut retries = 0;
    loop {
        match run(target, works).await {
            Err(error) if error.is_conflict() && retries < CONFLICT_RETRIES => {
                retries += 1;
                tracing::debug!(%error, retries, "a write batch lost a deadlock; running it again");
            }
            outcome => return outcome,
        }
    }
}

async fn run(target: &Target, works: &[Work]) -> Result<Vec<Done>, StoreError> {
    let publishes = works
        .iter()
        .any(|work| matches!(work, Work::Publish { .. }));
    let pool = if publishes {
        &target.durable
    } else {
        &target.relaxed
    };
    let mut client = pool
        .get()
        .await
        .map_err(|error| StoreError::Connection(error.to_string()))?;
    let db = client.transaction().await?;
    let mut done: Vec<Option<Done>> = works.iter().map(|_| None).collect();
    // Publishes notify the other nodes themselves when they queued anything.
    let mut publishing = Publishing::new(&target.origin, &target.scopes);
    // A publish with an Idempotency-Key is looked up and stored on its own, in order, so
    // that the same key twice in one batch is answered as a replay.
    for (index, work) in works.iter().enumerate() {
        if let Work::Publish {
            event,
            key: Some(key),
            now,
        } = work
        {
            let outcome = events::publish(&db, event, key, *now, &mut publishing).await?;
            done[index] = Some(Done::Published(outcome));
        }
    }
    // The others in a few statements for the whole batch.
    let mut plain: Vec<(usize, &PackedEvent, Timestamp)> = Vec::new();
    let mut attempts: Vec<&AttemptRecord> = Vec::new();
    for (index, work) in works.iter().enumerate() {
        match work {
            Work::Publish {
                event,
                key: None,
                now,
            } => plain.push((index, event, *now)),
            Work::Publish { .. } => {}
            Work::Attempt(attempt) => {
                attempts.push(attempt);
                done[index] = Some(Done::Recorded);
            }
        }
    }
    // Publishes share one `created_at`/`due_at`: the latest of theirs, a few ms apart.
    let now = plain.iter().map(|(_, _, now)| *now).max();
    if let Some(now) = now {
        let batch: Vec<&PackedEvent> = plain.iter().map(|(_, event, _)| *event).collect();
        let counts = events::publish_all(&db, &batch, now, &mut publishing).await?;
        for ((index, event, _), deliveries) in plain.iter().zip(counts) {
            done[*index] = Some(Done::Published(PublishOutcome::Published {
                guid: event.guid.clone(),
                deliveries,
            }));
        }
    }
    queue::record_attempts(&db, &attempts, &target.header_sets).await?;
    db.commit().await?;
    publishing.commit();
    Ok(done
        .into_iter()
        .map(|done| done.expect("every job is answered"))
        .collect())
}
