//! Listing runs on a real SQLite file: the page before a run, and a follower's cursor (a
//! run and those after it).

use crate::{record, started};
use weft_core::{EventSink, RunFilter, RunId, RunStore};
use weft_store::SqliteStore;

#[tokio::test]
async fn runs_are_listed_before_a_run_and_since_one() {
    let folder = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&folder.path().join("list.db"))
        .await
        .unwrap();
    let mut runs = Vec::new();
    for _ in 0..5 {
        let run = RunId::new();
        store.append(run, &[record(1, started())]).await.unwrap();
        runs.push(run);
    }
    runs.sort();
    let ids = |filter: RunFilter| {
        let store = &store;
        async move {
            let listed = store.runs(filter).await.unwrap();
            listed.iter().map(|summary| summary.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(
        ids(RunFilter {
            since: Some(runs[2]),
            ..RunFilter::default()
        })
        .await,
        [runs[4], runs[3], runs[2]],
        "since a run: it and the newer ones, newest first"
    );
    assert_eq!(
        ids(RunFilter {
            before: Some(runs[2]),
            ..RunFilter::default()
        })
        .await,
        [runs[1], runs[0]],
    );
    assert_eq!(
        ids(RunFilter {
            since: Some(runs[1]),
            before: Some(runs[3]),
            ..RunFilter::default()
        })
        .await,
        [runs[2], runs[1]],
    );
}
