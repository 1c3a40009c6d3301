//! The vocabulary of Hookpost, free of HTTP and SQL: names, hooks and their validation.
//!
//! Everything here is parsed, not merely checked: once a value of these types exists it is
//! valid, so the store and the API never re-validate.

pub mod event;
pub mod guard;
pub mod hook;
pub mod ids;
pub mod names;
pub mod order;
pub mod rate;
pub mod retry;
pub mod secret;
pub mod signature;
pub mod timestamp;
pub mod validate;
