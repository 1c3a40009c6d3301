//! Where a test's server keeps its data: a temporary directory, and with the PostgreSQL
//! backend also a database of its own, created for the test and dropped after it.
//!
//! The suite is compiled twice (`tests/api` for SQLite, `tests/postgres` for PostgreSQL);
//! each binary names its backend in `crate::BACKEND`.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use hookpost::store::StoreConfig;
use tempfile::TempDir;

/// The database a test binary runs its servers on.
#[allow(dead_code, reason = "each test binary names one of them")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The server (any database in it will do) on which PostgreSQL tests create their databases.
pub const POSTGRES_URL_VARIABLE: &str = "HOOKPOST_TEST_POSTGRES_URL";

pub struct Storage {
    dir: TempDir,
    database: Option<TestDatabase>,
}

impl Storage {
    /// A fresh, empty place for a server's data on this binary's backend.
    pub async fn new() -> Storage {
        Storage::new_on(crate::BACKEND).await
    }

    /// A fresh, empty place for a store's data on `backend`.
    pub async fn new_on(backend: Backend) -> Storage {
        let database = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(TestDatabase::create().await),
        };
        Storage {
            dir: tempfile::tempdir().expect("a temporary directory"),
            database,
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> StoreConfig {
        StoreConfig {
            data_dir: self.dir().to_owned(),
            database: self.database.as_ref().map(|database| database.url.clone()),
        }
    }

    /// The PostgreSQL database's URL, if this storage has one.
    #[allow(dead_code)] // Only the PostgreSQL binary's outage test reads it.
    pub fn database_url(&self) -> Option<&str> {
        self.database.as_ref().map(|database| database.url.as_str())
    }

    /// The `HOOKPOST_*` variables that point the real binary at this storage.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![(
            "HOOKPOST_DATA_DIR",
            self.dir().to_str().expect("a UTF-8 path").to_owned(),
        )];
        if let Some(database) = &self.database {
            env.push(("HOOKPOST_DATABASE", database.url.clone()));
        }
        env
    }

    /// Runs `sql` on the database behind a server's back (to damage it, say).
    pub async fn execute(&self, sql: &str) {
        match &self.database {
            Some(database) => psql(&database.url, &["--command", sql]).await,
            None => {
                let connection = rusqlite::Connection::open(self.dir().join("hookpost.sqlite3"))
                    .expect("the SQLite database opens");
                connection
                    .busy_timeout(std::time::Duration::from_secs(10))
                    .unwrap();
                connection.execute_batch(sql).expect("the SQL runs");
            }
        }
    }

    /// Runs the SQL script at `path` (a `pg_dump`) on this storage's PostgreSQL database.
    pub async fn load_sql(&self, path: &Path) {
        let database = self.database.as_ref().expect("a PostgreSQL storage");
        let path = path.to_str().expect("a UTF-8 path");
        psql(&database.url, &["--file", path]).await;
    }

    /// Everything the database holds, as bytes: the SQLite files, or PostgreSQL's dump.
    pub async fn database_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(self.dir()).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("hookpost.sqlite3") {
                bytes.extend(std::fs::read(path).unwrap());
            }
        }
        if let Some(database) = &self.database {
            let dump = tokio::process::Command::new("pg_dump")
                .args(["--data-only", "--dbname", &database.url])
                .output()
                .await
                .expect("pg_dump runs");
            assert!(
                dump.status.success(),
                "{}",
                String::from_utf8_lossy(&dump.stderr)
            );
            bytes.extend(dump.stdout);
        }
        bytes
    }
}

/// A database made for one test, dropped (with any connection left) when this is dropped.
struct TestDatabase {
    name: String,
    url: String,
    admin_url: String,
}

impl TestDatabase {
    async fn create() -> TestDatabase {
        static CREATED: AtomicU64 = AtomicU64::new(0);
        let admin_url = std::env::var(POSTGRES_URL_VARIABLE).expect("checked by the test");
        let name = format!(
            "hookpost_test_{}_{}_{}",
            std::process::id(),
            CREATED.fetch_add(1, Ordering::Relaxed),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        admin(&admin_url, &format!("CREATE DATABASE {name}")).await;
        let mut url = url::Url::parse(&admin_url).expect("a postgres:// URL");
        url.set_path(&name);
        TestDatabase {
            url: url.to_string(),
            name,
            admin_url,
        }
    }
}

/// Runs one statement on the server of `url`.
async fn admin(url: &str, sql: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|error| panic!("PostgreSQL at {POSTGRES_URL_VARIABLE}: {error}"));
    let driver = tokio::spawn(connection);
    client
        .batch_execute(sql)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
    drop(client);
    let _ = driver.await;
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop cannot await, and the test's runtime may be the current thread: the
        // statement runs on a runtime of its own, on a thread of its own.
        let url = self.admin_url.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(admin(&url, &sql));
        })
        .join();
        if dropped.is_err() {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}

/// Runs `psql` on `url` with `arguments`, stopping at the first error.
async fn psql(url: &str, arguments: &[&str]) {
    let done = tokio::process::Command::new("psql")
        .args(["--quiet", "--set", "ON_ERROR_STOP=1", "--dbname", url])
        .args(arguments)
        .output()
        .await
        .expect("psql runs");
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
}
