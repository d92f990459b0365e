//! SQLite's group commit on a real file: appends that wait together commit together, and
//! each hears its own outcome: a conflict among them fails that append alone, and what
//! the others wrote is all there.

use crate::{record, started};
use futures::FutureExt;
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

/// A write runs on its caller's task when the writer is idle. A caller that stops waiting
/// part-way leaves the write whole or undone, and the writer usable: the next append
/// commits, and the run row agrees with the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_whose_caller_stops_waiting_leaves_the_writer_usable() {
    let folder = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&folder.path().join("dropped.db"))
        .await
        .unwrap();
    // The first poll sends the write to SQLite's thread; now and then its answer is back
    // before the poll ends. Attempts go on until ten writes were stopped part-way.
    let mut stopped = 0;
    for attempt in 0..200 {
        if stopped == 10 {
            break;
        }
        let run = RunId::new();
        store.append(run, &[record(1, started())]).await.unwrap();
        // A status change writes the run row and the batch: a script of two statements.
        let cancel = [record(
            2,
            Event::RunCancelled {
                reason: "stopped".into(),
            },
        )];
        {
            let mut append = store.append(run, &cancel);
            match append.as_mut().now_or_never() {
                None => stopped += 1,
                Some(outcome) => outcome.unwrap(),
            }
        }
        let events = store.events(run, 0).await.unwrap();
        let summary = store.run(run).await.unwrap();
        match events.len() {
            1 => assert_eq!(summary.status, RunStatus::Running, "attempt {attempt}"),
            2 => assert_eq!(summary.status, RunStatus::Cancelled, "attempt {attempt}"),
            other => panic!("attempt {attempt}: {other} events"),
        }
        let next = u64::try_from(events.len()).unwrap() + 1;
        let note = [record(
            next,
            Event::RunCancelled {
                reason: "again".into(),
            },
        )];
        store.append(run, &note).await.unwrap();
        assert_eq!(store.events(run, 0).await.unwrap().len(), events.len() + 1);
    }
    assert_eq!(stopped, 10, "writes stopped part-way");
}
