//! How a daemon is set up: where it listens, what it serves, how many runs it executes at
//! once, and how long its leases last. The command line fills it from weft.toml's
//! `[serve]` section, the environment and its flags, in that order.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A daemon's settings.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// The folder of the workflows it serves.
    pub workflows: PathBuf,
    /// How many runs it executes at once.
    pub workers: usize,
    /// How many model calls its runs make at once.
    pub model_calls: usize,
    /// Requests without a key act for the default tenant (loopback only).
    pub no_auth: bool,
    /// How long a lease on a run lasts without a heartbeat: a daemon that dies leaves its
    /// runs to others after this.
    pub lease: Duration,
    /// How often leases are renewed.
    pub heartbeat: Duration,
    /// How often an idle worker pool looks for queued runs (runs this daemon queues wake
    /// it at once).
    pub poll: Duration,
    /// The largest request body, in bytes.
    pub body_limit: usize,
    /// On SIGTERM, how long running steps may take to finish before they are left for
    /// another daemon (or the next start) to redo.
    pub shutdown_deadline: Duration,
    /// How long a `?wait=true` request waits for its run at most.
    pub wait_limit: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            workflows: PathBuf::from("workflows"),
            workers: 64,
            model_calls: 64,
            no_auth: false,
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(10),
            poll: Duration::from_millis(500),
            body_limit: 1024 * 1024,
            shutdown_deadline: Duration::from_secs(10),
            wait_limit: Duration::from_secs(300),
        }
    }
}
