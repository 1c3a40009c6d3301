//! When a failed delivery is tried again: the retry schedule (the server's, or a hook's
//! own), its jitter, and `Retry-After`.
//!
//! Pure arithmetic on instants and jitter passed in, so tests control time completely.

use std::str::FromStr;
use std::time::Duration;

use super::signature::{OVERLAP_PATTERN, parse_overlap};
use super::timestamp::Timestamp;

/// [`RetrySchedule::for_hook`]'s language as a pattern (the API document's).
pub fn hook_schedule_pattern() -> String {
    let step = OVERLAP_PATTERN
        .trim_start_matches('^')
        .trim_end_matches('$');
    format!(
        "^(?:none|(?:{step})(?:,(?:{step})){{0,{}}})$",
        MAX_HOOK_STEPS - 1
    )
}

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

/// The most steps a hook's own schedule may have.
pub const MAX_HOOK_STEPS: usize = 20;

impl RetrySchedule {
    /// A hook's own schedule (`config.retry_schedule`): `none`, or at most
    /// [`MAX_HOOK_STEPS`] comma-separated steps, each written as a `secret_overlap` is
    /// ([`parse_overlap`]: a whole number of `s`, `m`, `h` or `d`, from 1 s to 7 days): a
    /// receiver's owner can neither make the server retry faster than once a second nor
    /// park a delivery for longer than a week between attempts.
    ///
    /// # Errors
    /// Why the text is not such a schedule.
    pub fn for_hook(text: &str) -> Result<Self, String> {
        if text == "none" {
            return Ok(RetrySchedule(Vec::new()));
        }
        let steps: Vec<&str> = text.splitn(MAX_HOOK_STEPS + 1, ',').collect();
        if steps.len() > MAX_HOOK_STEPS {
            return Err(format!(
                "a hook's retry schedule has at most {MAX_HOOK_STEPS} steps"
            ));
        }
        steps
            .into_iter()
            .map(|step| {
                parse_overlap(step).ok_or_else(|| {
                    format!(
                        "retry_schedule is \"none\" or steps such as \"10s,1m,1h\" (each a \
                         whole number of s, m, h or d, from 1s to 7d), not {text:?}"
                    )
                })
            })
            .collect::<Result<_, _>>()
            .map(RetrySchedule)
    }

    /// The schedule as [`RetrySchedule::for_hook`] reads it (`10s,1m,2h`, or `none`).
    pub fn to_text(&self) -> String {
        if self.0.is_empty() {
            return "none".to_owned();
        }
        let step = |step: &Duration| {
            let seconds = step.as_secs();
            if step.subsec_nanos() != 0 {
                humantime::format_duration(*step)
                    .to_string()
                    .replace(' ', "")
            } else if seconds.is_multiple_of(86_400) {
                format!("{}d", seconds / 86_400)
            } else if seconds.is_multiple_of(3600) {
                format!("{}h", seconds / 3600)
            } else if seconds.is_multiple_of(60) {
                format!("{}m", seconds / 60)
            } else {
                format!("{seconds}s")
            }
        };
        self.0.iter().map(step).collect::<Vec<_>>().join(",")
    }

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
        for tenth in -10..=10 {
            let at = schedule
                .next_attempt(1, NOW, f64::from(tenth) / 10.0, None)
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

    #[test]
    fn a_hooks_schedule_is_bounded_and_prints_as_it_reads() {
        for (text, printed) in [
            ("1s", "1s"),
            ("10s,60s,90m", "10s,1m,90m"),
            ("none", "none"),
            ("7d,168h", "7d,7d"),
        ] {
            let schedule = RetrySchedule::for_hook(text).unwrap();
            assert_eq!(schedule.to_text(), printed);
            assert_eq!(RetrySchedule::for_hook(printed), Ok(schedule), "{printed}");
        }
        let twenty = ["1s"; 20].join(",");
        let too_many = ["1s"; 21].join(",");
        let bad = [
            "", "0s", "500ms", "8d", "1s,soon", "10s, 1m", "1h30m", "none,1s", ",1s", "1s,",
        ];
        let matches = {
            let validator = jsonschema::validator_for(
                &serde_json::json!({"type": "string", "pattern": hook_schedule_pattern()}),
            )
            .unwrap();
            move |text: &str| validator.is_valid(&serde_json::json!(text))
        };
        for text in bad
            .iter()
            .copied()
            .chain([too_many.as_str(), &"1".repeat(5000)])
        {
            assert!(RetrySchedule::for_hook(text).is_err(), "{text}");
            assert!(!matches(text), "the pattern refuses {text}");
        }
        for text in ["none", "1s", "10s,1m,5m", "7d", twenty.as_str()] {
            assert!(RetrySchedule::for_hook(text).is_ok(), "{text}");
            assert!(matches(text), "the pattern accepts {text}");
        }
        assert_eq!(
            RetrySchedule::default().to_text(),
            "10s,1m,5m,30m,2h,6h,12h"
        );
    }
}
