//! A run that needs attention, over HTTP: a daemon dies while a non-idempotent command tool
//! runs (its runtime dropped at once, as a killed process would stop), another daemon on
//! the same SQLite file takes the run over once the lease runs out, finds the unsettled
//! call and stops there; `POST /v1/runs/{id}/retry` runs the call again and the run ends.

use crate::harness::{Server, options};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const PUBLISHER: &str = r#"name: publisher
state:
  result: { type: string }
entry: publish
nodes:
  publish:
    kind: tool
    tool: publish
    arguments: {}
    writes: { result: "{{ output }}" }
    next: end
output: "{{ state.result }}"
"#;

/// A command tool that is not idempotent: its first call leaves a mark and hangs, the next
/// one publishes.
fn publish_tool(workspace: &Path, mark: &Path) {
    let tools = workspace.join("tools");
    std::fs::create_dir_all(&tools).unwrap();
    let script = format!(
        "cat > /dev/null; if [ -f '{mark}' ]; then echo '\"published\"'; else touch '{mark}'; sleep 30; fi",
        mark = mark.display()
    );
    let manifest = json!({
        "name": "publish",
        "description": "Publishes the draft.",
        "command": ["sh", "-c", script],
        "parameters": {"type": "object", "properties": {}, "additionalProperties": false},
        "timeout": "60s",
        "idempotent": false,
    });
    std::fs::write(
        tools.join("publish.yaml"),
        serde_json::to_string(&manifest).unwrap(),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_left_with_an_unsettled_call_is_retried_over_http() {
    let folder = tempfile::tempdir().unwrap();
    let workflows = folder.path().join("workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    std::fs::write(workflows.join("publisher.yaml"), PUBLISHER).unwrap();
    let mark = folder.path().join("first-call");
    let database_path = folder.path().join("weft.db");
    let settings = options(folder.path());

    // The daemon that dies runs on a runtime of its own, dropped at once to kill it.
    let doomed_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (doomed_folder, doomed_options) = (folder.path().to_owned(), settings.clone());
    let doomed_mark = mark.clone();
    let database = weft::store::open(
        database_path.to_str().unwrap(),
        weft::store::OpenMode::CreateIfMissing,
    )
    .await
    .unwrap();
    let doomed = doomed_runtime.spawn(async move {
        let workspace = tempfile::TempDir::new_in(&doomed_folder).unwrap();
        publish_tool(workspace.path(), &doomed_mark);
        let server = Server::start(workspace, database, false, doomed_options).await;
        let client = server.client("acme").await;
        std::mem::forget(server);
        client
    });
    let client = loop {
        if doomed.is_finished() {
            break doomed.await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let started = client
        .post("/v1/runs", json!({"workflow": "publisher"}))
        .await;
    assert_eq!(started.status, 202, "{:?}", started.body);
    let run = started.body["id"].as_str().unwrap().to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !mark.exists() {
        if tokio::time::Instant::now() > deadline {
            let view = client.get(&format!("/v1/runs/{run}")).await;
            panic!("the tool never ran: {:?}", view.body);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    doomed_runtime.shutdown_background();

    // The survivor, on the same file, takes the run over once its lease is out.
    let database = weft::store::open(
        database_path.to_str().unwrap(),
        weft::store::OpenMode::MustExist,
    )
    .await
    .unwrap();
    let workspace = tempfile::TempDir::new_in(folder.path()).unwrap();
    publish_tool(workspace.path(), &mark);
    let survivor = Server::start(workspace, Arc::clone(&database), false, settings).await;
    let client = survivor.client("acme").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let stuck = loop {
        let view = client.get(&format!("/v1/runs/{run}")).await;
        if view.body["status"] == "needs_attention" {
            break view.body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the run never needed attention: {:?}",
            view.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let unsettled = stuck["unsettled_calls"].as_array().unwrap();
    assert_eq!(unsettled.len(), 1, "{stuck}");
    assert_eq!(unsettled[0]["tool"], "publish", "{stuck}");

    let finished_before = finished_calls(database.as_ref(), &run).await;
    let retried = client
        .post(&format!("/v1/runs/{run}/retry"), json!({}))
        .await;
    assert_eq!(retried.status, 202, "{:?}", retried.body);
    let done = client.get(&format!("/v1/runs/{run}?wait=true")).await;
    assert_eq!(done.body["status"], "finished", "{:?}", done.body);
    assert_eq!(done.body["output"], "published");
    assert_eq!(
        finished_calls(database.as_ref(), &run).await,
        finished_before + 1
    );

    // A run that does not need attention is not retried.
    let again = client
        .post(&format!("/v1/runs/{run}/retry"), json!({}))
        .await;
    assert_eq!(again.status, 409, "{:?}", again.body);
    survivor.stop().await;
}

/// How many `ToolCallFinished` events the run's log holds.
async fn finished_calls(database: &dyn weft_core::Database, run: &str) -> usize {
    let events = database.events(run.parse().unwrap(), 0).await.unwrap();
    events
        .iter()
        .filter(|record| matches!(record.event, weft_core::Event::ToolCallFinished { .. }))
        .count()
}
