//! Pruning events (with their deliveries and attempts) older than `--retention`, in small
//! batches so that the writer is never held for long; and erasing the previous secrets of
//! rotations whose overlap ended.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::domain::timestamp::Timestamp;
use crate::metrics::Metrics;
use crate::store::{QueueStore, Store};

/// Events deleted per transaction.
const BATCH: u32 = 500;
/// How often the pruner looks for expired events.
const INTERVAL: Duration = Duration::from_secs(600);

/// Deletes every event older than `retention` (relative to `now`), batch by batch,
/// counting what it deleted and timing each batch in `metrics`.
///
/// # Errors
/// When the store fails.
pub async fn prune_expired(
    store: &dyn QueueStore,
    retention: Duration,
    now: Timestamp,
    metrics: &Metrics,
) -> Result<u64, crate::store::StoreError> {
    let cutoff = Timestamp(now.0 - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
    let mut total = 0;
    loop {
        let started = Instant::now();
        let deleted = store.prune(cutoff, BATCH).await?;
        metrics
            .prune_batch_duration
            .observe(started.elapsed().as_secs_f64());
        metrics.events_pruned.inc_by(deleted);
        total += deleted;
        if deleted < u64::from(BATCH) {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}

/// Prunes now and every [`INTERVAL`] until `shutdown`.
pub async fn run(
    store: Arc<dyn Store>,
    retention: Duration,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    loop {
        let now = Timestamp::now();
        match prune_expired(store.as_ref(), retention, now, &metrics).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "pruned events past retention"),
            Err(error) => tracing::warn!(%error, "pruning failed; will try again"),
        }
        // A rotated secret whose overlap ended signs nothing: it is not kept either.
        if let Err(error) = store.erase_expired_secrets(now).await {
            tracing::warn!(%error, "erasing rotated secrets failed; will try again");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(INTERVAL) => {}
        }
    }
}
