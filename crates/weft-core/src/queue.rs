//! The run queue port: how daemons share the runs they serve. A run a daemon starts (or
//! answers, or retries) is *served*: its log holds the decisions, and any daemon on the
//! database may execute them. A worker claims a run with a lease (an owner and a time it
//! lasts until), renews the leases it holds with heartbeats, and gives each up when the run
//! stops; a lease that was not renewed expires, and another daemon claims the run and goes
//! on from its log. The store's sequence check stops a daemon that lost a lease from
//! writing to the log; the lease tells it to stop working.

use crate::ids::RunId;
use crate::store::StoreError;
use futures_core::future::BoxFuture;
use serde::{Deserialize, Serialize};

/// A daemon as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonInfo {
    /// Its id (unique per process).
    pub id: String,
    /// The machine it runs on.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// When it started (ms since the Unix epoch).
    pub started_at_millis: u64,
    /// Until when it is alive unless it says so again.
    pub alive_until_millis: u64,
}

/// A run a worker claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedRun {
    /// The run.
    pub id: RunId,
    /// Its tenant.
    pub tenant: String,
}

/// What a store tells a daemon about its queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueDepth {
    /// Served runs waiting for a worker (no lease, or an expired one).
    pub waiting: u64,
    /// Served runs a worker holds now.
    pub leased: u64,
}

/// Where served runs wait for workers.
pub trait RunQueue: Send + Sync {
    /// Says that `daemon` is alive until `alive_until`. With `exclusive`, no other live
    /// daemon may share the database: a `conflict` error names the one that holds it.
    fn register_daemon<'a>(
        &'a self,
        daemon: &'a DaemonInfo,
        exclusive: bool,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// The daemons registered on the database, live or not.
    fn daemons(&self) -> BoxFuture<'_, Result<Vec<DaemonInfo>, StoreError>>;
    /// Says that the daemon stopped: its registration and every lease it holds go.
    fn unregister_daemon<'a>(&'a self, daemon: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Claims up to `limit` served runs that wait for a worker, oldest queued first, for
    /// `daemon` until `until` (ms since the Unix epoch); `now` decides which leases expired.
    /// Two daemons never claim one run (PostgreSQL: `FOR UPDATE SKIP LOCKED`).
    fn claim<'a>(
        &'a self,
        daemon: &'a str,
        now: u64,
        until: u64,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<ClaimedRun>, StoreError>>;
    /// Renews `daemon`'s leases on `runs` until `until`; returns the runs whose lease it no
    /// longer holds (another daemon took them over), which it must stop working on.
    fn renew<'a>(
        &'a self,
        daemon: &'a str,
        runs: &'a [RunId],
        until: u64,
    ) -> BoxFuture<'a, Result<Vec<RunId>, StoreError>>;
    /// Gives up `daemon`'s lease on `run`; a run still running waits for the next worker.
    fn release<'a>(&'a self, daemon: &'a str, run: RunId) -> BoxFuture<'a, Result<(), StoreError>>;
    /// How many served runs wait and how many are leased, as of `now`.
    fn depth(&self, now: u64) -> BoxFuture<'_, Result<QueueDepth, StoreError>>;
    /// How many runs the store holds, by status (all tenants').
    fn runs_by_status(&self) -> BoxFuture<'_, Result<Vec<(String, u64)>, StoreError>>;
}
