//! Runs recorded for a daemon's workers: a request records what the machine decides, and a
//! worker loads the run and performs it. A call of a tool with an effect that the decision
//! asks for is started by the worker, not mistaken for one a crash interrupted.

use super::shutdown::Slow;
use super::workflow;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use weft_core::{Event, RunId, RunSetup, RunStatus};
use weft_runtime::{CancellationToken, MemorySink, Models, Runtime};
use weft_tools::Registry;

const CALL_FIRST: &str = "
name: call_first
state:
  count: { type: integer }
entry: work
nodes:
  work:
    kind: tool
    tool: slow
    arguments: {}
    writes: { count: '{{ output }}' }
    next: end
";

const ASK_THEN_CALL: &str = "
name: ask_then_call
state:
  count: { type: integer }
  go: { type: boolean }
entry: ask
nodes:
  ask:
    kind: human
    ask: Go?
    writes: { go: '{{ input }}' }
    next: work
  work:
    kind: tool
    tool: slow
    arguments: {}
    writes: { count: '{{ output }}' }
    next: end
";

fn runtime(sink: &Arc<MemorySink>, calls: &Arc<AtomicU32>) -> Runtime {
    let mut tools = Registry::new();
    tools
        .register(Slow {
            calls: calls.clone(),
            takes: Duration::from_millis(1),
        })
        .unwrap();
    Runtime::builder()
        .models(Arc::new(Models::new()))
        .tools(Arc::new(tools))
        .store(sink.clone())
        .build()
}

fn served() -> RunSetup {
    RunSetup {
        served: true,
        ..RunSetup::default()
    }
}

fn started_calls(sink: &MemorySink, run: RunId) -> usize {
    sink.events(run)
        .iter()
        .filter(|record| matches!(record.event, Event::ToolCallStarted { .. }))
        .count()
}

/// What a worker does: load the run and drive it on. It finishes, having made the call
/// once and recorded it as started once.
async fn work_on(
    (runtime, sink, calls): (&Runtime, &MemorySink, &AtomicU32),
    source: &str,
    run: RunId,
) -> weft_runtime::ActiveRun {
    let mut active = runtime.load(workflow(source), run).await.unwrap();
    let failure = active.failure().cloned();
    assert_eq!(active.status(), RunStatus::Running, "{failure:?}");
    drive_to_end(runtime, &mut active, calls).await;
    assert_eq!(started_calls(sink, run), 1);
    active
}

/// Drives a loaded run on: it finishes, having made the call once.
async fn drive_to_end(runtime: &Runtime, active: &mut weft_runtime::ActiveRun, calls: &AtomicU32) {
    runtime
        .continue_run(active, &CancellationToken::new())
        .await
        .unwrap();
    let failure = active.failure().cloned();
    assert_eq!(active.status(), RunStatus::Finished, "{failure:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// A runtime over a new sink with the `slow` tool, and a run of `source` queued on it.
async fn queued(source: &str) -> (Runtime, Arc<MemorySink>, Arc<AtomicU32>, RunId) {
    let (sink, calls) = (Arc::new(MemorySink::new()), Arc::new(AtomicU32::new(0)));
    let runtime = runtime(&sink, &calls);
    let run = runtime
        .queue_start(workflow(source), json!({}), served(), None)
        .await
        .unwrap()
        .id;
    (runtime, sink, calls, run)
}

#[tokio::test]
async fn a_queued_first_call_is_started_by_the_worker_and_runs_once() {
    let (runtime, sink, calls, run) = queued(CALL_FIRST).await;
    assert_eq!(started_calls(&sink, run), 0, "the request starts nothing");
    work_on((&runtime, &sink, &calls), CALL_FIRST, run).await;
}

#[tokio::test]
async fn a_queued_answer_leaves_the_call_after_it_to_the_worker() {
    let (runtime, sink, calls, run) = queued(ASK_THEN_CALL).await;
    let mut waiting = runtime.load(workflow(ASK_THEN_CALL), run).await.unwrap();
    assert_eq!(waiting.status(), RunStatus::Interrupted);
    runtime
        .queue_answer(&mut waiting, None, json!(true))
        .await
        .unwrap();
    assert_eq!(started_calls(&sink, run), 0, "the answer starts nothing");
    let active = work_on((&runtime, &sink, &calls), ASK_THEN_CALL, run).await;
    assert_eq!(active.state()["go"], json!(true));
}

#[tokio::test]
async fn a_worker_handed_the_recorded_log_runs_the_run_as_one_that_reads_it() {
    let (sink, calls) = (Arc::new(MemorySink::new()), Arc::new(AtomicU32::new(0)));
    let runtime = runtime(&sink, &calls);
    let queued = runtime
        .queue_start(workflow(CALL_FIRST), json!({}), served(), None)
        .await
        .unwrap();
    assert_eq!(queued.log, sink.events(queued.id), "the log as recorded");
    let mut active = runtime
        .load_from(workflow(CALL_FIRST), queued.id, &queued.log)
        .await
        .unwrap();
    drive_to_end(&runtime, &mut active, &calls).await;
    assert_eq!(started_calls(&sink, queued.id), 1);
    assert_eq!(active.state()["count"], json!(1));
}
