//! An event sink in memory, for tests and one-off runs; it checks sequence numbers like the
//! durable stores do.

use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Mutex;
use weft_core::{ErrorKind, EventRecord, EventSink, RunId, StoreError};

/// Keeps every run's events in memory.
#[derive(Debug, Default)]
pub struct MemorySink {
    runs: Mutex<HashMap<RunId, Vec<EventRecord>>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// The events of `run` so far.
    pub fn events(&self, run: RunId) -> Vec<EventRecord> {
        self.runs
            .lock()
            .map(|runs| runs.get(&run).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    /// Every run's id.
    pub fn runs(&self) -> Vec<RunId> {
        self.runs
            .lock()
            .map(|runs| runs.keys().copied().collect())
            .unwrap_or_default()
    }
}

impl EventSink for MemorySink {
    fn append<'a>(
        &'a self,
        run: RunId,
        records: &'a [EventRecord],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let result = (|| {
            let mut runs = self
                .runs
                .lock()
                .map_err(|_| StoreError::new(ErrorKind::Internal, "memory sink lock poisoned"))?;
            let log = runs.entry(run).or_default();
            let expected = log.len() as u64 + 1;
            if let Some(first) = records.first()
                && first.sequence != expected
            {
                return Err(StoreError::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "run {run}: append at sequence {} but the log expects {expected}",
                        first.sequence
                    ),
                ));
            }
            log.extend_from_slice(records);
            Ok(())
        })();
        Box::pin(std::future::ready(result))
    }
}
