//! Wiring: opens the store, settles the admin token, and serves the API on an injected
//! listener until the shutdown token fires.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth;
use crate::config::ServeConfig;
use crate::core::Core;
use crate::delivery::worker::Worker;
use crate::delivery::{disable, retention};
use crate::domain::guard::Guard;
use crate::domain::hook::HookRules;
use crate::web::AppState;
use crate::{api, connections, store, ui};

/// How long open HTTP connections may take to finish once shutdown has begun.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// A Hookpost whose store is open and admin token settled, ready to serve.
pub struct Server {
    config: ServeConfig,
    state: AppState,
    store: Arc<dyn store::Store>,
    /// Poked by the core after it queues work, and by the store when another process does.
    wake: Arc<tokio::sync::Notify>,
    worker: Arc<Worker>,
}

impl Server {
    /// Opens the store and settles the admin token; nothing is served yet, so a caller
    /// knows the server is ready once this returns.
    ///
    /// # Errors
    /// When the store cannot be opened or the admin token cannot be settled.
    pub async fn open(config: ServeConfig) -> anyhow::Result<Self> {
        if let Some(token) = &config.admin_token {
            crate::config::check_admin_token(token)
                .map_err(|why| anyhow::anyhow!("HOOKPOST_ADMIN_TOKEN / --admin-token: {why}"))?;
        }
        let store = store::open(&config.store).await?;
        let admin = auth::admin_token_digest(
            store.as_ref(),
            config.admin_token.as_deref(),
            &config.store.data_dir,
        )
        .await?;
        let recovered = store
            .recover_leases(crate::domain::timestamp::Timestamp::now())
            .await
            .context("Failed to recover leased deliveries")?;
        if recovered > 0 {
            tracing::info!(
                recovered,
                "deliveries in flight at the last stop are due again"
            );
        }
        let wake = Arc::new(tokio::sync::Notify::new());
        let metrics = Arc::new(crate::metrics::Metrics::default());
        let worker = Worker::new(
            store.clone(),
            &config.delivery,
            config.header_alias.clone(),
            wake.clone(),
            metrics.clone(),
        )?;
        let core = Core::new(
            store.clone(),
            Some(admin),
            wake.clone(),
            metrics.clone(),
            Arc::new(HookRules::new(&config.header_alias)),
        )
        .limit_auth_failures(config.auth_failure_limit)
        .with_destination_guard(Guard::new(
            config.delivery.allow_private_targets,
            config.delivery.allow_target.clone(),
        ));
        let state = AppState {
            core,
            metrics,
            public_url: config.public_url.as_deref().map(Arc::from),
            metrics_token: config.metrics_token.as_deref().map(Arc::from),
        };
        Ok(Server {
            config,
            state,
            store,
            wake,
            worker: Arc::new(worker),
        })
    }

    /// The delivery worker, for driving deliveries step by step (with `--deliver false`).
    pub fn worker(&self) -> Arc<Worker> {
        self.worker.clone()
    }

    /// Serves on `listener` until `shutdown` is cancelled, then drains and closes the
    /// store, so that everything acknowledged is on disk when this returns.
    ///
    /// The listener is injected so that tests (and socket activation) can bind port 0.
    ///
    /// # Errors
    /// When the listener fails.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let store = self.store.clone();
        let background = tokio_util::task::TaskTracker::new();
        if self.config.delivery.deliver {
            store.watch_for_work(self.wake.clone());
            background.spawn(self.worker.clone().run(shutdown.clone()));
            background.spawn(retention::run(
                store.clone(),
                self.config.delivery.retention,
                self.state.metrics.clone(),
                shutdown.clone(),
            ));
            if let Some(after) = self.config.delivery.disable_after.0 {
                background.spawn(disable::run(
                    store.clone(),
                    after,
                    self.state.metrics.clone(),
                    shutdown.clone(),
                ));
            }
        }
        background.close();
        let app = api::router(
            self.state.clone(),
            ui::router(self.state),
            self.config.max_payload_bytes,
        );
        let outcome = connections::serve(
            listener,
            app,
            &self.config.connections,
            shutdown.clone(),
            DRAIN_LIMIT,
        )
        .await;
        // The worker stops claiming on the same token and finishes its attempts.
        background.wait().await;
        store.close().await;
        tracing::info!("Hookpost stopped");
        outcome
    }
}

/// Opens and serves: [`Server::open`] then [`Server::serve`].
///
/// # Errors
/// As those two.
pub async fn run(
    config: ServeConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    Server::open(config).await?.serve(listener, shutdown).await
}
