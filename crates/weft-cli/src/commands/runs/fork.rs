//! `weft runs fork RUN_ID --at STEP`: a new run holding the original's events before that
//! step, which runs that step again (time travel).

use super::super::runner::{Runner, RunnerArguments};
use super::super::{exit, fail, open_store, stored};
use std::process::ExitCode;
use weft::store::OpenMode;
use weft_core::RunId;

/// Forks `original` at step `at` and drives the fork on.
pub async fn fork(original: RunId, at: u64, arguments: &RunnerArguments) -> ExitCode {
    let store = match open_store(&arguments.database, OpenMode::MustExist).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let report = match stored::top_level(store.as_ref(), original, "fork").await {
        Ok(report) => report,
        Err(code) => return code,
    };
    let (project, overrides, workflow, tools) = match stored::workflow(
        store.as_ref(),
        &report,
        arguments.workspace.workspace.as_deref(),
        &arguments.models,
    )
    .await
    {
        Ok(found) => found,
        Err(code) => return code,
    };
    let mut runner = match Runner::open(arguments, &project, &overrides, store, tools) {
        Ok(runner) => runner,
        Err(code) => return code,
    };
    let started = std::time::Instant::now();
    let mut run = match runner.runtime.fork(workflow, original, at).await {
        Ok(run) => run,
        Err(error @ weft_runtime::RuntimeError::NoSuchStep { .. }) => {
            return fail(exit::INVALID, error);
        }
        Err(error) => return fail(exit::FAILED, error),
    };
    if !runner.json() {
        eprintln!("forked run {} from run {original} at step {at}", run.id());
    }
    if let Err(error) = runner.runtime.continue_run(&mut run, &runner.cancel).await {
        return fail(exit::FAILED, error);
    }
    runner.finish(&mut run, started).await
}
