//! `weft runs replay RUN [--workflow FILE]`: a run again, with its model replies and tool
//! results taken from its log, on the workflow text it ran on and on FILE (by default the
//! same text); the first step where FILE's workflow does something else, or that it did
//! not. A changed workflow is checked against real runs without calling anything.

use super::super::arguments::DatabaseArgument;
use super::super::{exit, fail, open_store, stored};
use std::path::Path;
use std::process::ExitCode;
use weft::store::OpenMode;
use weft_core::{RunId, RunStatus};
use weft_runtime::{RecordedRun, ReplayReport};

/// Replays `run`; exits 0 when nothing diverged and 1 when something did.
pub async fn replay(
    run: RunId,
    workflow: Option<&Path>,
    json: bool,
    database: &DatabaseArgument,
) -> ExitCode {
    let store = match open_store(database, OpenMode::MustExist).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let report = match stored::top_level(store.as_ref(), run, "replay").await {
        Ok(report) => report,
        Err(code) => return code,
    };
    if matches!(
        report.summary.status,
        RunStatus::Running | RunStatus::Queued
    ) {
        return fail(
            exit::INVALID,
            format!(
                "run {run} is {}; replay a run that has stopped",
                report.summary.status.as_str()
            ),
        );
    }
    let (original, changed) =
        match stored::original_and_changed(store.as_ref(), &report, workflow).await {
            Ok(workflows) => workflows,
            Err(code) => return code,
        };
    let recorded = match RecordedRun::read(store.as_ref(), run).await {
        Ok(recorded) => recorded,
        Err(error) => return fail(exit::FAILED, error),
    };
    let replayed = match weft_runtime::replay(&recorded, original, changed).await {
        Ok(replayed) => replayed,
        Err(error) => return fail(exit::FAILED, error),
    };
    let against = workflow.map_or_else(
        || "the workflow text it ran on".to_owned(),
        |path| path.display().to_string(),
    );
    print_report(run, &against, &replayed, json);
    if replayed.divergence.is_some() {
        ExitCode::from(exit::FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

fn print_report(run: RunId, against: &str, report: &ReplayReport, json: bool) {
    if json {
        match serde_json::to_string(report) {
            Ok(text) => say!("{text}"),
            Err(error) => eprintln!("error: the report cannot be written: {error}"),
        }
        return;
    }
    say!(
        "replayed run {run} on {against}: {} steps, {} model calls, {} tool calls",
        report.steps,
        report.model_calls,
        report.tool_calls
    );
    let Some(divergence) = &report.divergence else {
        say!("no divergence: the workflow does what the run did");
        return;
    };
    let place = crate::render::place_words(&divergence.place);
    let at = match (divergence.step, &divergence.node) {
        (Some(step), Some(node)) => format!("step {step} (node `{node}`)"),
        (Some(step), None) => format!("step {step}"),
        _ => "the end".to_owned(),
    };
    say!(
        "diverges at {at}{place}: {}: {}",
        kind_text(divergence.kind),
        divergence.detail
    );
}

fn kind_text(kind: weft_runtime::DivergenceKind) -> &'static str {
    match kind {
        weft_runtime::DivergenceKind::Route => "another route",
        weft_runtime::DivergenceKind::Prompt => "another prompt",
        weft_runtime::DivergenceKind::ToolCall => "another tool call",
        weft_runtime::DivergenceKind::Outcome => "another ending",
    }
}
