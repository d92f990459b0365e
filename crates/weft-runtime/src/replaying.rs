//! Replaying a recording with a runtime: the run again on one workflow, then on another,
//! and the two compared (see `replay.rs` and `replay_compare.rs`).

use crate::error::RuntimeError;
use crate::replay::{RecordedRun, Replay};
use crate::replay_compare::{Played, ReplayReport, compare};
use crate::runtime::Runtime;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use weft_core::RunStatus;
use weft_workflow::Workflow;

/// Replays `recorded` on `original` (the workflow it ran on) and on `changed`, and compares
/// the two: where the changed workflow first does something else, or that it did not.
pub async fn replay(
    recorded: &RecordedRun,
    original: Arc<Workflow>,
    changed: Arc<Workflow>,
) -> Result<ReplayReport, RuntimeError> {
    let before = play(recorded, original).await?;
    let after = play(recorded, changed).await?;
    Ok(compare(before, after))
}

/// Runs `workflow` on the recording, in memory, answering its questions as the original
/// run was answered; its logs and what its model calls asked.
async fn play(recorded: &RecordedRun, workflow: Arc<Workflow>) -> Result<Played, RuntimeError> {
    let replay = Arc::new(Replay::new(recorded));
    let runtime = Runtime::builder().replaying(replay.clone()).build();
    let cancel = CancellationToken::new();
    let mut run = runtime.start(workflow, recorded.input(), &cancel).await?;
    let mut answers = recorded.answers();
    while run.status() == RunStatus::Interrupted {
        let Some((question, answer)) = answers.pop_front() else {
            break;
        };
        let answered = runtime
            .answer(&mut run, question.as_deref(), answer, &cancel)
            .await;
        if answered.is_err() {
            // An answer the changed workflow refuses: the run stays where it waits, and
            // the comparison shows where that is.
            break;
        }
    }
    let logs = RecordedRun::read(runtime.store.as_ref(), run.id()).await?;
    Ok(Played {
        logs,
        requests: replay.take_requests(),
    })
}
