//! `--disable-after`: a hook whose every attempt has failed for that long, at least
//! [`MIN_FAILURES`] times, is disabled (`active: false`, with `disabled_at` and a reason).
//! Unlike a hook its owner deactivated, it keeps its events: each is held, and all are
//! delivered in order when the hook is re-activated.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::domain::timestamp::Timestamp;
use crate::metrics::Metrics;
use crate::store::{QueueStore, Store, StoreError};

/// A hook is disabled only after at least this many failed attempts in a row.
pub const MIN_FAILURES: u32 = 10;
/// How often failing hooks are looked for.
const INTERVAL: Duration = Duration::from_secs(1);

/// `--disable-after`: a duration, or `none` (never disable).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DisableAfter(pub Option<Duration>);

impl FromStr for DisableAfter {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim() {
            "none" => Ok(DisableAfter(None)),
            text => humantime::parse_duration(text)
                .map(|after| DisableAfter(Some(after)))
                .map_err(|error| format!("{text:?} is neither `none` nor a duration: {error}")),
        }
    }
}

/// Disables every active hook that has failed for `after` at `now`; returns how many.
///
/// # Errors
/// When the store fails.
pub async fn disable_failing(
    store: &dyn QueueStore,
    after: Duration,
    metrics: &Metrics,
    now: Timestamp,
) -> Result<usize, StoreError> {
    let failing_since = Timestamp(now.0 - i64::try_from(after.as_millis()).unwrap_or(i64::MAX));
    let reason = format!(
        "every attempt failed for {} (at least {MIN_FAILURES} attempts)",
        humantime::format_duration(after)
    );
    let disabled = store
        .disable_failing_hooks(failing_since, MIN_FAILURES, &reason, now)
        .await?;
    for hook_id in &disabled {
        tracing::warn!(
            hook_id = hook_id.0,
            %reason,
            "hook disabled; its events are held until it is re-activated"
        );
    }
    metrics
        .hooks_disabled
        .inc_by(u64::try_from(disabled.len()).unwrap_or(u64::MAX));
    Ok(disabled.len())
}

/// Looks for failing hooks every [`INTERVAL`] until `shutdown`.
pub async fn run(
    store: Arc<dyn Store>,
    after: Duration,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    loop {
        if let Err(error) = disable_failing(store.as_ref(), after, &metrics, Timestamp::now()).await
        {
            tracing::warn!(%error, "could not look for failing hooks; will try again");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(INTERVAL) => {}
        }
    }
}
