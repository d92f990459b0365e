//! `weft runs list` and `weft runs events`: the runs a database holds, and one run's log.

use super::super::arguments::DatabaseArgument;
use super::super::{exit, fail, open_store};
use crate::render::describe;
use std::process::ExitCode;
use weft::store::OpenMode;
use weft_core::{RunFilter, RunId, RunStatus};

/// Lists runs, newest first: a table, or a JSON array.
pub async fn list(
    status: Option<RunStatus>,
    all: bool,
    limit: u32,
    json: bool,
    database: &DatabaseArgument,
) -> ExitCode {
    let store = match open_store(database, OpenMode::MustExist).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let filter = RunFilter {
        status,
        top_level_only: !all,
        limit,
        ..RunFilter::default()
    };
    let runs = match store.runs(filter).await {
        Ok(runs) => runs,
        Err(error) => return fail(exit::FAILED, error),
    };
    if json {
        return match serde_json::to_string_pretty(&runs) {
            Ok(text) => {
                say!("{text}");
                ExitCode::SUCCESS
            }
            Err(error) => fail(exit::FAILED, error),
        };
    }
    say!("{:<36}  {:<15}  {:>6}  workflow", "run", "status", "events");
    for run in runs {
        say!(
            "{:<36}  {:<15}  {:>6}  {}",
            run.id,
            run.status.as_str(),
            run.events,
            run.workflow
        );
    }
    ExitCode::SUCCESS
}

/// Prints a run's events: a line each, or a JSON object each.
pub async fn events(run: RunId, json: bool, database: &DatabaseArgument) -> ExitCode {
    let store = match open_store(database, OpenMode::MustExist).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    if let Err(error) = store.run(run).await {
        return fail(exit::INVALID, error);
    }
    let records = match store.events(run, 0).await {
        Ok(records) => records,
        Err(error) => return fail(exit::FAILED, error),
    };
    for record in records {
        if json {
            say!(
                "{}",
                serde_json::json!({"sequence": record.sequence, "at_millis": record.at_millis, "event": record.event})
            );
        } else if let Some(line) = describe(&record.event) {
            say!("{:>4} {line}", record.sequence);
        } else {
            say!("{:>4} {}", record.sequence, record.event.name());
        }
    }
    ExitCode::SUCCESS
}
