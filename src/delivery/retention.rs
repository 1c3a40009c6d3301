//! Pruning events (with their deliveries and attempts) older than `--retention`, in small
//! batches so that the writer is never held for long; and erasing the previous secrets of
//! rotations whose overlap ended.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::domain::timestamp::Timestamp;
use crate::metrics::Metrics;
use crate::store::{QueueStore, Store};

/// How long one batch should hold the store (on SQLite the single writer runs nothing
/// else meanwhile): batches are resized towards it.
const BATCH_TARGET: Duration = Duration::from_millis(2);
/// Events looked at by the first batch of a pass, and the bounds of later ones (at the
/// target's pace the smallest still prunes 16,000 events/s).
const FIRST_BATCH: u32 = 128;
const SMALLEST_BATCH: u32 = 64;
const LARGEST_BATCH: u32 = 4096;
/// How often the pruner looks for expired events.
const INTERVAL: Duration = Duration::from_secs(600);

/// Deletes every event older than `retention` (relative to `now`), batch by batch,
/// counting what it deleted and timing each batch in `metrics`. Each batch is sized to
/// hold the store about [`BATCH_TARGET`], and is followed by a pause as long as it took:
/// retention takes at most about half of the store's time, however large its backlog.
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
    let (mut after, mut batch, mut total) = (None, FIRST_BATCH, 0);
    loop {
        let started = Instant::now();
        let pruned = store.prune(cutoff, after, batch).await?;
        let took = started.elapsed();
        metrics.prune_batch_duration.observe(took.as_secs_f64());
        metrics.events_pruned.inc_by(pruned.deleted);
        total += pruned.deleted;
        let Some(next) = pruned.next else {
            return Ok(total);
        };
        after = Some(next);
        batch = resized(batch, took);
        tokio::time::sleep(took).await;
    }
}

/// The next batch's size after one of `batch` events took `took`: halved when it held the
/// store past the target, doubled when it took less than half of it.
fn resized(batch: u32, took: Duration) -> u32 {
    if took > BATCH_TARGET {
        (batch / 2).max(SMALLEST_BATCH)
    } else if took < BATCH_TARGET / 2 {
        batch.saturating_mul(2).min(LARGEST_BATCH)
    } else {
        batch
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_resized_towards_the_target_within_its_bounds() {
        assert_eq!(resized(512, BATCH_TARGET * 3), 256, "too long: halved");
        assert_eq!(resized(512, BATCH_TARGET / 4), 1024, "short: doubled");
        assert_eq!(
            resized(512, BATCH_TARGET * 3 / 4),
            512,
            "near the target: kept"
        );
        assert_eq!(
            resized(SMALLEST_BATCH, Duration::from_secs(1)),
            SMALLEST_BATCH
        );
        assert_eq!(resized(LARGEST_BATCH, Duration::ZERO), LARGEST_BATCH);
    }
}
