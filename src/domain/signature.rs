//! How a hook's deliveries are signed: GitHub's `X-Hub-Signature(-256)` headers, the
//! Standard Webhooks `webhook-id` / `webhook-timestamp` / `webhook-signature` headers, or
//! both; and the secret the Standard scheme needs (`whsec_` + base64 of 24–64 bytes).

use std::time::Duration;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::secret::Secret;
use super::timestamp::Timestamp;

/// Which signature headers a hook's deliveries carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureScheme {
    /// GitHub's (today's headers): HMAC of the body keyed by the whole secret.
    #[default]
    Github,
    /// The Standard Webhooks specification's, keyed by the secret's decoded bytes.
    Standard,
    /// Both: GitHub's keyed by the whole `whsec_…` string, so one string serves both kinds
    /// of receiver.
    Both,
}

impl SignatureScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureScheme::Github => "github",
            SignatureScheme::Standard => "standard",
            SignatureScheme::Both => "both",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "github" => Some(SignatureScheme::Github),
            "standard" => Some(SignatureScheme::Standard),
            "both" => Some(SignatureScheme::Both),
            _ => None,
        }
    }

    /// Whether deliveries carry GitHub's signature headers.
    pub fn signs_github(self) -> bool {
        self != SignatureScheme::Standard
    }

    /// Whether deliveries carry the Standard Webhooks headers (and so need a `whsec_`
    /// secret).
    pub fn signs_standard(self) -> bool {
        self != SignatureScheme::Github
    }
}

/// What the Standard scheme's secrets begin with.
pub const STANDARD_SECRET_PREFIX: &str = "whsec_";
/// The fewest and the most key bytes a Standard secret may carry.
pub const STANDARD_KEY_BYTES: std::ops::RangeInclusive<usize> = 24..=64;

/// A Standard secret as a pattern (the API document's): `whsec_` and the base64 of 24 to
/// 64 bytes: 8 to 22 groups of four characters, the last one padded as the length says.
pub const STANDARD_SECRET_PATTERN: &str = "^whsec_(?:(?:[A-Za-z0-9+/]{4}){8}\
     |(?:[A-Za-z0-9+/]{4}){8,20}(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)\
     |(?:[A-Za-z0-9+/]{4}){21}[A-Za-z0-9+/]{2}==)$";

/// Base64 as the Standard Webhooks libraries read it: padding required, stray low bits of
/// the last character ignored.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// The key bytes of a Standard secret, or `None` when `secret` is not one.
pub fn standard_key(secret: &str) -> Option<Vec<u8>> {
    let encoded = secret.strip_prefix(STANDARD_SECRET_PREFIX)?;
    let key = LENIENT.decode(encoded).ok()?;
    STANDARD_KEY_BYTES.contains(&key.len()).then_some(key)
}

/// The longest overlap of a rotated secret with the new one.
pub const MAX_SECRET_OVERLAP: Duration = Duration::from_secs(7 * 24 * 3600);

/// `secret_overlap` as the API takes it: a whole number and a unit (`s`, `m`, `h`, `d`),
/// more than nothing and at most [`MAX_SECRET_OVERLAP`] (e.g. `24h`, `7d`, `90m`).
pub fn parse_overlap(text: &str) -> Option<Duration> {
    let unit = text.chars().last()?;
    let number: u64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let seconds = match unit {
        's' => number,
        'm' => number.checked_mul(60)?,
        'h' => number.checked_mul(3600)?,
        'd' => number.checked_mul(86_400)?,
        _ => return None,
    };
    let overlap = Duration::from_secs(seconds);
    (number > 0 && !text.starts_with('0') && overlap <= MAX_SECRET_OVERLAP).then_some(overlap)
}

/// [`parse_overlap`]'s language as a pattern (the API document's).
pub const OVERLAP_PATTERN: &str = "^(?:(?:[1-9][0-9]{0,4}|[1-5][0-9]{5}|60[0-3][0-9]{3}\
     |604[0-7][0-9]{2}|604800)s|(?:[1-9][0-9]{0,3}|100[0-7][0-9]|10080)m\
     |(?:[1-9][0-9]?|1[0-5][0-9]|16[0-8])h|[1-7]d)$";

/// The secret a hook had before its latest rotation, still signing beside the new one
/// (Standard scheme only) until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousSecret {
    pub secret: Secret,
    pub expires_at: Timestamp,
}

impl PreviousSecret {
    /// The secret while it still signs at `now`.
    pub fn live_at(&self, now: Timestamp) -> Option<&Secret> {
        (now < self.expires_at).then_some(&self.secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A check of strings against `pattern` as a JSON Schema validator reads it (the API
    /// document's patterns must say what the parsers accept).
    fn pattern(pattern: &str) -> impl Fn(&str) -> bool {
        let validator =
            jsonschema::validator_for(&serde_json::json!({"type": "string", "pattern": pattern}))
                .expect("a valid pattern");
        move |text| validator.is_valid(&serde_json::json!(text))
    }

    #[test]
    fn standard_secrets_carry_24_to_64_key_bytes() {
        let engine = base64::engine::general_purpose::STANDARD;
        let matches = pattern(STANDARD_SECRET_PATTERN);
        for bytes in 0..=70usize {
            let secret = format!("whsec_{}", engine.encode(vec![7u8; bytes]));
            let expected = STANDARD_KEY_BYTES.contains(&bytes);
            assert_eq!(standard_key(&secret).is_some(), expected, "{bytes} bytes");
            assert_eq!(matches(&secret), expected, "{secret}");
        }
        for bad in [
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_not base64!!",
            "whsec_",
        ] {
            assert!(standard_key(bad).is_none(), "{bad}");
            assert!(!matches(bad), "{bad}");
        }
    }

    #[test]
    fn overlaps_are_a_number_and_a_unit_up_to_seven_days() {
        assert_eq!(parse_overlap("24h"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_overlap("7d"), Some(MAX_SECRET_OVERLAP));
        assert_eq!(parse_overlap("604800s"), Some(MAX_SECRET_OVERLAP));
        assert_eq!(parse_overlap("10080m"), Some(MAX_SECRET_OVERLAP));
        for bad in [
            "", "0h", "8d", "169h", "604801s", "10081m", "24", "h", "1.5h", "-1h", "024h",
        ] {
            assert_eq!(parse_overlap(bad), None, "{bad:?}");
        }
        // The document's pattern accepts exactly what the parser does.
        let matches = pattern(OVERLAP_PATTERN);
        for unit in ["s", "m", "h", "d", "w"] {
            for number in (0..700_000u32)
                .step_by(997)
                .chain([1, 7, 8, 168, 169, 10_080, 10_081, 604_800, 604_801])
            {
                let text = format!("{number}{unit}");
                assert_eq!(matches(&text), parse_overlap(&text).is_some(), "{text}");
            }
        }
    }

    #[test]
    fn a_previous_secret_signs_until_it_expires() {
        let previous = PreviousSecret {
            secret: Secret::new("whsec_old"),
            expires_at: Timestamp(1_000),
        };
        assert!(previous.live_at(Timestamp(999)).is_some());
        assert!(previous.live_at(Timestamp(1_000)).is_none());
    }
}
