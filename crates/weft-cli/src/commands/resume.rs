//! `weft resume RUN_ID [--answer JSON]... [--retry]`: go on with a run from its log: a run
//! that stopped mid-step (a crash, a kill, Ctrl-C) redoes what was in flight; an
//! interrupted run takes its answer; a run that needs attention runs its unfinished tool
//! calls again with `--retry`.

use super::runner::{Runner, RunnerArguments};
use super::{exit, fail, open_store, stored};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use weft::store::OpenMode;
use weft_core::{ErrorKind, RunId, RunStatus};
use weft_runtime::upgrade::{self, Verdict};
use weft_runtime::{RecordedRun, RuntimeError};
use weft_workflow::Workflow;

#[derive(Debug, clap::Args)]
pub struct ResumeArguments {
    /// The run to resume.
    run: RunId,
    /// For a run that needs attention: run the tool calls a crash interrupted again (after
    /// checking that doing so is safe).
    #[arg(long)]
    retry: bool,
    /// For a run that waits for an answer: go on with its workflow file as it is now rather
    /// than the text the run started with, if the change leaves the nodes it went through
    /// and the one it waits at as they were (kinds, writes, edges); otherwise refuse,
    /// naming the nodes that changed (`weft workflows diff` shows the whole comparison).
    #[arg(long)]
    upgrade: bool,
    #[command(flatten)]
    runner: RunnerArguments,
}

// Read by the tensor-parallel worker, which follows its parent's arguments.
#[cfg(any(feature = "mistralrs", test))]
impl ResumeArguments {
    /// The run.
    pub fn run(&self) -> RunId {
        self.run
    }

    /// The options it shares with the other commands that run workflows.
    pub fn runner(&self) -> &RunnerArguments {
        &self.runner
    }
}

pub fn resume(arguments: ResumeArguments) -> ExitCode {
    super::block_on(resume_async(arguments))
}

async fn resume_async(arguments: ResumeArguments) -> ExitCode {
    let store = match open_store(&arguments.runner.database, OpenMode::MustExist).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let report = match stored::top_level(store.as_ref(), arguments.run, "resume").await {
        Ok(report) => report,
        Err(code) => return code,
    };
    if let Err(code) = check_status(&report.summary, arguments.retry) {
        return code;
    }
    let (project, overrides, workflow, tools) = match stored::workflow(
        store.as_ref(),
        &report,
        arguments.runner.workspace.workspace.as_deref(),
        &arguments.runner.models,
    )
    .await
    {
        Ok(found) => found,
        Err(code) => return code,
    };
    let (workflow, tools, upgraded) = if arguments.upgrade {
        match upgrade(
            store.as_ref(),
            &report,
            &project,
            &overrides,
            (workflow, tools),
        )
        .await
        {
            Ok(upgrade) => upgrade,
            Err(code) => return code,
        }
    } else {
        (workflow, tools, false)
    };
    let mut runner = match Runner::open(&arguments.runner, &project, &overrides, store, tools) {
        Ok(runner) => runner,
        Err(code) => return code,
    };
    let started = std::time::Instant::now();
    let mut run = match runner.runtime.load(workflow, report.summary.id).await {
        Ok(run) => run,
        Err(RuntimeError::Store(error)) if error.kind == ErrorKind::Corrupt => {
            let _ = runner
                .store
                .mark_failed(report.summary.id, &error.message)
                .await;
            return fail(exit::FAILED, format!("{error}; the run is marked failed"));
        }
        Err(error) => return fail(exit::FAILED, error),
    };
    if upgraded && let Err(error) = runner.runtime.record_upgrade(&mut run).await {
        return fail(exit::FAILED, error);
    }
    let continued = if arguments.retry {
        runner.runtime.retry(&mut run, &runner.cancel).await
    } else {
        runner.runtime.continue_run(&mut run, &runner.cancel).await
    };
    if let Err(error) = continued {
        return fail(exit::FAILED, error);
    }
    runner.finish(&mut run, started).await
}

/// Only a run that is not over can be resumed; `--retry` only one that needs attention.
fn check_status(summary: &weft_core::RunSummary, retry: bool) -> Result<(), ExitCode> {
    match summary.status {
        RunStatus::Finished | RunStatus::Failed | RunStatus::Cancelled => {
            let reason = summary
                .error
                .as_ref()
                .map(|error| format!(": {error}"))
                .unwrap_or_default();
            Err(fail(
                exit::INVALID,
                format!(
                    "run {} is already {}{reason}; only running or interrupted runs can be resumed",
                    summary.id,
                    summary.status.as_str()
                ),
            ))
        }
        RunStatus::Queued | RunStatus::Running | RunStatus::Interrupted if retry => Err(fail(
            exit::INVALID,
            format!(
                "run {} is {}; --retry is for a run that needs attention",
                summary.id,
                summary.status.as_str()
            ),
        )),
        RunStatus::Queued
        | RunStatus::Running
        | RunStatus::Interrupted
        | RunStatus::NeedsAttention => Ok(()),
    }
}

/// The workflow a waiting run goes on with under `--upgrade`: its file as it is now, when
/// the change leaves what the run did and where it waits as they were; whether it moved.
async fn upgrade(
    store: &dyn weft_core::RunStore,
    report: &weft_runtime::RunReport,
    project: &crate::project::Project,
    overrides: &weft_workflow::ModelOverrides,
    (original, tools): (Arc<Workflow>, weft_tools::Registry),
) -> Result<(Arc<Workflow>, weft_tools::Registry, bool), ExitCode> {
    let run = report.summary.id;
    if report.summary.status != RunStatus::Interrupted {
        return Err(fail(
            exit::INVALID,
            format!(
                "run {run} is {}; --upgrade moves a run that waits for an answer",
                report.summary.status.as_str()
            ),
        ));
    }
    let file = Path::new(&report.summary.source);
    let (current, current_tools) = project.load_kept_workflow(file, None, overrides).await?;
    let recorded = RecordedRun::read(store, run)
        .await
        .map_err(|error| fail(exit::FAILED, error))?;
    let sections = upgrade::changes_for(&original, &current, &recorded);
    match upgrade::verdict(&sections) {
        Verdict::Blocked(nodes) => Err(fail(
            exit::INVALID,
            format!(
                "run {run} cannot move onto {}: it changes nodes the run went through or waits at ({nodes}); `weft workflows diff {run} {}` shows how",
                file.display(),
                file.display()
            ),
        )),
        Verdict::Unchanged => {
            eprintln!(
                "run {run}: {} has not changed; going on as it is",
                file.display()
            );
            Ok((original, tools, false))
        }
        Verdict::Movable => {
            eprintln!("run {run} moves onto {} as it is now", file.display());
            Ok((current, current_tools, true))
        }
    }
}
