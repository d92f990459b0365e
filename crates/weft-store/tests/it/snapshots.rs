//! Snapshots bound the work of loading a long run: it starts from the latest snapshot and
//! reads only the events after it, and ends in the same state as a replay of the whole log.

use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use weft_core::{RunStatus, RunStore};
use weft_runtime::{CancellationToken, Models, Runtime};
#[cfg(feature = "sqlite")]
use {weft_core::ErrorKind, weft_store::SqliteStore};

const LOOP: &str = "
name: long
state:
  count: { type: integer, reducer: add }
  notes: { type: array, reducer: append }
  ok: { type: boolean }
entry: think
nodes:
  think:
    kind: llm
    prompt: 'Step {{ state.count }}'
    writes: { count: 1, notes: '{{ reply }}' }
    next:
      - when: 'state.count < 40'
        to: think
      - to: ask
  ask:
    kind: human
    ask: Done?
    writes: { ok: '{{ input }}' }
    next: end
";

fn runtime(store: Arc<dyn RunStore>, snapshot_every: u64) -> Runtime {
    let script = "replies:\n  - match: 'Step (\\d+)'\n    text: 'note $1'\n";
    let model = weft_llm::ScriptedModel::from_yaml(Path::new("replies.yaml"), script).unwrap();
    Runtime::builder()
        .store(store)
        .models(Arc::new(Models::new().with_default(Arc::new(model))))
        .snapshot_every(snapshot_every)
        .build()
}

/// On any backend: a snapshot late in the log, and loading from it gives the same run as
/// replaying the whole log. Returns the run, still waiting at its last node.
pub async fn snapshots_are_taken_and_loaded(store: Arc<dyn RunStore>) -> weft_core::RunId {
    let workflow = weft_workflow::Loader::new()
        .load_source(Path::new("long.yaml"), LOOP)
        .unwrap();
    let cancel = CancellationToken::new();
    let run = runtime(store.clone(), 25)
        .start(workflow.clone(), json!({}), &cancel)
        .await
        .unwrap();
    assert_eq!(run.status(), RunStatus::Interrupted);
    let (sequence, _) = store.latest_snapshot(run.id()).await.unwrap().unwrap();
    let total = store.run(run.id()).await.unwrap().events;
    assert!(
        sequence > 100 && sequence < total,
        "the latest snapshot is late in the log: {sequence} of {total}"
    );
    let from_snapshot = runtime(store.clone(), 25)
        .load(workflow.clone(), run.id())
        .await
        .unwrap();
    let replayed = runtime(store.clone(), 0)
        .load(workflow.clone(), run.id())
        .await
        .unwrap();
    assert_eq!(from_snapshot.state(), run.state());
    assert_eq!(replayed.state(), run.state());
    assert_eq!(from_snapshot.event_count(), total);
    assert_eq!(from_snapshot.question(), replayed.question());
    run.id()
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_long_run_is_loaded_from_its_latest_snapshot() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("weft.db");
    let workflow = weft_workflow::Loader::new()
        .load_source(Path::new("long.yaml"), LOOP)
        .unwrap();
    let cancel = CancellationToken::new();
    let store = Arc::new(SqliteStore::open(&path).await.unwrap());
    let run_id = snapshots_are_taken_and_loaded(store.clone()).await;

    // Damage the log's start: loading from the snapshot never reads it.
    let pool =
        sqlx::SqlitePool::connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(&path))
            .await
            .unwrap();
    let snapshots: i64 = sqlx::query_scalar("SELECT count(*) FROM snapshots")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(snapshots, 1, "each snapshot replaces the one before");
    sqlx::query("UPDATE event_batches SET encoding = 0, events = CAST('[oops' AS BLOB) WHERE run_id = ? AND first_sequence = 1")
        .bind(run_id.to_string())
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(
        store.events(run_id, 0).await.unwrap_err().kind,
        ErrorKind::Corrupt
    );
    let runtime = runtime(store.clone(), 25);
    let mut loaded = runtime.load(workflow.clone(), run_id).await.unwrap();
    assert_eq!(loaded.state()["count"], json!(40));
    runtime
        .resume(&mut loaded, json!(true), &cancel)
        .await
        .unwrap();
    assert_eq!(loaded.status(), RunStatus::Finished);
    assert_eq!(loaded.state()["notes"].as_array().map(Vec::len), Some(40));
    assert_eq!(loaded.state()["notes"][39], json!("note 39"));
}
