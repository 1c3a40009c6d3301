//! The test harness of both integration binaries (`libtest-mimic`): each module lists its
//! tests with [`tests!`], and a test whose backend or browser is missing here is reported
//! as *ignored*, with the reason, never as passed. Under CI (`CI` set) a missing backend or
//! browser fails the test instead, so CI never skips one.

use std::future::Future;
use std::pin::Pin;

use libtest_mimic::{Arguments, Failed, Trial};

use crate::storage::{Backend, POSTGRES_URL_VARIABLE};

/// What a test needs beyond the defaults (a current-thread runtime and this binary's backend).
#[allow(dead_code, reason = "each test binary uses some of them")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Plain,
    /// A runtime with two worker threads.
    MultiThread,
    /// Two worker threads and Debian's `chromium` with `chromium-driver`.
    Browser,
    /// A Python with schemathesis and PyJWT, named by [`API_TEST_PYTHON`] (`.ci/run`
    /// prepares one).
    ApiContract,
    /// `bash`, `curl` and `jq`, which the README's walk-through uses.
    Shell,
}

/// What [`Kind::Shell`] needs on the `PATH`.
const SHELL_TOOLS: [&str; 3] = ["bash", "curl", "jq"];

/// Whether `program` is on the `PATH`.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// The variable that names the Python the API contract test runs.
pub const API_TEST_PYTHON: &str = "HOOKPOST_API_TEST_PYTHON";

type TestFuture = Pin<Box<dyn Future<Output = ()>>>;

pub struct Test {
    name: String,
    kind: Kind,
    run: fn() -> TestFuture,
}

impl Test {
    /// `module` is `module_path!()` of the test's module.
    pub fn new(module: &str, name: &str, kind: Kind, run: fn() -> TestFuture) -> Test {
        let module = module.split_once("::").map_or(module, |(_, rest)| rest);
        Test {
            name: format!("{module}::{name}"),
            kind,
            run,
        }
    }
}

/// Lists a module's tests: `tests!(a, b; MultiThread c, Browser d)`.
macro_rules! tests {
    ($($name:ident),* $(,)? $(; $($kind:ident $special:ident),* $(,)?)?) => {
        /// This module's tests, for the harness.
        pub fn tests() -> Vec<crate::harness::Test> {
            vec![
                $(crate::harness::Test::new(
                    module_path!(),
                    stringify!($name),
                    crate::harness::Kind::Plain,
                    || Box::pin($name()),
                ),)*
                $($(crate::harness::Test::new(
                    module_path!(),
                    stringify!($special),
                    crate::harness::Kind::$kind,
                    || Box::pin($special()),
                ),)*)?
            ]
        }
    };
}
pub(crate) use tests;

/// Why a test cannot run on this machine, if it cannot.
fn missing(kind: Kind) -> Option<String> {
    if crate::BACKEND == Backend::Postgres && std::env::var_os(POSTGRES_URL_VARIABLE).is_none() {
        return Some(format!("{POSTGRES_URL_VARIABLE} is unset"));
    }
    if kind == Kind::ApiContract
        && !std::env::var_os(API_TEST_PYTHON)
            .is_some_and(|path| std::path::Path::new(&path).exists())
    {
        return Some(format!(
            "{API_TEST_PYTHON} names no Python with schemathesis (.ci/run prepares one)"
        ));
    }
    if kind == Kind::Shell
        && let Some(tool) = SHELL_TOOLS.into_iter().find(|tool| !on_path(tool))
    {
        return Some(format!("{tool} is not installed (apt-get install curl jq)"));
    }
    if kind == Kind::Browser && !std::path::Path::new("/usr/bin/chromedriver").exists() {
        return Some(
            "/usr/bin/chromedriver is missing (apt-get install chromium chromium-driver)"
                .to_owned(),
        );
    }
    None
}

fn execute(test: &Test) -> Result<(), Failed> {
    let runtime = match test.kind {
        Kind::Plain | Kind::ApiContract | Kind::Shell => {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        }
        Kind::MultiThread | Kind::Browser => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build(),
    }
    .map_err(|error| Failed::from(format!("no runtime: {error}")))?;
    runtime.block_on((test.run)());
    Ok(())
}

/// Runs `tests` as `cargo test` would, with its command-line filters and summary.
pub fn run(tests: Vec<Vec<Test>>) -> ! {
    let arguments = Arguments::from_args();
    let strict = std::env::var_os("CI").is_some();
    let mut reasons = std::collections::BTreeMap::<String, usize>::new();
    let trials: Vec<Trial> = tests
        .into_iter()
        .flatten()
        .map(|test| match missing(test.kind) {
            Some(reason) if strict => Trial::test(test.name, move || {
                Err(format!("CI must run this test, but {reason}").into())
            }),
            Some(reason) => {
                *reasons.entry(reason).or_default() += 1;
                Trial::test(test.name, || Ok(())).with_ignored_flag(true)
            }
            None => Trial::test(test.name.clone(), move || execute(&test)),
        })
        .collect();
    for (reason, count) in reasons {
        eprintln!("{count} tests are reported as ignored: {reason}");
    }
    libtest_mimic::run(&arguments, trials).exit()
}
