//! Integration tests: the real router on 127.0.0.1:0, real SQLite files, real HTTP.
//! One binary, so the helpers are compiled once and shared. `tests/postgres` compiles the
//! same modules again against PostgreSQL. Our own harness ([`harness`]) runs them.

/// This binary's database.
const BACKEND: storage::Backend = storage::Backend::Sqlite;

mod apps;
mod cli;
mod connections;
mod contract;
mod crash;
mod daily;
mod delivery;
mod errors;
mod flow;
mod harness;
mod helpers;
mod hooks;
mod layout;
mod log;
mod metrics;
mod openapi;
mod persistence;
mod publish;
mod publishers;
mod readme;
mod receiver;
mod retries;
mod schema;
mod signatures;
mod storage;
mod tenancy;
mod tools;
mod ui;
mod upgrade;

fn main() {
    harness::run(vec![
        apps::tests(),
        cli::tests(),
        connections::tests(),
        contract::tests(),
        crash::tests(),
        daily::tests(),
        delivery::tests(),
        errors::tests(),
        flow::tests(),
        hooks::tests(),
        layout::tests(),
        log::tests(),
        metrics::tests(),
        openapi::tests(),
        persistence::tests(),
        publish::tests(),
        readme::tests(),
        retries::tests(),
        schema::tests(),
        signatures::tests(),
        tenancy::tests(),
        tools::tests(),
        ui::tests(),
        upgrade::tests(),
    ]);
}
