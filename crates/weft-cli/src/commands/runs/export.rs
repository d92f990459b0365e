//! `weft runs export RUN --scripted FILE`: a run's model replies as a scripted backend's
//! file, so that a real run becomes an offline demo or a test (`--model scripted:FILE`).

use super::super::arguments::DatabaseArgument;
use super::super::{exit, fail, open_store};
use std::path::Path;
use std::process::ExitCode;
use weft::store::OpenMode;
use weft_core::{Database, Event, EventRecord, ModelReply, RunId, StoreError};
use weft_llm::script_writer::{RecordedReply, write_script};

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
    let calls = match recorded_calls(store.as_ref(), run).await {
        Ok(calls) => calls,
        Err(error) => return fail(exit::FAILED, error),
    };
    let replies: Vec<RecordedReply<'_>> = calls.iter().map(Call::as_recorded).collect();
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

/// How a scripted model's failure message starts.
const SCRIPTED_FAILURE: &str = "scripted failure: ";

/// One recorded model call.
enum Call {
    Replied(ModelReply),
    Failed(String),
}

impl Call {
    fn as_recorded(&self) -> RecordedReply<'_> {
        match self {
            Self::Replied(reply) => RecordedReply::Replied(reply),
            Self::Failed(message) => RecordedReply::Failed(message),
        }
    }
}

/// The model calls of a run and of its sub-workflow runs, each child's where it started
/// (`--model` reaches sub-workflows too, so one file answers them all): replies, and
/// failures (a retried call fails, then replies: both are kept, so the script fails it
/// again).
async fn recorded_calls(store: &dyn Database, run: RunId) -> Result<Vec<Call>, StoreError> {
    let mut calls = Vec::new();
    // Logs being walked, each with the position reached: a child's is walked whole
    // before its parent goes on.
    let mut walking: Vec<(Vec<EventRecord>, usize)> = vec![(store.events(run, 0).await?, 0)];
    while let Some((log, position)) = walking.last_mut() {
        let Some(record) = log.get(*position) else {
            walking.pop();
            continue;
        };
        *position += 1;
        match &record.event {
            Event::ModelReplied { reply, .. } => calls.push(Call::Replied(reply.clone())),
            Event::ModelFailed { error, .. } => {
                let message = &error.message;
                let message = message.strip_prefix(SCRIPTED_FAILURE).unwrap_or(message);
                calls.push(Call::Failed(message.to_owned()));
            }
            Event::ChildStarted { run: child, .. } => {
                let child = store.events(*child, 0).await?;
                walking.push((child, 0));
            }
            _ => {}
        }
    }
    Ok(calls)
}
