//! `weft runs show RUN_ID`: what a person wants to know about a run, from the database
//! alone: where it stands, its output, the question it waits on (and how to answer), the
//! calls that need a decision, why it failed, when it ran, tokens per model, how full the
//! model calls' context windows were and why, and its sub-workflow runs; `--json` for scripts.

use super::super::arguments::DatabaseArgument;
use super::super::{exit, fail, hints, open_store};
use crate::render::preview_json;
use std::process::ExitCode;
use weft::store::OpenMode;
use weft_core::{RunId, RunStatus};
use weft_runtime::RunReport;

/// Shows one run.
pub async fn show(run: RunId, json: bool, database: &DatabaseArgument) -> ExitCode {
    let store = match open_store(database, OpenMode::MustExist).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let report = match RunReport::read(store.as_ref(), run).await {
        Ok(report) => report,
        Err(error) => return fail(exit::INVALID, error),
    };
    if json {
        return match serde_json::to_string_pretty(&report) {
            Ok(text) => {
                say!("{text}");
                ExitCode::SUCCESS
            }
            Err(error) => fail(exit::FAILED, error),
        };
    }
    say_partial!("{}", text(&report, database));
    ExitCode::SUCCESS
}

/// The report for people.
fn text(report: &RunReport, database: &DatabaseArgument) -> String {
    let summary = &report.summary;
    let mut lines = vec![
        format!("run       {}", summary.id),
        format!("workflow  {} ({})", summary.workflow, summary.source),
        format!("status    {}", summary.status.as_str()),
        format!(
            "started   {}, last event {} ({} later)",
            weft_tools::builtin::rfc3339(summary.created_at_millis),
            weft_tools::builtin::rfc3339(summary.updated_at_millis),
            duration(
                summary
                    .updated_at_millis
                    .saturating_sub(summary.created_at_millis)
            )
        ),
        format!(
            "log       {} events, {} steps",
            summary.events, report.steps
        ),
    ];
    if let Some(files) = report
        .setup
        .as_ref()
        .map(|setup| &setup.workflow_files)
        .filter(|files| !files.is_empty())
    {
        let names: Vec<&str> = files.keys().map(String::as_str).collect();
        lines.push(format!(
            "texts     {} (kept as the run started; resume and fork use them, not the files)",
            names.join(", ")
        ));
    }
    if let Some(parent) = &summary.parent {
        lines.push(format!(
            "parent    run {} (step {})",
            parent.run, parent.step
        ));
    }
    if !report.input.is_null() {
        lines.push(format!("input     {}", preview_json(&report.input)));
    }
    lines.extend(outcome(report, database));
    if !report.models.is_empty() {
        lines.push("models".to_owned());
        for usage in &report.models {
            let model = usage
                .model
                .as_ref()
                .map(|model| format!(" ({model})"))
                .unwrap_or_default();
            lines.push(format!(
                "  {}{model}: {} call(s), {} prompt + {} completion tokens",
                usage.spec, usage.calls, usage.prompt_tokens, usage.completion_tokens
            ));
        }
    }
    lines.extend(super::context::lines(report));
    lines.extend(guard_lines(report));
    if !report.children.is_empty() {
        lines.push("sub-workflow runs".to_owned());
        for child in &report.children {
            lines.push(format!(
                "  {}  {}  {}",
                child.id,
                child.status.as_str(),
                child.workflow
            ));
        }
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// What guards judged and found.
fn guard_lines(report: &RunReport) -> Vec<String> {
    if report.guard_checks == 0 {
        return Vec::new();
    }
    let mut lines = vec![format!("guards    {} check(s)", report.guard_checks)];
    for found in &report.guard_findings {
        let by = if found.finding.by_person {
            " by a person"
        } else {
            ""
        };
        lines.push(format!(
            "  step {} {}: {} {}{by}: {} (guard `{}`)",
            found.finding.step,
            found.node,
            found.finding.check.point.as_str(),
            found.action,
            found.finding.describe(),
            found.finding.guard
        ));
    }
    lines
}

/// What the run's status calls for: its output, its question, its calls, its error.
fn outcome(report: &RunReport, database: &DatabaseArgument) -> Vec<String> {
    let run = report.summary.id;
    match report.summary.status {
        RunStatus::Finished => vec![format!(
            "output    {}",
            report.output.as_ref().map(preview_json).unwrap_or_default()
        )],
        RunStatus::Interrupted => {
            let several = report.questions.len() > 1;
            let mut lines = Vec::new();
            for question in &report.questions {
                let id = several.then_some(question.id.as_str());
                lines.push(format!(
                    "question  {} (step {}, node `{}`, id `{}`)",
                    question.question, question.step, question.node, question.id
                ));
                lines.push(format!(
                    "          {}",
                    hints::answer(run, id, question.input_schema.as_ref(), database)
                ));
            }
            lines
        }
        RunStatus::NeedsAttention => vec![hints::attention(run, &report.unsettled_calls, database)],
        RunStatus::Failed | RunStatus::Cancelled => vec![format!(
            "error     {}",
            report
                .summary
                .error
                .as_deref()
                .unwrap_or("(no reason recorded)")
        )],
        RunStatus::Queued | RunStatus::Running => vec![format!(
            "          not running here; if no process drives it (a crash, Ctrl-C), go on with: {}",
            hints::resume(run, database)
        )],
    }
}

/// Milliseconds for people.
fn duration(millis: u64) -> String {
    if millis < 1_000 {
        format!("{millis} ms")
    } else if millis < 120_000 {
        format!("{:.1} s", millis as f64 / 1_000.0)
    } else {
        format!("{:.1} min", millis as f64 / 60_000.0)
    }
}
