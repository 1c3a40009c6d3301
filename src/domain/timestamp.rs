//! Instants as whole milliseconds since the Unix epoch: what the store keeps, and how the
//! API prints them (GitHub's `2011-09-06T17:26:27Z`).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        Timestamp((nanos / 1_000_000) as i64)
    }

    /// `wait` later (saturating).
    pub fn after(self, wait: std::time::Duration) -> Self {
        Timestamp(
            self.0
                .saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX)),
        )
    }

    /// GitHub prints whole seconds with a `Z` suffix.
    pub fn to_github(self) -> String {
        let seconds = self.0.div_euclid(1000);
        OffsetDateTime::from_unix_timestamp(seconds)
            .ok()
            .and_then(|instant| instant.format(&Rfc3339).ok())
            .unwrap_or_default()
    }

    /// RFC 3339 to the millisecond, so that [`Timestamp::parse`] reads back the same
    /// instant (for instants the caller gave, such as a filter's bounds).
    pub fn to_precise(self) -> String {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .ok()
            .and_then(|instant| instant.format(&Rfc3339).ok())
            .unwrap_or_default()
    }

    /// An RFC 3339 instant (`2011-09-06T17:26:27Z`, any offset, fractions kept to the
    /// millisecond); `None` for anything else or an instant out of range.
    pub fn parse(text: &str) -> Option<Self> {
        let instant = OffsetDateTime::parse(text, &Rfc3339).ok()?;
        i64::try_from(instant.unix_timestamp_nanos() / 1_000_000)
            .ok()
            .map(Timestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_whole_seconds_in_utc() {
        assert_eq!(
            Timestamp(1_315_329_987_999).to_github(),
            "2011-09-06T17:26:27Z"
        );
    }

    #[test]
    fn parses_rfc3339_with_any_offset() {
        assert_eq!(
            Timestamp::parse("2011-09-06T17:26:27Z"),
            Some(Timestamp(1_315_329_987_000))
        );
        assert_eq!(
            Timestamp::parse("2011-09-06T19:26:27.5+02:00"),
            Some(Timestamp(1_315_329_987_500))
        );
        for instant in [Timestamp(1_315_329_987_500), Timestamp(1_315_329_987_000)] {
            assert_eq!(Timestamp::parse(&instant.to_precise()), Some(instant));
        }
        for bad in ["", "yesterday", "2011-09-06", "2011-09-06 17:26:27"] {
            assert_eq!(Timestamp::parse(bad), None, "{bad}");
        }
    }
}
