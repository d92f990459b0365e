//! A run store in memory, for tests and one-off runs; it checks sequence numbers like the
//! durable stores do.

use futures::future::BoxFuture;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use weft_core::{
    ErrorKind, Event, EventRecord, EventSink, Lease, RunFilter, RunId, RunStatus, RunStore,
    RunSummary, StoreError, status_after,
};

/// Keeps every run's events in memory.
#[derive(Debug, Default)]
pub struct MemorySink {
    runs: Mutex<HashMap<RunId, Vec<EventRecord>>>,
    /// Runs marked failed from outside their log, with the reason.
    marked_failed: Mutex<HashMap<RunId, String>>,
    /// Workflow texts by hash.
    texts: Mutex<BTreeMap<String, String>>,
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

    /// Applies a `mark_failed` to a summary.
    fn with_marks(&self, mut summary: RunSummary) -> RunSummary {
        if let Ok(marked) = self.marked_failed.lock()
            && let Some(error) = marked.get(&summary.id)
        {
            summary.status = RunStatus::Failed;
            summary.error = Some(error.clone());
        }
        summary
    }

    fn locked(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, HashMap<RunId, Vec<EventRecord>>>, StoreError> {
        self.runs
            .lock()
            .map_err(|_| StoreError::new(ErrorKind::Internal, "memory sink lock poisoned"))
    }
}

/// Folds a log into its summary.
fn summarize(run: RunId, log: &[EventRecord]) -> RunSummary {
    let mut summary = RunSummary {
        id: run,
        workflow: String::new(),
        source: String::new(),
        status: RunStatus::Running,
        parent: None,
        created_at_millis: log.first().map_or(0, |record| record.at_millis),
        updated_at_millis: log.last().map_or(0, |record| record.at_millis),
        events: log.len() as u64,
        error: None,
        tenant: weft_core::DEFAULT_TENANT.to_owned(),
    };
    for record in log {
        if let Event::RunStarted {
            workflow,
            source,
            parent,
            ..
        } = &record.event
        {
            summary.workflow.clone_from(workflow);
            summary.source.clone_from(source);
            summary.parent.clone_from(parent);
        }
        if let Some((status, error)) = status_after(&record.event) {
            summary.status = status;
            summary.error = error;
        }
    }
    summary
}

impl EventSink for MemorySink {
    fn append<'a>(
        &'a self,
        run: RunId,
        records: &'a [EventRecord],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let result = (|| {
            let mut runs = self.locked()?;
            let log = runs.entry(run).or_default();
            let expected = log.len() as u64 + 1;
            if let Some(first) = records.first()
                && first.sequence != expected
            {
                return Err(StoreError::new(
                    ErrorKind::Conflict,
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

    /// Nothing claims runs in memory: the lease has nothing to keep away.
    fn append_taken<'a>(
        &'a self,
        run: RunId,
        records: &'a [EventRecord],
        _lease: &'a Lease,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.append(run, records)
    }
}

impl RunStore for MemorySink {
    fn run(&self, run: RunId) -> BoxFuture<'_, Result<RunSummary, StoreError>> {
        let result = self.locked().and_then(|runs| {
            runs.get(&run)
                .map(|log| self.with_marks(summarize(run, log)))
                .ok_or_else(|| StoreError::new(ErrorKind::NotFound, format!("no run {run}")))
        });
        Box::pin(std::future::ready(result))
    }

    fn events(
        &self,
        run: RunId,
        after: u64,
    ) -> BoxFuture<'_, Result<Vec<EventRecord>, StoreError>> {
        let result = self.locked().map(|runs| {
            runs.get(&run)
                .map(|log| {
                    log.iter()
                        .filter(|record| record.sequence > after)
                        .cloned()
                        .collect()
                })
                .unwrap_or_default()
        });
        Box::pin(std::future::ready(result))
    }

    fn runs(&self, filter: RunFilter) -> BoxFuture<'_, Result<Vec<RunSummary>, StoreError>> {
        let result = self.locked().map(|runs| {
            let mut summaries: Vec<RunSummary> = runs
                .iter()
                .map(|(run, log)| self.with_marks(summarize(*run, log)))
                .filter(|summary| filter.status.is_none_or(|status| summary.status == status))
                .filter(|summary| !filter.top_level_only || summary.parent.is_none())
                .filter(|summary| filter.before.is_none_or(|before| summary.id < before))
                .filter(|summary| filter.since.is_none_or(|since| summary.id >= since))
                .collect();
            summaries.sort_by_key(|summary| std::cmp::Reverse(summary.id));
            if filter.limit > 0 {
                summaries.truncate(filter.limit as usize);
            }
            summaries
        });
        Box::pin(std::future::ready(result))
    }

    fn mark_failed<'a>(
        &'a self,
        run: RunId,
        error: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let result = self
            .marked_failed
            .lock()
            .map(|mut marked| {
                marked.insert(run, error.to_owned());
            })
            .map_err(|_| StoreError::new(ErrorKind::Internal, "memory sink lock poisoned"));
        Box::pin(std::future::ready(result))
    }

    fn save_workflow_texts<'a>(
        &'a self,
        texts: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let result = self
            .texts
            .lock()
            .map(|mut kept| {
                for (hash, text) in texts {
                    kept.entry(hash.clone()).or_insert_with(|| text.clone());
                }
            })
            .map_err(|_| StoreError::new(ErrorKind::Internal, "memory sink lock poisoned"));
        Box::pin(std::future::ready(result))
    }

    fn workflow_texts<'a>(
        &'a self,
        hashes: &'a [String],
    ) -> BoxFuture<'a, Result<BTreeMap<String, String>, StoreError>> {
        let result = self
            .texts
            .lock()
            .map(|kept| {
                hashes
                    .iter()
                    .filter_map(|hash| Some((hash.clone(), kept.get(hash)?.clone())))
                    .collect()
            })
            .map_err(|_| StoreError::new(ErrorKind::Internal, "memory sink lock poisoned"));
        Box::pin(std::future::ready(result))
    }
}
