//! The integration suite of `tests/api`, compiled again with PostgreSQL as the backend:
//! every test gets a database of its own on the server named by
//! `HOOKPOST_TEST_POSTGRES_URL`, dropped after it. Without that variable every test is
//! reported as ignored. `cluster` runs only here: it needs a database several processes share.

/// This binary's database.
const BACKEND: storage::Backend = storage::Backend::Postgres;

#[path = "../api/apps.rs"]
mod apps;
#[path = "../api/cli.rs"]
mod cli;
mod cluster;
mod conflicts;
#[path = "../api/crash.rs"]
mod crash;
#[path = "../api/daily.rs"]
mod daily;
mod database;
#[path = "../api/delivery.rs"]
mod delivery;
#[path = "../api/errors.rs"]
mod errors;
#[path = "../api/flow.rs"]
mod flow;
#[path = "../api/harness.rs"]
mod harness;
#[path = "../api/helpers.rs"]
mod helpers;
#[path = "../api/hooks.rs"]
mod hooks;
#[path = "../api/layout.rs"]
mod layout;
#[path = "../api/log.rs"]
mod log;
#[path = "../api/metrics.rs"]
mod metrics;
#[path = "../api/openapi.rs"]
mod openapi;
mod outage;
mod packing;
#[path = "../api/persistence.rs"]
mod persistence;
#[path = "../api/publish.rs"]
mod publish;
#[path = "../api/publishers.rs"]
mod publishers;
#[path = "../api/readme.rs"]
mod readme;
#[path = "../api/receiver.rs"]
mod receiver;
#[path = "../api/retries.rs"]
mod retries;
#[path = "../api/schema.rs"]
mod schema;
#[path = "../api/signatures.rs"]
mod signatures;
mod statistics;
#[path = "../api/storage.rs"]
mod storage;
#[path = "../api/tenancy.rs"]
mod tenancy;
#[path = "../api/tools.rs"]
mod tools;
#[path = "../api/ui.rs"]
mod ui;
#[path = "../api/upgrade.rs"]
mod upgrade;

fn main() {
    harness::run(vec![
        apps::tests(),
        cli::tests(),
        cluster::tests(),
        conflicts::tests(),
        crash::tests(),
        daily::tests(),
        delivery::tests(),
        errors::tests(),
        flow::tests(),
        hooks::tests(),
        layout::tests(),
        log::tests(),
        metrics::tests(),
        outage::tests(),
        packing::tests(),
        openapi::tests(),
        persistence::tests(),
        publish::tests(),
        readme::tests(),
        retries::tests(),
        schema::tests(),
        signatures::tests(),
        statistics::tests(),
        tenancy::tests(),
        tools::tests(),
        ui::tests(),
        upgrade::tests(),
    ]);
}
