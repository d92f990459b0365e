//! After a restart, a tool call that started and did not finish is run again only if its
//! tool is idempotent. Otherwise the run stops with status `needs_attention`, naming the
//! call, until a person retries it ([`Runtime::retry`]) or fails the run
//! ([`Runtime::fail`]).

use crate::active::ActiveRun;
use crate::error::RuntimeError;
use crate::runtime::Runtime;
use futures::future::BoxFuture;
use weft_core::{ErrorKind, RunStatus, StepError};
use weft_workflow::Decision;

impl Runtime {
    /// Splits the calls a restored run would start again: `Ok` when every one may run (its
    /// tool is idempotent, or it never started); otherwise the run is stopped, the decision's
    /// events and `AttentionNeeded` are recorded, and nothing runs.
    pub(crate) async fn hold_unsettled(
        &self,
        run: &mut ActiveRun,
        mut decision: Decision,
    ) -> Result<Option<Decision>, RuntimeError> {
        let unsettled: Vec<_> = run
            .machine
            .started_before(&decision)
            .into_iter()
            .filter(|call| !self.tools.is_idempotent(&call.tool))
            .collect();
        if unsettled.is_empty() {
            return Ok(Some(decision));
        }
        let held = run.machine.needs_attention(unsettled, None)?;
        decision.events.extend(held.events);
        self.commit(run, decision.events).await?;
        Ok(None)
    }

    /// Runs the unsettled calls of a run that needs attention again (and those of the
    /// sub-workflow runs it waits through), then drives the run on.
    pub async fn retry(
        &self,
        run: &mut ActiveRun,
        cancel: &crate::CancellationToken,
    ) -> Result<(), RuntimeError> {
        self.settle(run, Settle::Retry).await?;
        self.continue_run(run, cancel).await
    }

    /// Records a retry of a run that needs attention (and of the sub-workflow runs it
    /// waits through) without driving it: a daemon's worker goes on with it.
    pub async fn queue_retry(&self, run: &mut ActiveRun) -> Result<(), RuntimeError> {
        self.settle(run, Settle::Retry).await
    }

    /// Fails a run that needs attention (or any unfinished run), with the sub-workflow
    /// runs it waits through.
    pub async fn fail(&self, run: &mut ActiveRun, reason: &str) -> Result<(), RuntimeError> {
        self.settle(run, Settle::Fail(reason)).await
    }

    /// Records the decision in `run` and, first, in the child run it waits through.
    fn settle<'a>(
        &'a self,
        run: &'a mut ActiveRun,
        settle: Settle<'a>,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            let child = run
                .machine
                .attention()
                .and_then(|attention| attention.child.clone());
            if let Some(place) = child
                && let Some(workflow) = run.machine.child_workflow(place.step, place.branch)
            {
                let mut child = self.load(workflow, place.run).await?;
                if child.status() == RunStatus::NeedsAttention {
                    self.settle(&mut child, settle).await?;
                }
            }
            let decision = match settle {
                Settle::Retry => run.machine.retry()?,
                Settle::Fail(reason) => run
                    .machine
                    .fail_run(StepError::new(ErrorKind::Cancelled, reason))?,
            };
            self.commit(run, decision.events).await?;
            Ok(())
        })
    }
}

/// What a person decided about a run that needs attention.
#[derive(Debug, Clone, Copy)]
enum Settle<'a> {
    Retry,
    Fail(&'a str),
}
