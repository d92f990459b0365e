//! Ending a stored run for good, from its log alone: failing it (a person's decision about a
//! run that needs attention) or cancelling it. Neither needs the run's workflow, so a run
//! whose workflow file moved or changed can still be ended. The sub-workflow runs it waits
//! through end first.

use crate::error::RuntimeError;
use crate::runtime::Runtime;
use futures::future::BoxFuture;
use weft_core::{ErrorKind, Event, EventRecord, RunId, RunStatus, StepError};

/// How a run ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Failed, with the reason recorded as a `cancelled` error (`weft runs fail`).
    Failed(String),
    /// Cancelled, with the reason (`weft runs cancel`).
    Cancelled(String),
}

impl Runtime {
    /// Ends the stored run `run` as `ending` says, and first every unfinished sub-workflow
    /// run below it. Returns the runs that were ended, the sub-workflows' first. A run that
    /// is already over is refused; a process still driving the run finds its next append
    /// refused (the log moved on) and stops.
    pub async fn end_run(&self, run: RunId, ending: &Ending) -> Result<Vec<RunId>, RuntimeError> {
        let summary = self.store.run(run).await?;
        if is_over(summary.status) {
            return Err(RuntimeError::AlreadyOver {
                run,
                status: summary.status.as_str(),
            });
        }
        let mut ended = Vec::new();
        self.end_tree(run, ending, &mut ended).await?;
        Ok(ended)
    }

    fn end_tree<'a>(
        &'a self,
        run: RunId,
        ending: &'a Ending,
        ended: &'a mut Vec<RunId>,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            let records = self.store.events(run, 0).await?;
            for child in unfinished_children(&records) {
                if !is_over(self.store.run(child).await?.status) {
                    self.end_tree(child, ending, ended).await?;
                }
            }
            let event = match ending {
                Ending::Failed(reason) => Event::RunFailed {
                    step: current_step(&records),
                    error: StepError::new(ErrorKind::Cancelled, reason.clone()),
                },
                Ending::Cancelled(reason) => Event::RunCancelled {
                    reason: reason.clone(),
                },
            };
            let record = EventRecord {
                sequence: records.last().map_or(0, |record| record.sequence) + 1,
                at_millis: self.now_millis(),
                event,
            };
            self.store
                .append(run, std::slice::from_ref(&record))
                .await?;
            self.observer.on_event(run, &record);
            ended.push(run);
            Ok(())
        })
    }
}

/// Whether a run in `status` is over for good.
fn is_over(status: RunStatus) -> bool {
    match status {
        RunStatus::Finished | RunStatus::Failed | RunStatus::Cancelled => true,
        RunStatus::Queued
        | RunStatus::Running
        | RunStatus::Interrupted
        | RunStatus::NeedsAttention => false,
    }
}

/// The sub-workflow runs a log started whose results it has not recorded.
fn unfinished_children(records: &[EventRecord]) -> Vec<RunId> {
    let mut children: Vec<((u64, Option<u32>), RunId)> = Vec::new();
    for record in records {
        if let Event::ChildStarted {
            step, branch, run, ..
        } = &record.event
        {
            children.push(((*step, *branch), *run));
        } else if let Event::ChildFinished { step, branch, .. }
        | Event::ChildFailed { step, branch, .. } = &record.event
        {
            children.retain(|(place, _)| *place != (*step, *branch));
        }
    }
    children.into_iter().map(|(_, run)| run).collect()
}

/// The step a log is in: the last one started and not ended.
fn current_step(records: &[EventRecord]) -> Option<u64> {
    let mut current = None;
    for record in records {
        if let Event::StepStarted { step, .. } = &record.event {
            current = Some(*step);
        } else if let Event::StepFinished { step, .. } | Event::StepFailed { step, .. } =
            &record.event
            && current == Some(*step)
        {
            current = None;
        }
    }
    current
}
