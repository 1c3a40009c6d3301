//! Account (owner, organization) and repository names.
//!
//! GitHub compares these case-insensitively but shows them as first written, so each name
//! keeps its spelling and offers a lower-cased [`Login::key`] for comparison and lookup.

use std::fmt;

/// Characters Git forges allow in account and repository names (GitHub, Gitea, Gogs).
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

fn is_valid_name(text: &str) -> bool {
    (1..=100).contains(&text.len()) && text.chars().all(is_name_char) && text != "." && text != ".."
}

/// A user or organization login, e.g. `acme`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Login(String);

impl Login {
    /// `None` when `text` cannot be an account name.
    pub fn parse(text: &str) -> Option<Self> {
        is_valid_name(text).then(|| Login(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form used for comparison and lookup.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A repository's name within its owner, e.g. `widgets`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepoName(String);

impl RepoName {
    pub fn parse(text: &str) -> Option<Self> {
        is_valid_name(text).then(|| RepoName(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_their_spelling_and_compare_folded() {
        let login = Login::parse("Acme-Corp").unwrap();
        assert_eq!(login.as_str(), "Acme-Corp");
        assert_eq!(login.key(), "acme-corp");
    }

    #[test]
    fn rejects_what_cannot_be_a_name() {
        for bad in ["", ".", "..", "a/b", "a b", &"x".repeat(101)] {
            assert!(Login::parse(bad).is_none(), "{bad:?}");
            assert!(RepoName::parse(bad).is_none(), "{bad:?}");
        }
    }
}
