//! Typed ids, so that a hook's id can never be passed where an attempt's is wanted
//! (`redeliver(scope, hook_id, attempt_id)` does not compile with the two swapped).
//! Each is the database's `i64`, shown and serialized as that number.
//!
//! ```compile_fail
//! use hookpost::domain::ids::{AttemptId, HookId};
//! fn redeliver(_hook: HookId, _attempt: AttemptId) {}
//! redeliver(AttemptId(7), HookId(1)); // swapped: does not compile
//! ```

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize,
            serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                text.parse().map($name)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

id_type!(
    /// A hook's id, unique across repository, organization and app hooks (as on GitHub).
    HookId,
    /// A unit of work in the queue: one event for one hook (or one redelivery).
    DeliveryId,
    /// One try of a delivery: the delivery log's item (GitHub's "delivery id").
    AttemptId,
    /// A GitHub App.
    AppId,
    /// An app's installation on an account.
    InstallationId,
);
