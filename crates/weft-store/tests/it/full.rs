//! A database that cannot grow (a full disk, simulated with SQLite's page limit): the run
//! stops with an error that says so, everything committed before stays readable, and the
//! run goes on once there is room.

use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use weft_core::{ErrorKind, RunFilter, RunStatus, RunStore};
use weft_runtime::{CancellationToken, Models, Runtime, RuntimeError};
use weft_store::{SqliteSettings, SqliteStore};

const STEPS: u64 = 60;

const LOOP: &str = "
name: filler
state:
  count: { type: integer, reducer: add }
  notes: { type: array, reducer: append }
entry: write
nodes:
  write:
    kind: llm
    prompt: 'Note {{ state.count }}'
    writes: { count: 1, notes: '{{ reply }}' }
    next:
      - when: 'state.count < 60'
        to: write
      - to: end
";

/// A reply of 4 KiB that compression cannot shrink much (hex of a xorshift sequence).
fn replies() -> String {
    let mut seed = 0x2545_F491_4F6C_DD1D_u64;
    let mut text = String::new();
    while text.len() < 4096 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        text.push_str(&format!("{seed:016x}"));
    }
    format!("replies:\n  - match: ''\n    text: '{text}'\n")
}

fn runtime(store: Arc<SqliteStore>) -> Runtime {
    let model = weft_llm::ScriptedModel::from_yaml(Path::new("replies.yaml"), &replies()).unwrap();
    Runtime::builder()
        .store(store)
        .models(Arc::new(Models::new().with_default(Arc::new(model))))
        .build()
}

#[tokio::test]
async fn a_full_disk_stops_the_run_clearly_and_loses_nothing_committed() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("weft.db");
    let workflow = weft_workflow::Loader::new()
        .load_source(Path::new("filler.yaml"), LOOP)
        .unwrap();
    let cancel = CancellationToken::new();
    // The empty schema takes about 160 KiB (sessions and their archive included): some
    // 80 KiB are left for the run.
    let settings = SqliteSettings {
        max_bytes: Some(240 * 1024),
    };
    let store = Arc::new(SqliteStore::open_with(&path, settings).await.unwrap());
    let error = match runtime(store.clone())
        .start(workflow.clone(), json!({}), &cancel)
        .await
    {
        Err(RuntimeError::Store(error)) => error,
        Err(other) => panic!("expected a store error, got {other}"),
        Ok(run) => panic!("the run fit in 240 KiB: {:?}", run.status()),
    };
    assert_eq!(error.kind, ErrorKind::Upstream);
    assert!(
        error.message.contains("the disk is full"),
        "{}",
        error.message
    );

    // What was committed is all there, in order, and the run is unfinished.
    let runs = store.runs(RunFilter::default()).await.unwrap();
    let summary = &runs[0];
    assert_eq!(summary.status, RunStatus::Running);
    let events = store.events(summary.id, 0).await.unwrap();
    assert_eq!(events.len() as u64, summary.events);
    assert!(events.len() > 10, "some steps were committed");
    let sequences: Vec<u64> = events.iter().map(|record| record.sequence).collect();
    assert_eq!(sequences, (1..=events.len() as u64).collect::<Vec<_>>());
    drop(store);

    // Room again: the same database, no limit, a new runtime.
    let store = Arc::new(SqliteStore::open(&path).await.unwrap());
    let runtime = runtime(store.clone());
    let mut run = runtime.load(workflow, summary.id).await.unwrap();
    let count_before = run.state()["count"].as_u64().unwrap();
    assert!(count_before > 0 && count_before < STEPS, "{count_before}");
    runtime.continue_run(&mut run, &cancel).await.unwrap();
    assert_eq!(run.status(), RunStatus::Finished);
    assert_eq!(run.state()["count"], json!(STEPS));
    assert_eq!(
        run.state()["notes"].as_array().map(Vec::len),
        Some(STEPS as usize)
    );
}
