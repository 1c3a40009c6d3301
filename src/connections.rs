//! Accepting and serving HTTP connections within limits, so that idle or slow clients cost
//! a bounded share: at most `max_connections` at once (beyond them, connections wait in
//! the kernel's backlog, costing us no memory), a deadline for each request head (which is
//! also how long an idle keep-alive connection may wait for its next request), and one for
//! each request body.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// The limits of `hookpost serve`'s HTTP server.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionLimits {
    /// Connections served at once; more wait to be accepted. Default: three quarters of the
    /// process's file-descriptor limit (which `serve` raises to its hard limit), at most 16384.
    #[arg(long, env = "HOOKPOST_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// How long a client may take to send a request head, and how long an idle keep-alive
    /// connection may wait for its next request.
    #[arg(long, env = "HOOKPOST_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_read_timeout: Duration,

    /// How long a client may take to send a request body.
    #[arg(long, env = "HOOKPOST_BODY_READ_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub body_read_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: None,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(60),
        }
    }
}

/// Connections the kernel keeps waiting to be accepted (capped by `net.core.somaxconn`):
/// more than a burst of clients reconnecting at once, whose dropped SYNs would each cost
/// them a second.
const LISTEN_BACKLOG: u32 = 4096;

/// Listens on `address` with a backlog of [`LISTEN_BACKLOG`] (std's and tokio's `bind` ask
/// for 1,024), reusing the address as they do.
///
/// # Errors
/// When the address cannot be bound.
pub fn listen(address: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Descriptors kept for the database, the delivery client and logs.
const RESERVED_DESCRIPTORS: u64 = 256;
/// The most connections served at once by default.
const DEFAULT_MOST_CONNECTIONS: u64 = 16_384;

/// Raises the file-descriptor limit to its hard limit and returns the connection limit:
/// `configured`, or three quarters of what the descriptors allow.
pub fn connection_limit(configured: Option<usize>) -> usize {
    let descriptors = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "could not raise the file-descriptor limit");
            1024
        }
    };
    configured.unwrap_or_else(|| {
        let usable = descriptors.saturating_sub(RESERVED_DESCRIPTORS) * 3 / 4;
        usize::try_from(usable.clamp(64, DEFAULT_MOST_CONNECTIONS)).unwrap_or(64)
    })
}

/// Connections closed since the allocator was last asked to return freed memory, past
/// which it is asked again (at most once per [`TRIM_INTERVAL`]).
const TRIM_AFTER_CLOSED: usize = 256;
const TRIM_INTERVAL: Duration = Duration::from_secs(1);

/// Hands the memory of closed connections back to the OS once many have closed: each
/// holds ~25 KB of buffers, and glibc's allocator keeps what its threads' arenas freed, so
/// after a flood of idle connections the process would otherwise stay as large as at its
/// peak. `malloc_trim` walks the arenas in a few milliseconds, off the runtime's threads.
async fn return_memory_of_closed_connections(closed: Arc<AtomicUsize>) {
    let mut ticks = tokio::time::interval(TRIM_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut trimmed_at = 0;
    loop {
        ticks.tick().await;
        let now = closed.load(Ordering::Relaxed);
        if now.wrapping_sub(trimmed_at) >= TRIM_AFTER_CLOSED {
            trimmed_at = now;
            let _ = tokio::task::spawn_blocking(trim_allocator).await;
        }
    }
}

/// Asks the allocator to return the free memory it holds.
fn trim_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks and releases the allocator's own free lists; it takes
    // its locks itself and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Serves `app` on `listener` until `shutdown` fires; then stops accepting and lets the
/// connections finish for at most `drain_limit`.
///
/// # Errors
/// When the listener's address cannot be read.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &ConnectionLimits,
    shutdown: CancellationToken,
    drain_limit: Duration,
) -> anyhow::Result<()> {
    let most = connection_limit(limits.max_connections);
    let address = listener
        .local_addr()
        .context("Failed to read the listening address")?;
    tracing::info!(%address, max_connections = most, "Hookpost is listening");
    let app = app.layer(RequestBodyTimeoutLayer::new(limits.body_read_timeout));
    let permits = Arc::new(Semaphore::new(most));
    let closed = Arc::new(AtomicUsize::new(0));
    let trimmer = tokio::spawn(return_memory_of_closed_connections(closed.clone()));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    loop {
        // A permit first: at the limit, connections wait in the backlog, not in memory.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = shutdown.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors, say: wait rather than spin.
                    tracing::warn!(%error, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        // Each request knows its client's address (`ConnectInfo`), as with axum::serve.
        let router = app.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            tower_service::Service::call(&mut router.clone(), request)
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        let closed = closed.clone();
        tokio::spawn(async move {
            // A client that goes away or times out is its own affair.
            let _ = connection.await;
            drop(permit);
            closed.fetch_add(1, Ordering::Relaxed);
        });
    }
    trimmer.abort();
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(drain_limit) => {
            tracing::warn!("connections still open after the drain limit; closing");
        }
    }
    Ok(())
}
