//! `spawn_app()` and friends: each test gets its own server, port and data directory.

use std::net::SocketAddr;
use std::sync::{Arc, Once};

use hookpost::config::ServeConfig;
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use crate::storage::Storage;

pub const ADMIN_TOKEN: &str = "hp_test_admin_token";

/// Logs go to the test output only with `TEST_LOG=1`.
fn init_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            tracing_subscriber::fmt()
                .with_env_filter("debug,hyper=info")
                .with_test_writer()
                .init();
        }
    });
}

pub struct TestApp {
    pub address: SocketAddr,
    /// `http://127.0.0.1:PORT/api/v3`
    pub api: String,
    pub client: reqwest::Client,
    /// Where the server keeps its data (shared with a restarted server).
    pub storage: Arc<Storage>,
    /// The delivery worker, for tests that drive it with their own clock.
    pub worker: std::sync::Arc<hookpost::delivery::worker::Worker>,
    shutdown: CancellationToken,
    server: JoinHandle<anyhow::Result<()>>,
}

/// A response with its body parsed as JSON (`Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A server on fresh storage, after `adjust` has changed its settings.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut ServeConfig)) -> TestApp {
    start(&Arc::new(Storage::new().await), adjust).await
}

/// A server on `storage`, which may outlive it (for restart tests).
pub async fn start(storage: &Arc<Storage>, adjust: impl FnOnce(&mut ServeConfig)) -> TestApp {
    init_tracing();
    let mut config = ServeConfig::for_data_dir(storage.dir());
    config.store = storage.config();
    config.admin_token = Some(ADMIN_TOKEN.to_owned());
    // Management tests stay deterministic; delivery tests turn this on (or drive the worker).
    config.delivery.deliver = false;
    adjust(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let server = hookpost::server::Server::open(config)
        .await
        .expect("the server opens");
    let worker = server.worker();
    let server = tokio::spawn(server.serve(listener, shutdown.clone()));
    TestApp {
        address,
        api: format!("http://{address}/api/v3"),
        client: crate::helpers::http_client(),
        storage: storage.clone(),
        worker,
        shutdown,
        server,
    }
}

impl TestApp {
    /// Shuts the server down gracefully and waits until the store is closed.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.server
            .await
            .unwrap()
            .expect("the server stops cleanly");
    }

    /// Sends a request to `path` (relative to `/api/v3`) with an optional token and body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.api));
        if let Some(token) = token {
            request = request.header("Authorization", format!("token {token}"));
        }
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        read_reply(request.send().await.expect("the server answers")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.request(Method::POST, path, Some(token), Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.request(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.request(Method::DELETE, path, Some(token), None).await
    }

    /// Sends raw bytes, for bodies that are not valid JSON.
    pub async fn post_raw(&self, path: &str, token: &str, body: Vec<u8>) -> Reply {
        let request = self
            .client
            .post(format!("{}{path}", self.api))
            .header("Authorization", format!("Bearer {token}"))
            .body(body);
        read_reply(request.send().await.expect("the server answers")).await
    }

    /// A new owner token for `owners`, made through the admin API.
    pub async fn owner_token(&self, owners: &[&str]) -> String {
        let reply = self
            .post(
                "/admin/tokens",
                ADMIN_TOKEN,
                &serde_json::json!({"owners": owners}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        reply.body["token"].as_str().unwrap().to_owned()
    }

    /// Creates a hook under `collection` (e.g. `/repos/acme/widgets/hooks`) and returns it.
    pub async fn create_hook(&self, collection: &str, token: &str, body: &Value) -> Value {
        let reply = self.post(collection, token, body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        reply.body
    }
}

async fn read_reply(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("a readable body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("a JSON body, got {:?}", String::from_utf8_lossy(&bytes)))
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// A minimal valid create body for a hook delivering to `url`.
pub fn hook_body(url: &str) -> Value {
    serde_json::json!({"config": {"url": url}})
}

/// A server that delivers, allowed to reach receivers on loopback.
pub async fn spawn_delivering_app(adjust: impl FnOnce(&mut ServeConfig)) -> TestApp {
    spawn_app_with(|config| {
        config.delivery.deliver = true;
        config.delivery.allow_target = vec!["127.0.0.0/8".parse().unwrap()];
        adjust(config);
    })
    .await
}

impl TestApp {
    /// Publishes `payload` as `event` on `repository` with the admin token; returns the guid.
    pub async fn publish(&self, event: &str, repository: &str, payload: Value) -> String {
        let reply = self
            .post(
                "/events",
                ADMIN_TOKEN,
                &serde_json::json!({"event": event, "repository": repository, "payload": payload}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
        reply.body["id"].as_str().unwrap().to_owned()
    }
}

/// A server whose worker the test drives (`deliver_due`), allowed to reach loopback.
pub async fn spawn_stepped_app(adjust: impl FnOnce(&mut ServeConfig)) -> TestApp {
    spawn_app_with(|config| {
        config.delivery.allow_target = vec!["127.0.0.0/8".parse().unwrap()];
        adjust(config);
    })
    .await
}

impl TestApp {
    /// Makes every delivery due now, recorded before this returns; how many there were.
    pub async fn deliver_due(&self) -> usize {
        self.deliver_due_at(hookpost::domain::timestamp::Timestamp::now())
            .await
    }

    /// The same with the worker's clock at `now`.
    pub async fn deliver_due_at(&self, now: hookpost::domain::timestamp::Timestamp) -> usize {
        self.worker.run_once(now).await.expect("the store answers")
    }

    /// `GET /metrics` as text.
    pub async fn metrics_text(&self) -> String {
        let response = self
            .client
            .get(format!("http://{}/metrics", self.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        response.text().await.unwrap()
    }

    /// The hook's delivery log (first page, newest first).
    pub async fn deliveries(&self, hook_path: &str) -> Vec<Value> {
        let reply = self
            .get(&format!("{hook_path}/deliveries?per_page=100"), ADMIN_TOKEN)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        reply.body.as_array().unwrap().clone()
    }
}

/// `…/hooks/{id}` of a hook object.
pub fn hook_path(collection: &str, hook: &Value) -> String {
    format!("{collection}/{}", hook["id"])
}

/// The real `hookpost` binary.
pub const BINARY: &str = env!("CARGO_BIN_EXE_hookpost");

/// Starts `hookpost serve` on `storage` and a free loopback port with `HOOKPOST_*`
/// variables `env`, and waits until it listens; returns the process and its address.
pub async fn spawn_binary(
    storage: &Storage,
    env: &[(&str, &str)],
) -> (tokio::process::Child, String) {
    let (child, address, _log) = spawn_binary_logged(storage, env).await;
    (child, address)
}

/// The same, also returning every log line the process writes until it exits.
pub async fn spawn_binary_logged(
    storage: &Storage,
    env: &[(&str, &str)],
) -> (
    tokio::process::Child,
    String,
    tokio::task::JoinHandle<Vec<String>>,
) {
    spawn_serve(storage, &[], env).await
}

/// `hookpost serve ARGS…` on `storage` and a free loopback port with `HOOKPOST_*`
/// variables `env`: the process, its address, and every log line it writes until it exits.
pub async fn spawn_serve(
    storage: &Storage,
    args: &[&str],
    env: &[(&str, &str)],
) -> (
    tokio::process::Child,
    String,
    tokio::task::JoinHandle<Vec<String>>,
) {
    use tokio::io::AsyncBufReadExt;
    let mut command = tokio::process::Command::new(BINARY);
    command
        .arg("serve")
        .args(args)
        .env("HOOKPOST_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .envs(storage.env())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("the binary starts");
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let address = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            seen.push(line.clone());
            // Pretty logs say `address=…`, JSON logs `"address":"…"`.
            let found = line
                .split("address=")
                .nth(1)
                .or_else(|| line.split("\"address\":\"").nth(1));
            if let Some(rest) = found {
                return rest
                    .split(|c: char| c.is_whitespace() || c == '"')
                    .next()
                    .unwrap()
                    .to_owned();
            }
        }
        panic!("serve exited before listening");
    })
    .await
    .expect("serve starts listening");
    // Keep draining the log so the process never blocks on a full pipe.
    let log = tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            seen.push(line);
        }
        seen
    });
    (child, address, log)
}

/// The sum of the samples of `metric` (every label set) in the `/metrics` of the server at
/// `origin` (`http://host:port`).
pub async fn metric_total(client: &reqwest::Client, origin: &str, metric: &str) -> f64 {
    let text = client
        .get(format!("{origin}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|line| {
            line.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// An HTTP client for tests; installs the process's TLS crypto provider first, which
/// reqwest needs as this workspace builds it.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Runs an admin command of the real binary on `storage`; returns what it printed as JSON.
pub async fn run_cli(storage: &Storage, args: &[&str]) -> Value {
    let output = tokio::process::Command::new(BINARY)
        .args(args)
        .envs(storage.env())
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// GETs an absolute `url` with the admin token; returns the `rel="next"` URL and the items.
pub async fn get_page(app: &TestApp, url: &str) -> (Option<String>, Vec<Value>) {
    get_page_as(&app.client, ADMIN_TOKEN, url).await
}

/// The same with `token`, from any server.
pub async fn get_page_as(
    client: &reqwest::Client,
    token: &str,
    url: &str,
) -> (Option<String>, Vec<Value>) {
    let response = client
        .get(url)
        .header("Authorization", format!("token {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let next = response
        .headers()
        .get("link")
        .and_then(|link| link.to_str().ok())
        .and_then(|link| {
            link.split(", ")
                .find(|part| part.ends_with("rel=\"next\""))
                .map(|part| part[1..part.find('>').unwrap()].to_owned())
        });
    (next, response.json().await.unwrap())
}
