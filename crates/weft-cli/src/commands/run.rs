//! `weft run FILE`: run a workflow to its end, answering `human` nodes from `--answer`, the
//! terminal or standard input; every event is kept in the database.

use super::arguments::{self, DatabaseArgument};
use super::runner::{Runner, RunnerArguments};
use super::{exit, fail, hints, open_store};
use crate::project::Project;
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;
use weft::store::OpenMode;
use weft_core::{RunFilter, RunStatus, RunStore};

#[derive(Debug, clap::Args)]
pub struct RunArguments {
    /// The workflow file.
    file: PathBuf,
    /// The run's input: a JSON object of state fields, or @FILE to read it from a file.
    #[arg(long, short, value_name = "JSON|@FILE")]
    input: Option<String>,
    #[command(flatten)]
    session: arguments::SessionArgument,
    #[command(flatten)]
    runner: RunnerArguments,
}

// Read by the tensor-parallel worker, which follows its parent's arguments.
#[cfg(any(feature = "mistralrs", test))]
impl RunArguments {
    /// The workflow file.
    pub fn file(&self) -> &std::path::Path {
        &self.file
    }

    /// The options it shares with the other commands that run workflows.
    pub fn runner(&self) -> &RunnerArguments {
        &self.runner
    }
}

pub fn run(arguments: RunArguments) -> ExitCode {
    super::block_on(run_async(arguments))
}

async fn run_async(arguments: RunArguments) -> ExitCode {
    let project = match Project::open(arguments.runner.workspace.workspace.as_deref()) {
        Ok(project) => project,
        Err(code) => return code,
    };
    let current = match std::env::current_dir() {
        Ok(current) => current,
        Err(error) => {
            return fail(
                exit::INVALID,
                format!("cannot read the current folder: {error}"),
            );
        }
    };
    let models = arguments.runner.models.overrides(&current);
    let (workflow, tools) = match project.load_workflow(&arguments.file, &models).await {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let input = match read_input(arguments.input.as_deref()) {
        Ok(input) => input,
        Err(message) => return fail(exit::INVALID, message),
    };
    let store = match open_store(&arguments.runner.database, OpenMode::CreateIfMissing).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let mut runner = match Runner::open(&arguments.runner, &project, &models, store, tools) {
        Ok(runner) => runner,
        Err(code) => return code,
    };
    if !runner.json() {
        tell_about_unfinished_runs(runner.store.as_ref(), &arguments.runner.database).await;
    }
    let setup = arguments::setup(
        &project.workspace,
        project.settings.path.as_deref(),
        &models,
    );
    let started = std::time::Instant::now();
    let run = match &arguments.session.session {
        Some(name) => match runner.runtime.open_session(name, &workflow).await {
            Ok(session) => {
                super::runner::say_if_made_for_another(&session, &workflow);
                runner
                    .runtime
                    .start_in_session(
                        workflow,
                        input,
                        Some(setup),
                        session.reference(),
                        &runner.cancel,
                    )
                    .await
            }
            Err(error) => return fail(exit::INVALID, error),
        },
        None => {
            runner
                .runtime
                .start_with_setup(workflow, input, Some(setup), &runner.cancel)
                .await
        }
    };
    let mut run = match run {
        Ok(run) => run,
        Err(error) => return fail(exit::INVALID, error),
    };
    runner.finish(&mut run, started).await
}

/// The run's input: JSON, or `@FILE` to read it from a file; none is `null`.
fn read_input(argument: Option<&str>) -> Result<Value, String> {
    let Some(argument) = argument else {
        return Ok(Value::Null);
    };
    let (text, origin) = match argument.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path)
                .map_err(|error| format!("cannot read --input file {path}: {error}"))?,
            path.to_owned(),
        ),
        None => (argument.to_owned(), "--input".to_owned()),
    };
    serde_json::from_str(&text).map_err(|error| {
        format!(
            "{origin}:{}:{}: the input is not valid JSON: {error}; give a JSON object such as '{{\"question\": \"...\"}}'",
            error.line(),
            error.column()
        )
    })
}

/// Says which earlier runs of this database did not finish, and how to go on with them.
async fn tell_about_unfinished_runs(store: &dyn RunStore, database: &DatabaseArgument) {
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
            ..RunFilter::default()
        };
        if let Ok(runs) = store.runs(filter).await {
            unfinished.extend(runs);
        }
    }
    if unfinished.is_empty() {
        return;
    }
    eprintln!(
        "note: {} holds {} unfinished run(s):",
        database.location(),
        unfinished.len()
    );
    let db = database.hint();
    for run in &unfinished {
        let how = if run.status == RunStatus::NeedsAttention {
            format!(
                "{}; weft resume {} --retry{db}, or weft runs fail {}{db}",
                run.error.as_deref().unwrap_or("a tool call did not finish"),
                run.id,
                run.id
            )
        } else {
            hints::resume(run.id, database)
        };
        eprintln!(
            "  {} {} ({}): {how}",
            run.id,
            run.workflow,
            run.status.as_str()
        );
    }
}
