//! The random point in a retry's jitter band ([`crate::domain::retry`] does the rest).

/// A uniformly random number in [-1, 1] for [`RetrySchedule::next_attempt`].
///
/// [`RetrySchedule::next_attempt`]: crate::domain::retry::RetrySchedule::next_attempt
pub fn random_jitter() -> f64 {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX) * 2.0 - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_its_band() {
        for _ in 0..1000 {
            assert!((-1.0..=1.0).contains(&random_jitter()));
        }
    }
}
