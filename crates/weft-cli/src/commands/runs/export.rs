//! `weft runs export RUN --scripted FILE`: a run's model replies as a scripted backend's
//! file, so that a real run becomes an offline demo or a test (`--model scripted:FILE`).

use super::super::arguments::DatabaseArgument;
use super::super::{exit, fail, open_store};
use std::path::Path;
use std::process::ExitCode;
use weft::store::OpenMode;
use weft_core::{Event, RunId};
use weft_llm::script_writer::{RecordedReply, write_script};
use weft_llm::scripted::FAILURE_PREFIX;
use weft_runtime::RecordedRun;

/// Writes the model replies (and failed calls) of `run` and its sub-workflow runs to
/// `file`, in the order their logs have them.
pub async fn export(run: RunId, file: &Path, force: bool, database: &DatabaseArgument) -> ExitCode {
    if file.exists() && !force {
        return fail(
            exit::INVALID,
            format!("{} exists; pass --force to replace it", file.display()),
        );
    }
    let store = match open_store(database, OpenMode::MustExist).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let summary = match store.run(run).await {
        Ok(summary) => summary,
        Err(error) => return fail(exit::INVALID, error),
    };
    let recorded = match RecordedRun::read(store.as_ref(), run).await {
        Ok(recorded) => recorded,
        Err(error) => return fail(exit::FAILED, error),
    };
    let mut replies = Vec::new();
    recorded_replies(&recorded, &mut replies);
    let comment = format!(
        "The model replies of run {run} (workflow `{}`) and of its sub-workflow runs, in the\norder their logs have them. Run it with --model scripted:{}",
        summary.workflow,
        file.display()
    );
    let script = write_script(&comment, &replies);
    if let Err(error) = std::fs::write(file, script) {
        return fail(
            exit::FAILED,
            format!("cannot write {}: {error}", file.display()),
        );
    }
    eprintln!(
        "wrote {} model replies of run {run} to {}",
        replies.len(),
        file.display()
    );
    ExitCode::SUCCESS
}

/// The model calls of a run and of its sub-workflow runs, each child's where it started
/// (`--model` reaches sub-workflows too, so one file answers them all): replies, and
/// failures (a retried call fails, then replies: both are kept, so the script fails it
/// again).
fn recorded_replies<'a>(recorded: &'a RecordedRun, replies: &mut Vec<RecordedReply<'a>>) {
    for record in &recorded.log {
        match &record.event {
            Event::ModelReplied { reply, .. } => replies.push(RecordedReply::Replied(reply)),
            // A scripted model's failure says so before its message: written once.
            Event::ModelFailed { error, .. } => {
                let message = &error.message;
                let message = message.strip_prefix(FAILURE_PREFIX).unwrap_or(message);
                replies.push(RecordedReply::Failed(message));
            }
            Event::ChildStarted { step, branch, .. } => {
                if let Some(child) = recorded.children.get(&(*step, *branch)) {
                    recorded_replies(child, replies);
                }
            }
            _ => {}
        }
    }
}
