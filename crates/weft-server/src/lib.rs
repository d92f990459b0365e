//! weft-server: `weft serve`, workflows as a daemon. Sessions and runs live in the store and
//! survive restarts; an HTTP API (axum, versioned under `/v1`) starts, reads, answers and
//! streams them, scoped to the caller's tenant; a pool of workers executes served runs under
//! leases, so several daemons on one PostgreSQL share one queue and take over each other's
//! runs when one dies.
//!
//! - `daemon.rs`: the shared state and the daemon's life; `options.rs` its settings;
//! - `workers.rs`: claiming queued runs, heartbeats, driving a run under its lease;
//! - `catalog.rs`: the served folder, and workflows loaded from it or from runs' texts;
//! - `hub.rs`: live events for the streams; `metrics.rs`: the counters at `/metrics`;
//! - `limits.rs`: the limit of model calls at once;
//! - `api/`: the routes (`runs.rs`, `sessions.rs`, `events.rs`, `workflows.rs`,
//!   `health.rs`), who calls (`auth.rs`), bodies (`body.rs`) and errors (`error.rs`).

pub mod api;
pub mod catalog;
pub mod daemon;
pub mod hub;
pub mod limits;
pub mod metrics;
pub mod options;
pub mod workers;

pub use daemon::{Daemon, DaemonParts};
pub use options::ServeOptions;

use std::sync::Arc;

/// Why a daemon could not serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The store refused it (another daemon owns a SQLite file) or cannot be reached.
    #[error(transparent)]
    Store(#[from] weft_core::StoreError),
    /// The address cannot be listened on.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address.
        address: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// `--no-auth` on an address other than loopback.
    #[error(
        "--no-auth serves every request as the default tenant, so it listens on loopback only (127.0.0.1 or ::1), not {0}"
    )]
    OpenWithoutAuth(std::net::SocketAddr),
    /// The server stopped with an error.
    #[error("the HTTP server stopped: {0}")]
    Server(std::io::Error),
}

/// A daemon that listens: registered in the store, its workers started.
pub struct Serving {
    daemon: Arc<Daemon>,
    listener: tokio::net::TcpListener,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Serving {
    /// Registers `daemon`, listens on its address and starts its workers.
    pub async fn start(daemon: Arc<Daemon>) -> Result<Self, ServeError> {
        let address = daemon.options.listen;
        if daemon.options.no_auth && !address.ip().is_loopback() {
            return Err(ServeError::OpenWithoutAuth(address));
        }
        daemon.register().await?;
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|source| ServeError::Listen { address, source })?;
        let tasks = workers::start(&daemon);
        Ok(Self {
            daemon,
            listener,
            tasks,
        })
    }

    /// The address it listens on (the port the system chose, for port 0).
    pub fn address(&self) -> Result<std::net::SocketAddr, std::io::Error> {
        self.listener.local_addr()
    }

    /// The daemon.
    pub fn daemon(&self) -> &Arc<Daemon> {
        &self.daemon
    }

    /// Serves until `stop` fires, then stops cleanly: no more claims or requests, running
    /// steps get the shutdown deadline, the rest stays resumable, leases are given up.
    pub async fn run(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let daemon = self.daemon.clone();
        let stopping = daemon.stopping.clone();
        let signal_daemon = daemon.clone();
        tokio::spawn(async move {
            stop.await;
            signal_daemon.stop_claiming();
        });
        let router = api::router(daemon.clone());
        let served = axum::serve(self.listener, router)
            .with_graceful_shutdown(async move { stopping.cancelled().await })
            .await;
        daemon.stop(daemon.options.shutdown_deadline).await;
        for task in self.tasks {
            task.abort();
        }
        served.map_err(ServeError::Server)
    }
}
