//! `weft runs list|show|events|export|replay|fork|fail|cancel`: what the database holds, and deciding
//! about runs. Only `fork` reads a workflow file; the others need the database alone.

mod context;
mod end;
mod export;
mod fork;
mod list;
mod replay;
mod show;

use super::arguments::DatabaseArgument;
use super::runner::RunnerArguments;
use std::process::ExitCode;
use weft_core::{RunId, RunStatus};

#[derive(Debug, clap::Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first.
    List {
        /// Only runs in this status (running, interrupted, needs_attention, finished, failed,
        /// cancelled).
        #[arg(long)]
        status: Option<RunStatus>,
        /// Include sub-workflow runs.
        #[arg(long)]
        all: bool,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// One JSON array of runs instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseArgument,
    },
    /// Show one run: its status, output, open question, unsettled calls, error, timing,
    /// tokens per model and sub-workflow runs.
    Show {
        /// The run.
        run: RunId,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseArgument,
    },
    /// Print a run's events.
    Events {
        /// The run.
        run: RunId,
        /// One JSON event per line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseArgument,
    },
    /// Write a run's model replies as a scripted backend's file (`--model
    /// scripted:FILE` then runs it again offline).
    Export {
        /// The run.
        run: RunId,
        /// The file to write.
        #[arg(long, value_name = "FILE")]
        scripted: std::path::PathBuf,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        database: DatabaseArgument,
    },
    /// Run a stopped run again with its model replies and tool results taken from its log
    /// (nothing is called), on the workflow text it ran on and on FILE, and report the
    /// first step where FILE's workflow routes, prompts, calls a tool or ends otherwise.
    /// Exits 1 when it does.
    Replay {
        /// The run.
        run: RunId,
        /// The changed workflow (default: the text the run ran on, a determinism check).
        #[arg(long, value_name = "FILE")]
        workflow: Option<std::path::PathBuf>,
        /// One JSON report instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseArgument,
    },
    /// Start a new run from a step of an earlier one: the new run holds the earlier run's
    /// events before that step and runs it again (time travel).
    Fork {
        /// The run to fork.
        run: RunId,
        /// The step to run again.
        #[arg(long)]
        at: u64,
        #[command(flatten)]
        runner: RunnerArguments,
    },
    /// Fail an unfinished run (one that needs attention, say), with the sub-workflow runs it
    /// waits through. Needs only the database.
    Fail {
        /// The run.
        run: RunId,
        /// Why, for the record.
        #[arg(long, default_value = "failed by hand")]
        reason: String,
        #[command(flatten)]
        database: DatabaseArgument,
    },
    /// Cancel an unfinished run for good, with the sub-workflow runs it waits through.
    /// Needs only the database. (Ctrl-C stops a run so it can be resumed; this ends it.)
    Cancel {
        /// The run.
        run: RunId,
        /// Why, for the record.
        #[arg(long, default_value = "cancelled by hand")]
        reason: String,
        #[command(flatten)]
        database: DatabaseArgument,
    },
}

pub fn runs(command: RunsCommand) -> ExitCode {
    super::block_on(runs_async(command))
}

async fn runs_async(command: RunsCommand) -> ExitCode {
    match command {
        RunsCommand::List {
            status,
            all,
            limit,
            json,
            database,
        } => list::list(status, all, limit, json, &database).await,
        RunsCommand::Show {
            run,
            json,
            database,
        } => show::show(run, json, &database).await,
        RunsCommand::Events {
            run,
            json,
            database,
        } => list::events(run, json, &database).await,
        RunsCommand::Export {
            run,
            scripted,
            force,
            database,
        } => export::export(run, &scripted, force, &database).await,
        RunsCommand::Replay {
            run,
            workflow,
            json,
            database,
        } => replay::replay(run, workflow.as_deref(), json, &database).await,
        RunsCommand::Fork { run, at, runner } => fork::fork(run, at, &runner).await,
        RunsCommand::Fail {
            run,
            reason,
            database,
        } => end::end(run, weft_runtime::Ending::Failed(reason), &database).await,
        RunsCommand::Cancel {
            run,
            reason,
            database,
        } => end::end(run, weft_runtime::Ending::Cancelled(reason), &database).await,
    }
}
