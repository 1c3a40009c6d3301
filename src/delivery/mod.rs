//! Delivery: turning queued deliveries into signed HTTP requests, recording each attempt,
//! and scheduling retries.
//!
//! [`worker::Worker`] claims due deliveries from the store under a lease and runs each in
//! its own task; [`crate::wire`] builds the bytes, [`client`] sends them over [`connect`]ions
//! the destination [`guard`] permits, written and read by [`http1`], [`crate::domain::retry`] decides when to try again (with [`retry`]'s jitter), and [`retention`] prunes old
//! events. Invariant: a delivery's outcome is recorded in the store before its lease is
//! released; what a worker holds only in memory is always still in the store as leased.

pub mod client;
pub mod connect;
pub mod disable;
pub mod http1;
pub mod outcome_log;
pub mod retention;
pub mod retry;
pub mod scheduler;
pub mod worker;

use std::time::Duration;

use ipnet::IpNet;

use crate::domain::retry::RetrySchedule;

/// Delivery settings of `hookpost serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct DeliveryConfig {
    /// How long one attempt may take, connection to last byte kept.
    #[arg(long, env = "HOOKPOST_DELIVERY_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub delivery_timeout: Duration,

    /// The `User-Agent` of every delivery.
    #[arg(long, env = "HOOKPOST_USER_AGENT", default_value = concat!("Hookpost-Hookshot/", env!("CARGO_PKG_VERSION")))]
    pub user_agent: String,

    /// Delays between automatic attempts (`10s,1m,5m`), or `none` for GitHub's behaviour of
    /// no automatic retries.
    #[arg(
        long,
        env = "HOOKPOST_RETRY_SCHEDULE",
        default_value = "10s,1m,5m,30m,2h,6h,12h"
    )]
    pub retry_schedule: RetrySchedule,

    /// Lets deliveries reach loopback, private and link-local addresses.
    #[arg(long, env = "HOOKPOST_ALLOW_PRIVATE_TARGETS")]
    pub allow_private_targets: bool,

    /// A network deliveries may reach although it is not public (repeat, or separate with
    /// commas), e.g. `10.0.0.0/8`.
    #[arg(long, env = "HOOKPOST_ALLOW_TARGET", value_delimiter = ',')]
    pub allow_target: Vec<IpNet>,

    /// How long events, deliveries and attempts are kept.
    #[arg(long, env = "HOOKPOST_RETENTION", default_value = "30days", value_parser = humantime::parse_duration)]
    pub retention: Duration,

    /// Attempts in flight at once, over all destinations.
    #[arg(long, env = "HOOKPOST_CONCURRENCY", default_value_t = 256)]
    pub concurrency: usize,

    /// Run delivery workers in this process; `false` serves the API only (another process
    /// on the same database delivers).
    #[arg(long, env = "HOOKPOST_DELIVER", default_value_t = true, action = clap::ArgAction::Set)]
    pub deliver: bool,

    /// How long a claimed delivery is held before another process may take it over; renewed
    /// while the delivery waits or is sent, so it runs out only when its process died.
    #[arg(long, env = "HOOKPOST_LEASE", default_value = "60s", value_parser = humantime::parse_duration)]
    pub lease: Duration,

    /// Attempts in flight at once to one destination (a resolved address and port), so
    /// that one slow receiver cannot take every slot; its further deliveries wait in the
    /// database, not in a slot others could use. (`--per-host-concurrency` is the old name.)
    #[arg(
        long,
        alias = "per-host-concurrency",
        env = "HOOKPOST_PER_DESTINATION_CONCURRENCY",
        default_value_t = 64
    )]
    pub per_destination_concurrency: usize,

    /// Disables a hook whose every attempt has failed for this long (and at least ten of
    /// them), e.g. `5d`; its events are then held, and delivered in order when it is
    /// re-activated. `none` (the default) never disables, as on GitHub.
    #[arg(long, env = "HOOKPOST_DISABLE_AFTER", default_value = "none")]
    pub disable_after: disable::DisableAfter,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            delivery_timeout: Duration::from_secs(10),
            user_agent: concat!("Hookpost-Hookshot/", env!("CARGO_PKG_VERSION")).to_owned(),
            retry_schedule: RetrySchedule::default(),
            allow_private_targets: false,
            allow_target: Vec::new(),
            retention: Duration::from_secs(30 * 24 * 3600),
            concurrency: 256,
            deliver: true,
            per_destination_concurrency: 64,
            lease: Duration::from_secs(60),
            disable_after: disable::DisableAfter::default(),
        }
    }
}
