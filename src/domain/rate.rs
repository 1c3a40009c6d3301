//! A hook's rate limit (`config.rate_limit`): how many attempts per second it may receive,
//! with bursts of up to one second's worth.
//!
//! The limit is a generic cell rate algorithm: a hook keeps one number, its *theoretical
//! arrival time* (TAT, in microseconds), and each attempt moves it one interval on. Taking
//! `n` slots at once is one addition, so every node of a cluster can take slots for a whole
//! claim in one statement on the hook's row, and the slots they get never overlap.

use super::timestamp::Timestamp;

/// The highest limit a hook may set (one attempt every 10 µs).
pub const MAX_RATE_LIMIT: u32 = 100_000;

/// Attempts per second, from 1 to [`MAX_RATE_LIMIT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit(u32);

impl RateLimit {
    /// # Errors
    /// Why `per_second` is not a limit.
    pub fn new(per_second: i64) -> Result<Self, String> {
        u32::try_from(per_second)
            .ok()
            .filter(|rate| (1..=MAX_RATE_LIMIT).contains(rate))
            .map(RateLimit)
            .ok_or_else(|| {
                format!(
                    "rate_limit is a whole number of deliveries per second from 1 to \
                     {MAX_RATE_LIMIT}, or null for none"
                )
            })
    }

    pub fn per_second(self) -> u32 {
        self.0
    }

    /// The time one attempt takes from the allowance, in microseconds.
    pub fn interval_us(self) -> i64 {
        1_000_000 / i64::from(self.0)
    }

    /// The TAT after `count` more slots, from the hook's stored one: what the store writes
    /// back in the same statement that reads it.
    pub fn advance(self, tat_us: i64, now: Timestamp, count: u32) -> i64 {
        tat_us.max(now.0 * 1000) + i64::from(count) * self.interval_us()
    }

    /// When each of `count` attempts may start, in order, given the TAT [`Self::advance`]
    /// returned for them: the first second's worth at once after an idle spell, then one
    /// per interval. A slot at or before `now` may start now.
    pub fn slots(self, advanced_us: i64, now: Timestamp, count: u32) -> Vec<Timestamp> {
        let interval = self.interval_us();
        // Bursts of one second's worth: an attempt may start this long before its TAT.
        let tolerance = 1_000_000 - interval;
        let first_tat = advanced_us - i64::from(count) * interval;
        (0..i64::from(count))
            .map(|slot| {
                let tat = first_tat + slot * interval;
                // Rounded up to the millisecond, so that a slot is never early.
                let at_us = (tat - tolerance).max(now.0 * 1000);
                Timestamp((at_us + 999).div_euclid(1000))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_hook_gets_a_second_worth_at_once_then_one_per_interval() {
        let limit = RateLimit::new(50).unwrap();
        let now = Timestamp(1_000_000);
        let advanced = limit.advance(0, now, 100);
        let slots = limit.slots(advanced, now, 100);
        assert!(slots[..50].iter().all(|slot| *slot == now), "the burst");
        assert_eq!(slots[50], Timestamp(now.0 + 20));
        assert_eq!(slots[99], Timestamp(now.0 + 50 * 20));
        // After the burst, one every 20 ms.
        assert!(
            slots[50..]
                .windows(2)
                .all(|pair| pair[1].0 - pair[0].0 == 20)
        );
    }

    #[test]
    fn slots_taken_in_pieces_are_the_slots_taken_at_once() {
        let limit = RateLimit::new(3).unwrap();
        let now = Timestamp(5_000);
        let whole = limit.slots(limit.advance(0, now, 10), now, 10);
        let mut tat = 0;
        let mut pieces = Vec::new();
        for count in [4, 1, 5] {
            tat = limit.advance(tat, now, count);
            pieces.extend(limit.slots(tat, now, count));
        }
        assert_eq!(pieces, whole);
        assert!(whole.windows(2).all(|pair| pair[0] <= pair[1]));
        assert_eq!(whole[3], Timestamp(now.0 + 334), "rounded up, never early");
    }

    #[test]
    fn a_hook_idle_for_long_starts_afresh() {
        let limit = RateLimit::new(10).unwrap();
        let tat = limit.advance(0, Timestamp(0), 50);
        let later = Timestamp(60_000);
        let slots = limit.slots(limit.advance(tat, later, 10), later, 10);
        assert!(slots.iter().all(|slot| *slot == later));
    }

    #[test]
    fn limits_outside_the_bounds_are_refused() {
        for rate in [0, -1, i64::from(MAX_RATE_LIMIT) + 1, i64::MAX, i64::MIN] {
            assert!(RateLimit::new(rate).is_err(), "{rate}");
        }
        assert_eq!(RateLimit::new(1).unwrap().interval_us(), 1_000_000);
        assert_eq!(
            RateLimit::new(i64::from(MAX_RATE_LIMIT))
                .unwrap()
                .interval_us(),
            10
        );
    }
}
