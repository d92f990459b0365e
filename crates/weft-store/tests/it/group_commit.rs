//! SQLite's group commit on a real file: appends that wait together commit together, and
//! each hears its own outcome: a conflict among them fails that append alone, and what
//! the others wrote is all there.

use crate::{record, started};
use futures::future::join_all;
use weft_core::{ErrorKind, Event, EventSink, RunId, RunStatus, RunStore};
use weft_store::SqliteStore;

const RUNS: usize = 60;
/// The run whose second append is at the wrong sequence number.
const CONFLICTING: usize = 17;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_that_wait_together_each_hear_their_own_outcome() {
    let folder = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&folder.path().join("group.db"))
        .await
        .unwrap();
    let runs: Vec<RunId> = (0..RUNS).map(|_| RunId::new()).collect();
    let firsts: Vec<_> = runs.iter().map(|_| [record(1, started())]).collect();
    let started = join_all(
        runs.iter()
            .zip(&firsts)
            .map(|(run, records)| store.append(*run, records)),
    )
    .await;
    assert!(started.iter().all(Result::is_ok), "{started:?}");

    let cancel = |reason: &str| Event::RunCancelled {
        reason: reason.into(),
    };
    let seconds: Vec<_> = (0..RUNS)
        .map(|index| {
            let sequence = if index == CONFLICTING { 5 } else { 2 };
            [record(sequence, cancel(&format!("run {index}")))]
        })
        .collect();
    let outcomes = join_all(
        runs.iter()
            .zip(&seconds)
            .map(|(run, records)| store.append(*run, records)),
    )
    .await;
    for (index, outcome) in outcomes.iter().enumerate() {
        if index == CONFLICTING {
            let error = outcome.as_ref().unwrap_err();
            assert_eq!(error.kind, ErrorKind::Conflict, "{}", error.message);
        } else {
            assert!(outcome.is_ok(), "run {index}: {outcome:?}");
        }
    }
    for (index, run) in runs.iter().enumerate() {
        let events = store.events(*run, 0).await.unwrap();
        let summary = store.run(*run).await.unwrap();
        if index == CONFLICTING {
            assert_eq!(events.len(), 1);
            assert_eq!(summary.status, RunStatus::Running);
        } else {
            assert_eq!(events.len(), 2, "run {index}");
            assert_eq!(events[1].event, cancel(&format!("run {index}")));
            assert_eq!(summary.status, RunStatus::Cancelled);
        }
    }
}
