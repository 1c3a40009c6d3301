//! When a failed delivery is tried again: the retry schedule, its jitter, and `Retry-After`.
//!
//! Pure arithmetic on instants passed in, so tests control time completely.

use std::str::FromStr;
use std::time::Duration;

use crate::domain::timestamp::Timestamp;

/// Delays between automatic attempts: the n-th entry is the wait after the n-th failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<Duration>);

/// How far an actual delay may stray from its step, either way (±20%).
const JITTER: f64 = 0.2;

impl Default for RetrySchedule {
    /// 10 s, 1 min, 5 min, 30 min, 2 h, 6 h, 12 h.
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(60 * m);
        RetrySchedule(vec![
            Duration::from_secs(10),
            minutes(1),
            minutes(5),
            minutes(30),
            minutes(120),
            minutes(360),
            minutes(720),
        ])
    }
}

impl FromStr for RetrySchedule {
    type Err = String;

    /// `10s,1m,5m`, or `none` for no automatic retries (GitHub's own behaviour).
    fn from_str(text: &str) -> Result<Self, String> {
        if text.trim() == "none" {
            return Ok(RetrySchedule(Vec::new()));
        }
        text.split(',')
            .map(|step| {
                let delay = humantime::parse_duration(step.trim())
                    .map_err(|error| format!("{step:?} is not a duration: {error}"))?;
                if delay.is_zero() {
                    return Err(format!("{step:?}: a retry delay must be positive"));
                }
                Ok(delay)
            })
            .collect::<Result<_, _>>()
            .map(RetrySchedule)
    }
}

impl RetrySchedule {
    /// When to try again after `failed_attempts` automatic attempts have failed (counting
    /// the one just made), or `None` when the schedule is exhausted.
    ///
    /// `jitter` in [-1, 1] picks the point in the ±20% band; a `retry_after` the receiver
    /// asked for moves the attempt later, but never past twice the step.
    pub fn next_attempt(
        &self,
        failed_attempts: u32,
        now: Timestamp,
        jitter: f64,
        retry_after: Option<Duration>,
    ) -> Option<Timestamp> {
        let index = usize::try_from(failed_attempts.checked_sub(1)?).ok()?;
        let step = *self.0.get(index)?;
        let jittered = step.mul_f64(1.0 + JITTER * jitter.clamp(-1.0, 1.0));
        let delay = match retry_after {
            Some(asked) => jittered.max(asked.min(step * 2)),
            None => jittered,
        };
        Some(Timestamp(
            now.0 + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX),
        ))
    }
}

/// A uniformly random number in [-1, 1] for [`RetrySchedule::next_attempt`].
pub fn random_jitter() -> f64 {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX) * 2.0 - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_000_000);

    #[test]
    fn the_default_schedule_is_githubs_plus_retries() {
        let schedule = RetrySchedule::default();
        let delays: Vec<i64> = (1..=8)
            .map_while(|n| schedule.next_attempt(n, NOW, 0.0, None))
            .map(|at| at.0 - NOW.0)
            .collect();
        assert_eq!(
            delays,
            [
                10_000, 60_000, 300_000, 1_800_000, 7_200_000, 21_600_000, 43_200_000
            ]
        );
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let schedule: RetrySchedule = "10s".parse().unwrap();
        assert_eq!(
            schedule.next_attempt(1, NOW, -1.0, None),
            Some(Timestamp(NOW.0 + 8_000))
        );
        assert_eq!(
            schedule.next_attempt(1, NOW, 1.0, None),
            Some(Timestamp(NOW.0 + 12_000))
        );
        for _ in 0..1000 {
            let at = schedule
                .next_attempt(1, NOW, random_jitter(), None)
                .unwrap();
            assert!((8_000..=12_000).contains(&(at.0 - NOW.0)));
        }
    }

    #[test]
    fn retry_after_moves_later_but_at_most_twice_the_step() {
        let schedule: RetrySchedule = "10s,1m".parse().unwrap();
        let at = |retry_after| {
            schedule.next_attempt(1, NOW, 0.0, Some(Duration::from_secs(retry_after)))
        };
        assert_eq!(at(15), Some(Timestamp(NOW.0 + 15_000)));
        assert_eq!(at(3600), Some(Timestamp(NOW.0 + 20_000)));
        assert_eq!(at(1), Some(Timestamp(NOW.0 + 10_000)));
    }

    #[test]
    fn none_and_exhaustion_mean_no_more_attempts() {
        let none: RetrySchedule = "none".parse().unwrap();
        assert_eq!(none.next_attempt(1, NOW, 0.0, None), None);
        let short: RetrySchedule = "10s, 1m, 5m".parse().unwrap();
        assert!(short.next_attempt(3, NOW, 0.0, None).is_some());
        assert_eq!(short.next_attempt(4, NOW, 0.0, None), None);
        assert!("10s,soon".parse::<RetrySchedule>().is_err());
        assert!("0s".parse::<RetrySchedule>().is_err());
    }
}
