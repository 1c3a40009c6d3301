//! Where the servers under test keep their data: a temporary directory, and with
//! `--database` a fresh PostgreSQL database created on that server for this run and
//! dropped at its end, so every run starts empty.

use tempfile::TempDir;
use tokio_postgres::NoTls;

pub struct Storage {
    dir: TempDir,
    /// The server's URL (to drop the database from) and the run's database name.
    database: Option<(String, String)>,
}

/// Runs one statement on the PostgreSQL server at `url`.
async fn execute(url: &str, sql: &str) {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|error| panic!("connecting to {url}: {error}"));
    let driver = tokio::spawn(connection);
    client
        .batch_execute(sql)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
    drop(client);
    let _ = driver.await;
}

impl Storage {
    /// Whether the run is on PostgreSQL (whose CPU the figures then count too).
    pub fn is_postgres(&self) -> bool {
        self.database.is_some()
    }

    /// `server`: a `postgres://` URL of any database on the server to use, or `None` for
    /// the embedded SQLite database.
    pub async fn create(server: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let database = match server {
            Some(url) => {
                let name = format!("hookpost_bench_{}", std::process::id());
                execute(url, &format!("DROP DATABASE IF EXISTS {name}")).await;
                execute(url, &format!("CREATE DATABASE {name}")).await;
                Some((url.to_owned(), name))
            }
            None => None,
        };
        Storage { dir, database }
    }

    /// The `HOOKPOST_*` variables that point a server at this storage.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("HOOKPOST_DATA_DIR", self.dir.path().display().to_string())];
        if let Some((server, name)) = &self.database {
            // The database named in the server's URL, replaced by the run's.
            let base = server.split('?').next().unwrap_or(server);
            let origin = base.rsplit_once('/').map_or(base, |(origin, _)| origin);
            env.push(("HOOKPOST_DATABASE", format!("{origin}/{name}")));
        }
        env
    }

    /// The embedded database's file (SQLite).
    pub fn sqlite_path(&self) -> std::path::PathBuf {
        self.dir.path().join("hookpost.sqlite3")
    }

    /// The bytes of the embedded database's files (SQLite).
    pub fn sqlite_bytes(&self) -> u64 {
        std::fs::read_dir(self.dir.path())
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|entry| {
                        entry
                            .file_name()
                            .to_string_lossy()
                            .starts_with("hookpost.sqlite3")
                    })
                    .filter_map(|entry| entry.metadata().ok())
                    .map(|metadata| metadata.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    /// The run's PostgreSQL database, as the servers reach it.
    pub fn database_url(&self) -> Option<String> {
        self.env()
            .into_iter()
            .find(|(name, _)| *name == "HOOKPOST_DATABASE")
            .map(|(_, url)| url)
    }

    pub fn describe(&self) -> &'static str {
        if self.database.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    }

    /// Drops the run's database (the directory goes when `self` does).
    pub async fn remove(self) {
        if let Some((server, name)) = &self.database {
            execute(
                server,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            )
            .await;
        }
    }
}
