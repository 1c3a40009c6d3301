//! The store conformance suite: one set of tests written against the `Store` interface (not
//! over HTTP), run against every backend. A new backend is "implement the traits, pass this
//! suite". PostgreSQL runs need `HOOKPOST_TEST_POSTGRES_URL` (a database per test, dropped
//! after it); without it they are reported as ignored, and under CI they fail.

/// Unused here: each conformance test names its backend (`storage.rs` wants one).
#[allow(
    dead_code,
    reason = "storage.rs reads it; this binary picks a backend per test"
)]
const BACKEND: storage::Backend = storage::Backend::Sqlite;

#[allow(dead_code, reason = "shared with the HTTP suites, which use all of it")]
#[path = "../api/storage.rs"]
mod storage;

mod conformance;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use hookpost::store::Store;
use libtest_mimic::{Arguments, Trial};
use storage::{Backend, POSTGRES_URL_VARIABLE, Storage};

type Check = fn(Arc<dyn Store>) -> Pin<Box<dyn Future<Output = ()>>>;

/// Opens a fresh store on `backend`, runs `check` on it, closes it.
fn run_on(backend: Backend, check: Check) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(async {
            let storage = Storage::new_on(backend).await;
            let store = hookpost::store::open(&storage.config())
                .await
                .expect("the store opens");
            check(store.clone()).await;
            store.close().await;
        });
}

fn main() {
    let arguments = Arguments::from_args();
    let postgres = std::env::var_os(POSTGRES_URL_VARIABLE).is_some();
    let strict = std::env::var_os("CI").is_some();
    let mut trials = Vec::new();
    for (name, check) in conformance::checks() {
        trials.push(Trial::test(format!("sqlite::{name}"), move || {
            run_on(Backend::Sqlite, check);
            Ok(())
        }));
        let trial = Trial::test(format!("postgres::{name}"), move || {
            if !postgres {
                return Err(
                    format!("CI must run this test, but {POSTGRES_URL_VARIABLE} is unset").into(),
                );
            }
            run_on(Backend::Postgres, check);
            Ok(())
        });
        trials.push(trial.with_ignored_flag(!postgres && !strict));
    }
    if !postgres && !strict {
        eprintln!("the PostgreSQL half is reported as ignored: {POSTGRES_URL_VARIABLE} is unset");
    }
    libtest_mimic::run(&arguments, trials).exit()
}
