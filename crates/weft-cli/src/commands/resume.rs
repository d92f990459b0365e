//! `weft resume RUN_ID [--input JSON] [--retry]`: go on with a run from its log: a run that
//! stopped mid-step (a crash, a kill) redoes what was in flight; an interrupted run takes its
//! answer; a run that needs attention runs its unfinished tool calls again with `--retry`.

use super::session::{SessionArguments, open, open_store, parse_answer, top_level_run};
use super::{exit, fail};
use std::process::ExitCode;
use weft_core::{ErrorKind, RunId, RunStatus};
use weft_runtime::RuntimeError;

#[derive(Debug, clap::Args)]
pub struct ResumeArguments {
    /// The run to resume.
    run: RunId,
    /// The answer for the `human` node the run waits at (JSON).
    #[arg(long, short)]
    input: Option<String>,
    /// For a run that needs attention: run the tool calls a crash interrupted again (after
    /// checking that doing so is safe).
    #[arg(long)]
    retry: bool,
    #[command(flatten)]
    session: SessionArguments,
}

pub fn resume(arguments: ResumeArguments) -> ExitCode {
    super::block_on(resume_async(arguments))
}

async fn resume_async(arguments: ResumeArguments) -> ExitCode {
    let input = match arguments.input.as_deref().map(parse_answer).transpose() {
        Ok(input) => input,
        Err(message) => return fail(exit::INVALID, format!("--input: {message}")),
    };
    let store = match open_store(&arguments.session.db).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let (summary, workflow, tools) =
        match top_level_run(store.as_ref(), arguments.run, "resume").await {
            Ok(found) => found,
            Err(code) => return code,
        };
    match summary.status {
        RunStatus::Finished | RunStatus::Failed | RunStatus::Cancelled => {
            let reason = summary
                .error
                .map(|error| format!(": {error}"))
                .unwrap_or_default();
            return fail(
                exit::INVALID,
                format!(
                    "run {} is already {}{reason}; only running or interrupted runs can be resumed",
                    summary.id,
                    summary.status.as_str()
                ),
            );
        }
        RunStatus::Running | RunStatus::Interrupted | RunStatus::NeedsAttention => {}
    }
    if arguments.retry && summary.status != RunStatus::NeedsAttention {
        return fail(
            exit::INVALID,
            format!(
                "run {} is {}; --retry is for a run that needs attention",
                summary.id,
                summary.status.as_str()
            ),
        );
    }
    let mut session = match open(&arguments.session, store, tools).await {
        Ok(session) => session,
        Err(code) => return code,
    };
    let started = std::time::Instant::now();
    let mut run = match session.runtime.load(workflow, summary.id).await {
        Ok(run) => run,
        Err(RuntimeError::Store(error)) if error.kind == ErrorKind::Corrupt => {
            let _ = session.store.mark_failed(summary.id, &error.message).await;
            return fail(exit::FAILED, format!("{error}; the run is marked failed"));
        }
        Err(error) => return fail(exit::FAILED, error),
    };
    let continued = if arguments.retry {
        session.runtime.retry(&mut run, &session.cancel).await
    } else {
        session
            .runtime
            .continue_run(&mut run, &session.cancel)
            .await
    };
    if let Err(error) = continued {
        return fail(exit::FAILED, error);
    }
    if let Some(input) = input {
        if run.status() != RunStatus::Interrupted {
            return fail(
                exit::INVALID,
                format!(
                    "run {} is {}, not waiting for input",
                    run.id(),
                    run.status().as_str()
                ),
            );
        }
        match session
            .runtime
            .resume(&mut run, input, &session.cancel)
            .await
        {
            Ok(()) => {}
            Err(error) => return fail(exit::INVALID, error),
        }
    }
    session.finish(&mut run, started).await
}
