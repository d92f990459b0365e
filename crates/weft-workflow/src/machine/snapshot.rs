//! Snapshots: a run's folded state between two steps, so that a long run is restored from
//! its latest snapshot and the events after it instead of its whole log.
//!
//! A snapshot is taken where nothing is in flight: right after a step finished (the
//! `StepFinished` event), before the next one starts. The driver asks for one
//! ([`RunMachine::capture_next_boundary`](super::RunMachine::capture_next_boundary)) every
//! so many events; the machine takes it when it folds the next `StepFinished`, and the
//! driver stores it under that event's sequence number. Taking and restoring are in
//! `restore.rs`; this file is the format.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The format of [`Snapshot`]; a snapshot of another format is ignored (the log is replayed).
pub(super) const FORMAT: u32 = 1;

/// A run between two steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub(super) format: u32,
    /// The run's input.
    pub(super) input: Value,
    /// The state.
    pub(super) state: Map<String, Value>,
    /// The last step's number.
    pub(super) step: u64,
    /// The node to run next; `None` when the run ends after `last`.
    pub(super) next: Option<String>,
    /// The node that ran last.
    pub(super) last: String,
    /// How often each node ran.
    pub(super) visits: BTreeMap<String, u64>,
}

/// Where a requested snapshot stands.
#[derive(Debug, Default)]
pub(super) enum Capture {
    /// None asked for.
    #[default]
    Idle,
    /// Asked for; taken at the next step boundary.
    Requested,
    /// Taken, waiting for the driver.
    Taken(Box<Snapshot>),
}
