//! `weft runs list|show|events`: what the database holds.

use super::session::open_store;
use super::{exit, fail};
use crate::render::describe;
use std::process::ExitCode;
use std::sync::Arc;
use weft_core::{RunFilter, RunId, RunStatus, RunStore};

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
        /// The weft database.
        #[arg(long, default_value = "weft.db", env = crate::environment::DATABASE)]
        db: String,
    },
    /// Show one run.
    Show {
        /// The run.
        run: RunId,
        /// The weft database.
        #[arg(long, default_value = "weft.db", env = crate::environment::DATABASE)]
        db: String,
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
        session: super::session::SessionArguments,
    },
    /// Fail an unfinished run (one that needs attention, say), with the sub-workflow runs it
    /// waits through.
    Fail {
        /// The run.
        run: RunId,
        /// Why, for the record.
        #[arg(long, default_value = "failed by hand")]
        reason: String,
        #[command(flatten)]
        session: super::session::SessionArguments,
    },
    /// Print a run's events.
    Events {
        /// The run.
        run: RunId,
        /// One JSON event per line.
        #[arg(long)]
        json: bool,
        /// The weft database.
        #[arg(long, default_value = "weft.db", env = crate::environment::DATABASE)]
        db: String,
    },
}

pub fn runs(command: RunsCommand) -> ExitCode {
    super::block_on(runs_async(command))
}

/// Opens an existing database (listing never creates one).
async fn open(db: &str) -> Result<Arc<dyn RunStore>, ExitCode> {
    let is_url = db.starts_with("postgres://") || db.starts_with("postgresql://");
    if !is_url && !std::path::Path::new(db).exists() {
        return Err(fail(
            exit::INVALID,
            format!("{db} does not exist; runs are kept where `weft run --db` put them"),
        ));
    }
    open_store(db).await
}

async fn runs_async(command: RunsCommand) -> ExitCode {
    match command {
        RunsCommand::List {
            status,
            all,
            limit,
            db,
        } => {
            let store = match open(&db).await {
                Ok(store) => store,
                Err(code) => return code,
            };
            let filter = RunFilter {
                status,
                top_level_only: !all,
                limit,
            };
            match store.runs(filter).await {
                Ok(runs) => {
                    println!("{:<36}  {:<12}  {:>6}  workflow", "run", "status", "events");
                    for run in runs {
                        println!(
                            "{:<36}  {:<12}  {:>6}  {}",
                            run.id,
                            run.status.as_str(),
                            run.events,
                            run.workflow
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(error) => fail(exit::FAILED, error),
            }
        }
        RunsCommand::Show { run, db } => {
            let store = match open(&db).await {
                Ok(store) => store,
                Err(code) => return code,
            };
            match store.run(run).await {
                Ok(summary) => match serde_json::to_string_pretty(&summary) {
                    Ok(text) => {
                        println!("{text}");
                        ExitCode::SUCCESS
                    }
                    Err(error) => fail(exit::FAILED, error),
                },
                Err(error) => fail(exit::INVALID, error),
            }
        }
        RunsCommand::Fork { run, at, session } => fork(run, at, &session).await,
        RunsCommand::Fail {
            run,
            reason,
            session,
        } => fail_run(run, &reason, &session).await,
        RunsCommand::Events { run, json, db } => {
            let store = match open(&db).await {
                Ok(store) => store,
                Err(code) => return code,
            };
            if let Err(error) = store.run(run).await {
                return fail(exit::INVALID, error);
            }
            match store.events(run, 0).await {
                Ok(records) => {
                    for record in records {
                        if json {
                            println!(
                                "{}",
                                serde_json::json!({"sequence": record.sequence, "at_millis": record.at_millis, "event": record.event})
                            );
                        } else if let Some(line) = describe(&record.event) {
                            println!("{:>4} {line}", record.sequence);
                        } else {
                            println!("{:>4} {}", record.sequence, record.event.name());
                        }
                    }
                    ExitCode::SUCCESS
                }
                Err(error) => fail(exit::FAILED, error),
            }
        }
    }
}

async fn fork(original: RunId, at: u64, arguments: &super::session::SessionArguments) -> ExitCode {
    let store = match super::session::open_store(&arguments.db).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let (_, workflow, tools) =
        match super::session::top_level_run(store.as_ref(), original, "fork").await {
            Ok(found) => found,
            Err(code) => return code,
        };
    let mut session = match super::session::open(arguments, store, tools).await {
        Ok(session) => session,
        Err(code) => return code,
    };
    let started = std::time::Instant::now();
    let mut run = match session.runtime.fork(workflow, original, at).await {
        Ok(run) => run,
        Err(error @ weft_runtime::RuntimeError::NoSuchStep { .. }) => {
            return fail(exit::INVALID, error);
        }
        Err(error) => return fail(exit::FAILED, error),
    };
    if !session.json {
        eprintln!("forked run {} from run {original} at step {at}", run.id());
    }
    if let Err(error) = session
        .runtime
        .continue_run(&mut run, &session.cancel)
        .await
    {
        return fail(exit::FAILED, error);
    }
    session.finish(&mut run, started).await
}

async fn fail_run(
    run_id: RunId,
    reason: &str,
    arguments: &super::session::SessionArguments,
) -> ExitCode {
    let store = match super::session::open_store(&arguments.db).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let (summary, workflow, tools) =
        match super::session::top_level_run(store.as_ref(), run_id, "fail").await {
            Ok(found) => found,
            Err(code) => return code,
        };
    let session = match super::session::open(arguments, store, tools).await {
        Ok(session) => session,
        Err(code) => return code,
    };
    if matches!(
        summary.status,
        RunStatus::Finished | RunStatus::Failed | RunStatus::Cancelled
    ) {
        return fail(
            exit::INVALID,
            format!(
                "run {run_id} is already {}; only an unfinished run can be failed",
                summary.status.as_str()
            ),
        );
    }
    let mut run = match session.runtime.load(workflow, run_id).await {
        Ok(run) => run,
        Err(error) => return fail(exit::FAILED, error),
    };
    match session.runtime.fail(&mut run, reason).await {
        Ok(()) => {
            eprintln!("run {run_id} is failed: {reason}");
            ExitCode::SUCCESS
        }
        Err(error) => fail(exit::FAILED, error),
    }
}
