//! `weft run FILE`: run a workflow to its end, answering `human` nodes from `--answer`, the
//! terminal or standard input; every event is kept in the database.

use super::session::{SessionArguments, open, open_store, read_input};
use super::{exit, fail};
use std::path::PathBuf;
use std::process::ExitCode;
use weft_core::{RunFilter, RunStatus, RunStore};

#[derive(Debug, clap::Args)]
pub struct RunArguments {
    /// The workflow file.
    file: PathBuf,
    /// The run's input: a JSON object of state fields, or @FILE to read it from a file.
    #[arg(long, short)]
    input: Option<String>,
    #[command(flatten)]
    session: SessionArguments,
}

pub fn run(arguments: RunArguments) -> ExitCode {
    super::block_on(run_async(arguments))
}

async fn run_async(arguments: RunArguments) -> ExitCode {
    let (workflow, tools) = match super::toolbox::load_workflow(&arguments.file).await {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let input = match read_input(arguments.input.as_deref()) {
        Ok(input) => input,
        Err(message) => return fail(exit::INVALID, message),
    };
    let store = match open_store(&arguments.session.db).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let mut session = match open(&arguments.session, store, tools).await {
        Ok(session) => session,
        Err(code) => return code,
    };
    if !session.json {
        tell_about_unfinished_runs(session.store.as_ref(), &arguments.session.db).await;
    }
    let started = std::time::Instant::now();
    let mut run = match session
        .runtime
        .start(workflow, input, &session.cancel)
        .await
    {
        Ok(run) => run,
        Err(error) => return fail(exit::INVALID, error),
    };
    session.finish(&mut run, started).await
}

/// Says which earlier runs of this database did not finish, and how to go on with them.
async fn tell_about_unfinished_runs(store: &dyn RunStore, db: &str) {
    let mut unfinished = Vec::new();
    for status in [
        RunStatus::NeedsAttention,
        RunStatus::Interrupted,
        RunStatus::Running,
    ] {
        let filter = RunFilter {
            status: Some(status),
            top_level_only: true,
            limit: 5,
        };
        if let Ok(runs) = store.runs(filter).await {
            unfinished.extend(runs);
        }
    }
    if unfinished.is_empty() {
        return;
    }
    eprintln!("note: {db} holds {} unfinished run(s):", unfinished.len());
    for run in &unfinished {
        let how = if run.status == RunStatus::NeedsAttention {
            format!(
                "{}; weft resume {} --retry, or weft runs fail {}",
                run.error.as_deref().unwrap_or("a tool call did not finish"),
                run.id,
                run.id
            )
        } else {
            format!("weft resume {}", run.id)
        };
        eprintln!(
            "  {} {} ({}): {how}",
            run.id,
            run.workflow,
            run.status.as_str()
        );
    }
}
