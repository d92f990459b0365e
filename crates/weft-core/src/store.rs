//! The event-sink port: where a run's events go. The durable stores implement it; so do
//! the in-memory sink of tests and one-off runs.

use crate::error::ErrorKind;
use crate::event::EventRecord;
use crate::ids::RunId;
use futures_core::future::BoxFuture;

/// A failure to store events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    /// What sort of failure.
    pub kind: ErrorKind,
    /// A message a person can act on.
    pub message: String,
}

impl StoreError {
    /// A store error of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// Receives a run's events. `append` stores one step's events atomically; the first record's
/// sequence number must be the next one of that run, so two writers can never interleave.
pub trait EventSink: Send + Sync {
    /// Appends records to the run's log.
    fn append<'a>(
        &'a self,
        run: RunId,
        records: &'a [EventRecord],
    ) -> BoxFuture<'a, Result<(), StoreError>>;
}
