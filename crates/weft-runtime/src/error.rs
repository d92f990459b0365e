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
    /// The store lacks a workflow text the run started with.
    #[error(transparent)]
    MissingText(#[from] weft_workflow::MissingText),
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
    /// Another run is writing the session, and it did not become free in time.
    #[error(
        "session `{session}` is in use by run {holder}; waited {waited_seconds} s for it (two runs cannot write one session at once; wait for that run, or cancel it with `weft runs cancel {holder}`)"
    )]
    SessionBusy {
        /// The session's name.
        session: String,
        /// The run that holds it.
        holder: weft_core::RunId,
        /// How long this run waited.
        waited_seconds: u64,
    },
    /// The run lost its session to another run (its lock expired while it was stalled).
    #[error(
        "run {run} lost session `{session}` to run {holder} (its lock expired); it stopped, and can go on with `weft resume {run}` once that run is done"
    )]
    SessionLost {
        /// The run.
        run: weft_core::RunId,
        /// The session.
        session: String,
        /// The run that holds it now.
        holder: weft_core::RunId,
    },
    /// A run speaks in a session but the runtime keeps none.
    #[error(
        "session `{session}` was asked for, but this runtime keeps no sessions (give it a session store)"
    )]
    NoSessions {
        /// The session.
        session: String,
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
