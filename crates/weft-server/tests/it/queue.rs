//! Daemons sharing one queue: on PostgreSQL two daemons serve 200 runs and one of them
//! dies halfway (its runtime dropped at once, so it gives nothing back: its leases run out,
//! as a killed process's would); every run finishes exactly once, and no finished tool call
//! runs again.

use crate::harness::{Client, Server, options};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use weft_core::{Event, RunFilter, RunStatus};
use weft_store::testing::PostgresTests;

static POSTGRES: PostgresTests = PostgresTests::new(
    "weft-server",
    &["two_daemons_share_a_queue_and_one_dies_halfway"],
);

/// Each run: a slow model call, then a tool call.
const STEPS: &str = r#"name: steps
model: scripted:slow.yaml
state:
  message: { type: string }
  reply: { type: string }
  echoed: { type: string }
entry: think
nodes:
  think:
    kind: llm
    prompt: "{{ state.message }}"
    writes: { reply: "{{ reply }}" }
    next: call
  call:
    kind: tool
    tool: echo
    arguments: { text: "{{ state.reply }}" }
    writes: { echoed: "{{ output }}" }
    next: end
output: "{{ state.echoed }}"
"#;

const SLOW: &str = "replies:\n  - match: \"(.+)\"\n    text: \"done $1\"\n    delay: 150ms\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_share_a_queue_and_one_dies_halfway() {
    let Some(schema) = POSTGRES
        .schema("two_daemons_share_a_queue_and_one_dies_halfway")
        .await
        .unwrap()
    else {
        return;
    };
    let folder = tempfile::tempdir().unwrap();
    let workflows = folder.path().join("workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    std::fs::write(workflows.join("steps.yaml"), STEPS).unwrap();
    std::fs::write(workflows.join("slow.yaml"), SLOW).unwrap();
    let mut settings = options(folder.path());
    settings.workers = 8;

    // The daemon that dies runs on a runtime of its own, dropped at once to kill it.
    let doomed_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let url = schema.url();
    let doomed_folder = folder.path().to_owned();
    let doomed_options = settings.clone();
    let doomed = doomed_runtime.spawn(async move {
        let database: Arc<dyn weft_core::Database> =
            Arc::new(weft_store::PostgresStore::connect(&url).await.unwrap());
        let folder = tempfile::TempDir::new_in(&doomed_folder).unwrap();
        let server = Server::start(folder, database, false, doomed_options).await;
        let daemon = server.daemon.clone();
        std::mem::forget(server);
        daemon
    });
    let doomed_daemon = loop {
        if doomed.is_finished() {
            break doomed.await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    let database: Arc<dyn weft_core::Database> = Arc::new(schema.store().await.unwrap());
    let survivor_folder = tempfile::TempDir::new_in(folder.path()).unwrap();
    let survivor = Server::start(survivor_folder, database.clone(), false, settings).await;
    let client: Client = survivor.client("acme").await;
    for index in 0..200 {
        let started = client
            .post(
                "/v1/runs",
                json!({"workflow": "steps", "input": {"message": format!("run {index}")}}),
            )
            .await;
        assert_eq!(started.status, 202, "{:?}", started.body);
    }
    // Halfway: kill the doomed daemon while it holds runs.
    loop {
        let finished = finished_runs(database.as_ref()).await;
        if finished >= 60 && !doomed_daemon.held_runs().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let held_at_death = doomed_daemon.held_runs().len();
    doomed_runtime.shutdown_background();
    assert!(held_at_death > 0);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while finished_runs(database.as_ref()).await < 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the runs did not all finish"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let runs = database
        .runs(RunFilter {
            top_level_only: true,
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(runs.len(), 200);
    for run in runs {
        assert_eq!(run.status, RunStatus::Finished, "{run:?}");
        let events = database.events(run.id, 0).await.unwrap();
        let ends = events
            .iter()
            .filter(|record| matches!(record.event, Event::RunFinished { .. }))
            .count();
        assert_eq!(ends, 1, "run {} ended {ends} times", run.id);
        let mut finished_calls = BTreeMap::new();
        for record in &events {
            if let Event::ToolCallFinished {
                step, turn, index, ..
            } = &record.event
            {
                *finished_calls.entry((*step, *turn, *index)).or_insert(0) += 1;
            }
        }
        assert!(
            finished_calls.values().all(|count| *count == 1),
            "{finished_calls:?}"
        );
    }
    survivor.stop().await;
    schema.remove().await.unwrap();
}

async fn finished_runs(database: &dyn weft_core::Database) -> usize {
    database
        .runs(RunFilter {
            status: Some(RunStatus::Finished),
            top_level_only: true,
            ..RunFilter::default()
        })
        .await
        .unwrap()
        .len()
}
