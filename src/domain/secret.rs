//! [`Secret`]: a value that must never appear in a log line or a debug print (a hook's
//! secret, a token handed out once, the value of a credential header).

use std::fmt;

/// What a secret shows instead of itself, in the API and in debug output.
pub const SECRET_MASK: &str = "********";

/// A secret string. `Debug` and `Display` show [`SECRET_MASK`]; only [`Secret::expose`]
/// gives the value, so every place that uses it says so.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself: for signing, storing, or handing out once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({SECRET_MASK})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SECRET_MASK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neither_debug_nor_display_shows_the_value() {
        let secret = Secret::new("s3cret-value");
        assert_eq!(format!("{secret:?} {secret}"), "Secret(********) ********");
        assert_eq!(secret.expose(), "s3cret-value");
    }
}
