//! Session locks a queued run's request took: the worker that drives the run next in this
//! process holds them already (see `session_lock.rs`).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;
use weft_core::RunId;

/// Session locks taken for queued runs (by `Runtime::queue_start` and
/// `Runtime::queue_answer`), with when each was taken. A daemon's worker usually drives
/// such a run a moment later on the same runtime: it holds the lock then, and renews it
/// on the lease's schedule instead of taking it again (one write fewer per message). A
/// worker elsewhere, or one that comes after the first renewal was due, takes it as usual.
#[derive(Debug, Default)]
pub(crate) struct TakenLocks(Mutex<HashMap<RunId, Instant>>);

/// How many taken locks are kept before those too old to use are swept.
const SWEPT_FROM: usize = 1024;

impl TakenLocks {
    /// `run` took its session's lock just now; it is of use for `usable` from now.
    pub(crate) fn taken(&self, run: RunId, usable: Duration) {
        let mut taken = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if taken.len() >= SWEPT_FROM {
            taken.retain(|_, at| at.elapsed() < usable);
        }
        taken.insert(run, Instant::now());
    }

    /// When `run` took its lock, if it did here less than `usable` ago (once).
    pub(crate) fn take(&self, run: RunId, usable: Duration) -> Option<Instant> {
        let mut taken = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        taken.remove(&run).filter(|at| at.elapsed() < usable)
    }
}
