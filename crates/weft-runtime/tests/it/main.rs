//! The tokio driver with the scripted backend: concurrency, limits, timeouts, cancellation,
//! child runs, interrupts and the event stream. Time is tokio's paused clock, so waits are
//! virtual and the tests are deterministic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod dispatch;
mod queued;
mod shutdown;

use serde_json::{Value, json};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use weft_core::{ErrorKind, Event, EventRecord, RunId, RunStatus};
use weft_llm::ScriptedModel;
use weft_runtime::{
    ActiveRun, CancellationToken, MemorySink, Models, RunObserver, Runtime, RuntimeError,
};
use weft_workflow::{Loader, Workflow};

fn workflow(source: &str) -> Arc<Workflow> {
    Loader::new()
        .load_source(Path::new("test.yaml"), source)
        .unwrap()
}

fn scripted(script: &str) -> Arc<ScriptedModel> {
    Arc::new(ScriptedModel::from_yaml(Path::new("replies.yaml"), script).unwrap())
}

/// Records what an observer sees.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<(RunId, Event)>>,
    deltas: Mutex<Vec<String>>,
}

impl RunObserver for Recorder {
    fn on_event(&self, run: RunId, record: &EventRecord) {
        self.events
            .lock()
            .unwrap()
            .push((run, record.event.clone()));
    }
    fn on_text_delta(&self, _run: RunId, _step: u64, _branch: Option<u32>, text: &str) {
        self.deltas.lock().unwrap().push(text.to_owned());
    }
}

struct Setup {
    runtime: Runtime,
    sink: Arc<MemorySink>,
    recorder: Arc<Recorder>,
}

fn setup(script: &str) -> Setup {
    let sink = Arc::new(MemorySink::new());
    let recorder = Arc::new(Recorder::default());
    let runtime = Runtime::builder()
        .models(Arc::new(Models::new().with_default(scripted(script))))
        .store(sink.clone())
        .observer(recorder.clone())
        .tools(Arc::new(weft_tools::builtin::registry(
            &weft_tools::builtin::Workspace::new(std::path::Path::new(".")).unwrap(),
        )))
        .build();
    Setup {
        runtime,
        sink,
        recorder,
    }
}

async fn run(setup: &Setup, source: &str, input: Value) -> ActiveRun {
    setup
        .runtime
        .start(workflow(source), input, &CancellationToken::new())
        .await
        .unwrap()
}

fn failure(run: &ActiveRun) -> String {
    run.failure()
        .map(|error| error.message.clone())
        .unwrap_or_default()
}

const MAP: &str = "
name: fan
state:
  items: { type: array }
  results: { type: array, reducer: append }
entry: each
nodes:
  each:
    kind: map
    over: state.items
    max_parallel: PARALLEL
    branch: { kind: llm, prompt: 'item {{ item }}' }
    writes: { results: '{{ output }}' }
    next: end
";

const SLOW: &str = "replies:\n  - match: 'item (.*)'\n    text: 'done $1'\n    delay: 100ms\n";

#[tokio::test(start_paused = true)]
async fn map_branches_run_concurrently_up_to_max_parallel() {
    for (parallel, waves) in [(5, 1u32), (2, 3)] {
        let setup = setup(SLOW);
        let started = tokio::time::Instant::now();
        let finished = run(
            &setup,
            &MAP.replace("PARALLEL", &parallel.to_string()),
            json!({"items": [1, 2, 3, 4, 5]}),
        )
        .await;
        assert_eq!(
            finished.status(),
            RunStatus::Finished,
            "{}",
            failure(&finished)
        );
        // Virtual time: each wave of branches waits 100 ms on the model together.
        assert_eq!(
            started.elapsed().as_millis() / 100,
            u128::from(waves),
            "max_parallel {parallel}"
        );
        assert_eq!(
            finished.state()["results"],
            json!(["done 1", "done 2", "done 3", "done 4", "done 5"])
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_node_timeout_fails_the_step() {
    let setup = setup("replies:\n  - text: late\n    delay: 10s\n");
    let source = "name: t\nentry: a\nnodes:\n  a: { kind: llm, prompt: hi, next: end, limits: { timeout: 1s } }\n";
    let finished = run(&setup, source, Value::Null).await;
    assert_eq!(finished.status(), RunStatus::Failed);
    assert_eq!(finished.failure().unwrap().kind, ErrorKind::Timeout);
    assert!(
        failure(&finished).contains("timeout of 1s"),
        "{}",
        failure(&finished)
    );
    let names: Vec<&str> = setup
        .sink
        .events(finished.id())
        .iter()
        .map(|record| record.event.name())
        .collect();
    assert_eq!(
        names,
        ["run_started", "step_started", "step_failed", "run_failed"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_timeout_fails_the_run() {
    let setup = setup("replies:\n  - match: .*\n    text: again\n    delay: 400ms\n");
    let source = "name: t\nentry: a\nnodes:\n  a: { kind: llm, prompt: hi, next: a }\nlimits: { timeout: 1s }\n";
    let finished = run(&setup, source, Value::Null).await;
    assert_eq!(finished.status(), RunStatus::Failed);
    assert_eq!(finished.failure().unwrap().kind, ErrorKind::Timeout);
    assert!(
        failure(&finished).contains("the run ran longer than its timeout of 1s"),
        "{}",
        failure(&finished)
    );
}

#[tokio::test(start_paused = true)]
async fn cancelling_stops_the_run_and_records_it() {
    let setup = setup("replies:\n  - text: late\n    delay: 3600s\n");
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        trigger.cancel();
    });
    let source = "name: t\nentry: a\nnodes:\n  a: { kind: llm, prompt: hi, next: end }\n";
    let finished = setup
        .runtime
        .start(workflow(source), Value::Null, &cancel)
        .await
        .unwrap();
    assert_eq!(finished.status(), RunStatus::Cancelled);
    let last = setup
        .sink
        .events(finished.id())
        .last()
        .unwrap()
        .event
        .clone();
    assert!(matches!(last, Event::RunCancelled { .. }), "{last:?}");
}

#[tokio::test]
async fn a_failing_tool_node_fails_the_run_with_the_tool_message() {
    let setup = setup("replies: []\n");
    let source = "name: t\nentry: a\nnodes:\n  a: { kind: tool, tool: add, arguments: { a: 1 }, next: end }\n";
    let finished = run(&setup, source, Value::Null).await;
    assert_eq!(finished.status(), RunStatus::Failed);
    // The arguments are checked against `add`'s schema before the tool runs.
    let message = failure(&finished);
    assert!(
        message.contains("tool `add` failed")
            && message.contains("invalid_arguments")
            && message.contains(r#"\"b\" is a required property"#),
        "{message}"
    );
}

#[tokio::test]
async fn an_agent_loops_through_real_tool_calls() {
    let script = "replies:\n  - match: '^Add'\n    tool_calls: [{ name: add, arguments: { a: 40, b: 2 } }]\n  - match: '^42$'\n    text: 'The sum is 42.'\n";
    let setup = setup(script);
    let source = "name: t\nstate: { answer: { type: string } }\nentry: a\nnodes:\n  a: { kind: agent, prompt: Add 40 and 2, tools: [add], writes: { answer: '{{ reply }}' }, next: end }\n";
    let finished = run(&setup, source, Value::Null).await;
    assert_eq!(
        finished.status(),
        RunStatus::Finished,
        "{}",
        failure(&finished)
    );
    assert_eq!(finished.state()["answer"], json!("The sum is 42."));
    let names: Vec<&str> = setup
        .sink
        .events(finished.id())
        .iter()
        .map(|record| record.event.name())
        .collect();
    assert_eq!(
        names,
        [
            "run_started",
            "step_started",
            "model_replied",
            "tool_call_started",
            "tool_call_finished",
            "model_replied",
            "state_changed",
            "step_finished",
            "run_finished"
        ]
    );
}

#[tokio::test]
async fn an_agent_names_tools_by_pattern() {
    let script = "replies:\n  - match: '^Add'\n    tool_calls: [{ name: add, arguments: { a: 40, b: 2 } }]\n  - match: '^42$'\n    text: 'The sum is 42.'\n";
    let setup = setup(script);
    let source = "name: t\nstate: { answer: { type: string } }\nentry: a\nnodes:\n  a: { kind: agent, prompt: Add 40 and 2, tools: ['ad*'], writes: { answer: '{{ reply }}' }, next: end }\n";
    let finished = run(&setup, source, Value::Null).await;
    assert_eq!(
        finished.state()["answer"],
        json!("The sum is 42."),
        "{}",
        failure(&finished)
    );
    let source = "name: t\nentry: a\nnodes:\n  a: { kind: agent, prompt: hi, tools: ['github.*'], next: end }\n";
    let finished = run(&setup, source, Value::Null).await;
    assert!(
        failure(&finished).contains("no tool matches `github.*`"),
        "{}",
        failure(&finished)
    );
}

#[tokio::test]
async fn an_agent_offered_an_unknown_tool_fails_clearly() {
    let setup = setup("replies: []\n");
    let source = "name: t\nentry: a\nnodes:\n  a: { kind: agent, prompt: hi, tools: [teleport], next: end }\n";
    let finished = run(&setup, source, Value::Null).await;
    assert_eq!(finished.status(), RunStatus::Failed);
    assert!(
        failure(&finished).contains(
            "unknown tool `teleport`; known tools: echo, add, calculator, now, read_file, list_files, write_file, append_line"
        ),
        "{}",
        failure(&finished)
    );
}

#[tokio::test]
async fn a_run_without_a_model_says_so_in_library_terms() {
    let runtime = Runtime::builder().build();
    let source = "name: t\nentry: a\nnodes:\n  a: { kind: llm, prompt: hi, next: end }\n";
    let finished = runtime
        .start(workflow(source), Value::Null, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(finished.status(), RunStatus::Failed);
    assert!(
        failure(&finished).contains(weft_runtime::models::NO_MODEL)
            && failure(&finished).contains("the workflow names none (`model:`)")
            && !failure(&finished).contains("--model"),
        "{}",
        failure(&finished)
    );
}

#[tokio::test]
async fn text_streams_to_the_observer_and_events_are_numbered() {
    let setup = setup("replies:\n  - text: \"line one\\nline two\\n\"\n");
    let source = "name: t\nentry: a\nnodes:\n  a: { kind: llm, prompt: hi, next: end }\n";
    let finished = run(&setup, source, Value::Null).await;
    assert_eq!(
        *setup.recorder.deltas.lock().unwrap(),
        ["line one\n", "line two\n"]
    );
    let records = setup.sink.events(finished.id());
    let sequences: Vec<u64> = records.iter().map(|record| record.sequence).collect();
    assert_eq!(sequences, (1..=records.len() as u64).collect::<Vec<_>>());
    assert_eq!(setup.recorder.events.lock().unwrap().len(), records.len());
}

#[tokio::test]
async fn a_sub_workflow_waiting_for_a_person_interrupts_its_parent_until_answered() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(
        folder.path().join("child.yaml"),
        "name: child\nstate: { ok: { type: boolean } }\nentry: ask\nnodes:\n  ask:\n    kind: human\n    ask: Allowed?\n    input_schema: { type: object, properties: { ok: { type: boolean } }, required: [ok] }\n    writes: { ok: '{{ input.ok }}' }\n    next: end\noutput: { ok: '{{ state.ok }}' }\n",
    )
    .unwrap();
    std::fs::write(
        folder.path().join("parent.yaml"),
        "name: parent\nstate: { verdict: { type: boolean } }\nentry: call\nnodes:\n  call: { kind: workflow, path: child.yaml, writes: { verdict: '{{ output.ok }}' }, next: end }\n",
    )
    .unwrap();
    let setup = setup("replies: []\n");
    let parent = Loader::new()
        .load(&folder.path().join("parent.yaml"))
        .unwrap();
    let cancel = CancellationToken::new();
    let mut active = setup
        .runtime
        .start(parent, Value::Null, &cancel)
        .await
        .unwrap();
    assert_eq!(active.status(), RunStatus::Interrupted);
    assert_eq!(active.question().unwrap().question, "Allowed?");
    let error = setup
        .runtime
        .resume(&mut active, json!({"ok": "sure"}), &cancel)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            RuntimeError::Run(weft_workflow::RunError::InvalidAnswer { .. })
        ),
        "{error}"
    );
    assert_eq!(active.status(), RunStatus::Interrupted);
    setup
        .runtime
        .resume(&mut active, json!({"ok": true}), &cancel)
        .await
        .unwrap();
    assert_eq!(active.status(), RunStatus::Finished, "{}", failure(&active));
    assert_eq!(active.state()["verdict"], json!(true));
    let runs = setup.sink.runs();
    assert_eq!(runs.len(), 2, "parent and child each have a log");
    let child = runs.into_iter().find(|run| *run != active.id()).unwrap();
    let child_names: Vec<&str> = setup
        .sink
        .events(child)
        .iter()
        .map(|record| record.event.name())
        .collect();
    assert_eq!(
        child_names,
        [
            "run_started",
            "step_started",
            "interrupted",
            "resumed",
            "state_changed",
            "step_finished",
            "run_finished"
        ]
    );
}

#[tokio::test]
async fn the_memory_store_summarizes_runs_and_keeps_failure_marks() {
    use weft_core::{RunFilter, RunStore};
    let setup = setup("replies: []\n");
    let source = "name: t\nentry: a\nnodes:\n  a: { kind: tool, tool: echo, arguments: { text: hi }, next: end }\n";
    let finished = run(&setup, source, Value::Null).await;
    let summary = setup.sink.run(finished.id()).await.unwrap();
    assert_eq!(
        (summary.status, summary.workflow.as_str(), summary.events),
        (RunStatus::Finished, "t", 6)
    );
    setup
        .sink
        .mark_failed(finished.id(), "its log is unreadable")
        .await
        .unwrap();
    let summary = setup.sink.run(finished.id()).await.unwrap();
    assert_eq!(
        (summary.status, summary.error.as_deref()),
        (RunStatus::Failed, Some("its log is unreadable"))
    );
    let filter = RunFilter {
        status: Some(RunStatus::Failed),
        ..RunFilter::default()
    };
    let failed = RunStore::runs(&*setup.sink, filter).await.unwrap();
    assert_eq!(failed.len(), 1);
}
