//! Errors of the runtime.

use weft_core::StoreError;
use weft_workflow::RunError;

/// A run that the runtime could not drive.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The run machine refused (bad input, a bad answer, a corrupt log).
    #[error(transparent)]
    Run(#[from] RunError),
    /// Events could not be stored; the run stopped where its log ends.
    #[error("storing the run's events failed: {0}")]
    Store(#[from] StoreError),
    /// A fork was asked for at a step the run never started.
    #[error(
        "run {run} has no step {step} (its last step is {last}); fork at a step from 1 to {last}"
    )]
    NoSuchStep {
        /// The run.
        run: weft_core::RunId,
        /// The step asked for.
        step: u64,
        /// Its last step.
        last: u64,
    },
    /// A run that is over for good cannot be ended again.
    #[error("run {run} is already {status}; only an unfinished run can be failed or cancelled")]
    AlreadyOver {
        /// The run.
        run: weft_core::RunId,
        /// Its status.
        status: &'static str,
    },
    /// The machine waits on nothing although the run is not over: a bug in weft.
    #[error("run {run} is {status} but waits on no effect; this is a bug in weft")]
    Stalled {
        /// The run.
        run: weft_core::RunId,
        /// Its status.
        status: &'static str,
    },
}
