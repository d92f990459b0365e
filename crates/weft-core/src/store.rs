//! The event-sink port: where a run's events go. The durable stores implement it; so do
//! the in-memory sink of tests and one-off runs.

use crate::error::ErrorKind;
use crate::event::{EventRecord, ParentLink, RunStatus, UnsettledCall};
use crate::ids::RunId;
use futures_core::future::BoxFuture;
use serde::{Deserialize, Serialize};

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
/// An append is one commit at one time: durable stores keep the last record's `at_millis`
/// for all of its records.
pub trait EventSink: Send + Sync {
    /// Appends records to the run's log.
    fn append<'a>(
        &'a self,
        run: RunId,
        records: &'a [EventRecord],
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Appends the first records of a served run with its lease already taken (the daemon
    /// that queues the run executes it): no claim takes the run while the lease holds, and
    /// it starts `running` rather than `queued`. A sink without a queue appends them as
    /// [`EventSink::append`] does. Records that do not start a served run are refused.
    fn append_taken<'a>(
        &'a self,
        run: RunId,
        records: &'a [EventRecord],
        lease: &'a Lease,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// A daemon's hold on a served run: who executes it, and until when (ms since the Unix
/// epoch) unless renewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The daemon's id.
    pub daemon: String,
    /// When the lease runs out.
    pub until_millis: u64,
}

/// A run as a store lists it. Every field is derived from the run's events when they are
/// appended, in the same transaction, so it always agrees with the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The run.
    pub id: RunId,
    /// Its workflow's name.
    pub workflow: String,
    /// The workflow file it was started from.
    pub source: String,
    /// Where it stands.
    pub status: RunStatus,
    /// Its parent, for a sub-workflow's run.
    pub parent: Option<ParentLink>,
    /// When its first event was recorded (ms since the Unix epoch).
    pub created_at_millis: u64,
    /// When its last event was recorded.
    pub updated_at_millis: u64,
    /// How many events its log holds.
    pub events: u64,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// The tenant it belongs to.
    #[serde(default = "default_tenant")]
    pub tenant: String,
}

/// The tenant of everything made without one: the CLI's sessions and runs, and those from
/// before tenants.
pub const DEFAULT_TENANT: &str = "default";

fn default_tenant() -> String {
    DEFAULT_TENANT.to_owned()
}

/// Which runs to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Only runs in this status.
    pub status: Option<RunStatus>,
    /// Only runs that are not sub-workflow runs.
    pub top_level_only: bool,
    /// At most this many, newest first (0: no limit).
    pub limit: u32,
    /// Only the runs of this tenant.
    pub tenant: Option<String>,
    /// Only runs older than this one (the page after it, newest first).
    pub before: Option<RunId>,
    /// Only this run and those newer than it (a follower's cursor).
    pub since: Option<RunId>,
    /// Only the runs in this session.
    pub session: Option<crate::session::SessionId>,
}

/// A store of run logs: an [`EventSink`] that can also read them back.
pub trait RunStore: EventSink {
    /// The run's summary; a `not_found` error if there is no such run.
    fn run(&self, run: RunId) -> BoxFuture<'_, Result<RunSummary, StoreError>>;
    /// The run's events with a sequence number above `after`, in order.
    fn events(&self, run: RunId, after: u64)
    -> BoxFuture<'_, Result<Vec<EventRecord>, StoreError>>;
    /// Runs, newest first.
    fn runs(&self, filter: RunFilter) -> BoxFuture<'_, Result<Vec<RunSummary>, StoreError>>;
    /// The run's summary if it belongs to `tenant`; `None` for another tenant's run as for
    /// no run at all.
    fn run_of<'a>(
        &'a self,
        tenant: &'a str,
        run: RunId,
    ) -> BoxFuture<'a, Result<Option<RunSummary>, StoreError>> {
        Box::pin(async move {
            match self.run(run).await {
                Ok(summary) if summary.tenant == tenant => Ok(Some(summary)),
                Ok(_) => Ok(None),
                Err(error) if error.kind == ErrorKind::NotFound => Ok(None),
                Err(error) => Err(error),
            }
        })
    }
    /// Marks a run failed without an event (its log cannot be read, so none can be appended).
    fn mark_failed<'a>(
        &'a self,
        run: RunId,
        error: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// The run's latest snapshot and the sequence number of the event it follows, if the
    /// store keeps snapshots and has one. A store without snapshots replays whole logs.
    fn latest_snapshot(
        &self,
        run: RunId,
    ) -> BoxFuture<'_, Result<Option<(u64, serde_json::Value)>, StoreError>> {
        let _ = run;
        Box::pin(std::future::ready(Ok(None)))
    }
    /// Keeps a snapshot of the run as of event `sequence` (older ones may be dropped).
    fn save_snapshot<'a>(
        &'a self,
        run: RunId,
        sequence: u64,
        snapshot: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let _ = (run, sequence, snapshot);
        Box::pin(std::future::ready(Ok(())))
    }
    /// Keeps workflow texts (`hash, text`), each once under its content hash; a text kept
    /// before stays as it is. A store that keeps no texts keeps none, and its runs read
    /// their files when resumed.
    fn save_workflow_texts<'a>(
        &'a self,
        texts: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let _ = texts;
        Box::pin(std::future::ready(Ok(())))
    }
    /// The texts kept under `hashes`, by hash; a hash not kept is left out.
    fn workflow_texts<'a>(
        &'a self,
        hashes: &'a [String],
    ) -> BoxFuture<'a, Result<std::collections::BTreeMap<String, String>, StoreError>> {
        let _ = hashes;
        Box::pin(std::future::ready(Ok(std::collections::BTreeMap::new())))
    }
}

/// The setup a run goes on with: its start's, with the workflow files of its last
/// `WorkflowUpgraded` (a run moved onto its files as they are now) instead of those it
/// started with.
pub fn current_setup(log: &[crate::EventRecord]) -> Option<crate::RunSetup> {
    let mut setup = match log.first().map(|record| &record.event) {
        Some(crate::Event::RunStarted { setup, .. }) => setup.as_deref().cloned(),
        _ => None,
    };
    for record in log {
        if let crate::Event::WorkflowUpgraded { files } = &record.event {
            setup.get_or_insert_with(Default::default).workflow_files =
                std::sync::Arc::new(files.clone());
        }
    }
    setup
}

/// The session a run speaks in, as its log's `RunStarted` names it.
pub fn started_session(log: &[crate::EventRecord]) -> Option<&crate::SessionRef> {
    match log.first().map(|record| &record.event) {
        Some(crate::Event::RunStarted { session, .. }) => session.as_deref(),
        _ => None,
    }
}

/// What the status of a run becomes after `event`, if the event changes it.
pub fn status_after(event: &crate::event::Event) -> Option<(RunStatus, Option<String>)> {
    use crate::event::Event;
    match event {
        Event::RunStarted { .. } | Event::Resumed { .. } | Event::Retried { .. } => {
            Some((RunStatus::Running, None))
        }
        Event::AttentionNeeded { calls, .. } => Some((
            RunStatus::NeedsAttention,
            Some(
                calls
                    .iter()
                    .map(UnsettledCall::describe)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        )),
        Event::Interrupted { .. } => Some((RunStatus::Interrupted, None)),
        Event::RunFinished { .. } => Some((RunStatus::Finished, None)),
        Event::RunFailed { error, .. } => Some((RunStatus::Failed, Some(error.message.clone()))),
        Event::RunCancelled { reason } => Some((RunStatus::Cancelled, Some(reason.clone()))),
        Event::StepStarted { .. }
        | Event::ModelReplied { .. }
        | Event::ModelFailed { .. }
        | Event::ToolCallStarted { .. }
        | Event::ToolCallFinished { .. }
        | Event::ChildStarted { .. }
        | Event::ChildFinished { .. }
        | Event::ChildFailed { .. }
        | Event::ChildInterrupted { .. }
        | Event::StateChanged { .. }
        | Event::StepFinished { .. }
        | Event::StepFailed { .. }
        | Event::Remembered { .. }
        | Event::Compacted { .. }
        | Event::WorkflowUpgraded { .. }
        | Event::GuardChecked(_)
        | Event::GuardBlocked(_)
        | Event::GuardRedacted(_)
        | Event::GuardFlagged(_) => None,
    }
}
