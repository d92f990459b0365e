//! A run as the API shows it: its summary, read for the caller's tenant, and the report of
//! its log (status, input, output, the open question, usage, child runs).

use crate::api::auth::Caller;
use crate::api::error::{ApiError, Code};
use crate::daemon::Daemon;
use serde_json::Value;
use weft_core::{Event, EventRecord, RunId, RunSummary};
use weft_runtime::RunReport;

/// The run's summary, if the caller's tenant has it.
pub(crate) async fn summary(
    daemon: &Daemon,
    caller: &Caller,
    run: RunId,
) -> Result<RunSummary, ApiError> {
    daemon
        .database
        .run_of(&caller.tenant, run)
        .await?
        .ok_or_else(|| ApiError::not_found("run", run))
}

/// A run as the API shows it: status, input, output, the open question, usage. Its log is
/// read after its summary, so it holds at least what the summary says.
pub(crate) async fn view(daemon: &Daemon, summary: RunSummary) -> Result<Value, ApiError> {
    let records = daemon.database.events(summary.id, 0).await?;
    view_of(daemon, summary, &records).await
}

/// A run as the API shows it, from its summary and its log read after it.
pub(crate) async fn view_of(
    daemon: &Daemon,
    summary: RunSummary,
    records: &[EventRecord],
) -> Result<Value, ApiError> {
    let mut children = Vec::new();
    for record in records {
        if let Event::ChildStarted { run: child, .. } = &record.event {
            children.push(daemon.database.run(*child).await?);
        }
    }
    let report = RunReport::from_log(summary, records, children);
    serde_json::to_value(&report)
        .map_err(|error| ApiError::new(Code::Internal, format!("a run cannot be shown: {error}")))
}
