//! The hookpost processes under test: one, or several sharing a PostgreSQL database.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::measure::ProcessUsage;
use crate::publisher::{ADMIN_TOKEN, BENCH_REPOSITORY, get_text, post_json};
use crate::storage::Storage;

pub struct Server {
    child: Child,
    address: String,
}

impl Server {
    /// Starts `binary serve` on a free port with these environment variables besides the
    /// run's own (settings of `serve`); `deliver` false runs the API only.
    pub async fn start_with(
        binary: &Path,
        storage: &Storage,
        deliver: bool,
        settings: &[(&str, &str)],
    ) -> Self {
        let mut child = Command::new(binary)
            .arg("serve")
            .env("HOOKPOST_LISTEN", "127.0.0.1:0")
            .envs(storage.env())
            .env("HOOKPOST_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("HOOKPOST_ALLOW_TARGET", "127.0.0.0/8")
            .env("HOOKPOST_DELIVER", deliver.to_string())
            .env("RUST_LOG", "info")
            .envs(settings.iter().copied())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("hookpost starts");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
        let address = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.split("address=").nth(1) {
                    return rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                }
            }
            panic!("hookpost exited before listening");
        })
        .await
        .expect("hookpost listens within 30 s");
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("WARN") || line.contains("ERROR") {
                    eprintln!("hookpost: {line}");
                }
            }
        });
        Server { child, address }
    }

    pub fn api(&self) -> String {
        format!("http://{}/api/v3", self.address)
    }

    /// The server's `GET /metrics` text.
    pub async fn metrics(&self) -> String {
        let (status, text) = get_text(&format!("http://{}/metrics", self.address)).await;
        assert_eq!(status, 200, "GET /metrics answers: {text}");
        text
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("the server runs")
    }

    /// A `push` hook on [`BENCH_REPOSITORY`].
    pub async fn create_hook(&self, url: &str) {
        self.create_hook_on(BENCH_REPOSITORY, url).await;
    }

    /// A `push` hook on `repository` (`owner/name`: the owner is the tenant).
    pub async fn create_hook_on(&self, repository: &str, url: &str) {
        self.create_limited_hook_on(repository, url, None).await;
    }

    /// The same, at most `rate_limit` deliveries per second when given.
    pub async fn create_limited_hook_on(
        &self,
        repository: &str,
        url: &str,
        rate_limit: Option<u32>,
    ) {
        let config = serde_json::json!({"url": url, "content_type": "json",
                                        "secret": "bench-secret", "rate_limit": rate_limit});
        self.create_hook_with(repository, config).await;
    }

    /// A `push` hook on `repository` with this `config`.
    pub async fn create_hook_with(&self, repository: &str, config: serde_json::Value) {
        let body = serde_json::json!({"events": ["push"], "config": config});
        let (status, answer) = post_json(
            &format!("{}/repos/{repository}/hooks", self.api()),
            &body.to_string(),
        )
        .await;
        assert_eq!(status, 201, "creating a hook: {answer}");
    }

    /// SIGKILL: no chance to hand anything back.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("the server can be killed");
        let _ = self.child.wait().await;
    }

    /// SIGTERM, then wait for a graceful exit.
    pub async fn stop(mut self) {
        let pid = self.pid().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status().await;
        let _ = tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await;
    }
}

/// Every node of a run; hooks are made through the first, events spread over all.
pub struct Nodes {
    servers: Vec<Server>,
}

impl Nodes {
    pub async fn start(binary: &Path, storage: &Storage, count: usize, deliver: bool) -> Self {
        Self::start_with(binary, storage, count, deliver, &[]).await
    }

    /// The same, with these environment variables besides (settings of `serve`).
    pub async fn start_with(
        binary: &Path,
        storage: &Storage,
        count: usize,
        deliver: bool,
        settings: &[(&str, &str)],
    ) -> Self {
        let mut servers = Vec::with_capacity(count);
        for _ in 0..count.max(1) {
            servers.push(Server::start_with(binary, storage, deliver, settings).await);
        }
        Nodes { servers }
    }

    pub fn first(&self) -> &Server {
        &self.servers[0]
    }

    pub fn apis(&self) -> Vec<String> {
        self.servers.iter().map(Server::api).collect()
    }

    /// CPU time and memory summed over the nodes (peak RSS: the largest node's).
    pub fn usage(&self) -> ProcessUsage {
        let usages: Vec<ProcessUsage> = self
            .servers
            .iter()
            .map(|server| ProcessUsage::read(server.pid()))
            .collect();
        ProcessUsage {
            cpu_seconds: usages.iter().map(|usage| usage.cpu_seconds).sum(),
            rss_kb: usages.iter().map(|usage| usage.rss_kb).sum(),
            peak_rss_kb: usages
                .iter()
                .map(|usage| usage.peak_rss_kb)
                .max()
                .unwrap_or(0),
        }
    }

    pub async fn stop(self) {
        for server in self.servers {
            server.stop().await;
        }
    }
}
