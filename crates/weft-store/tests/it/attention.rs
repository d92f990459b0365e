//! A tool call that a crash interrupted: replayed when finished, run again when its tool is
//! idempotent, otherwise held for a person (`needs_attention`) until retried or failed.

use serde_json::{Value, json};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use weft_core::{
    ErrorKind, RunStatus, RunStore, ToolBox, ToolCall, ToolContext, ToolError, ToolFuture, ToolSpec,
};
use weft_runtime::{CancellationToken, Runtime};
use weft_store::SqliteStore;

const CHARGE: &str = "
name: charge
state:
  receipt: { type: string }
entry: pay
nodes:
  pay: { kind: tool, tool: charge, arguments: { amount: 5 }, writes: { receipt: '{{ output }}' }, next: end }
";

/// `charge`: counts its calls and records their keys; while `hang` is set, a call never
/// returns (the process "dies" during it).
struct Charge {
    idempotent: bool,
    hang: bool,
    calls: AtomicUsize,
    keys: Mutex<Vec<String>>,
    started: tokio::sync::Notify,
}

impl Charge {
    fn new(idempotent: bool, hang: bool) -> Arc<Self> {
        Arc::new(Self {
            idempotent,
            hang,
            calls: AtomicUsize::new(0),
            keys: Mutex::new(Vec::new()),
            started: tokio::sync::Notify::new(),
        })
    }
}

impl ToolBox for Charge {
    fn spec(&self, name: &str) -> Option<ToolSpec> {
        (name == "charge").then(|| ToolSpec {
            name: "charge".into(),
            description: "Charges a card.".into(),
            parameters: json!({"type": "object"}),
        })
    }
    fn names(&self) -> Vec<String> {
        vec!["charge".into()]
    }
    fn call(&self, _call: ToolCall, context: ToolContext) -> ToolFuture {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.keys
            .lock()
            .unwrap()
            .push(context.idempotency_key.clone());
        self.started.notify_one();
        if self.hang {
            Box::pin(std::future::pending())
        } else {
            Box::pin(std::future::ready(Ok::<Value, ToolError>(json!(format!(
                "receipt for {}",
                context.idempotency_key
            )))))
        }
    }
    fn is_idempotent(&self, _name: &str) -> bool {
        self.idempotent
    }
}

struct Setup {
    _folder: tempfile::TempDir,
    path: std::path::PathBuf,
    workflow: Arc<weft_workflow::Workflow>,
}

fn setup() -> Setup {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("weft.db");
    let workflow = weft_workflow::Loader::with_tools(["charge".to_owned()])
        .load_source(Path::new("charge.yaml"), CHARGE)
        .unwrap();
    Setup {
        _folder: folder,
        path,
        workflow,
    }
}

/// Starts the run and stops the "process" while `charge` runs: the call's start is in the
/// log, its end is not.
async fn crash_during_the_call(setup: &Setup, idempotent: bool) -> weft_core::RunId {
    let store = Arc::new(SqliteStore::open(&setup.path).await.unwrap());
    let tools = Charge::new(idempotent, true);
    let runtime = Runtime::builder()
        .store(store.clone())
        .tools(tools.clone())
        .build();
    let cancel = CancellationToken::new();
    tokio::select! {
        _ = runtime.start(setup.workflow.clone(), json!({}), &cancel) => panic!("the call hangs"),
        () = tools.started.notified() => {}
    }
    assert_eq!(tools.calls.load(Ordering::SeqCst), 1);
    let runs = store.runs(weft_core::RunFilter::default()).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Running);
    runs[0].id
}

async fn restarted(setup: &Setup, idempotent: bool) -> (Arc<SqliteStore>, Arc<Charge>, Runtime) {
    let store = Arc::new(SqliteStore::open(&setup.path).await.unwrap());
    let tools = Charge::new(idempotent, false);
    let runtime = Runtime::builder()
        .store(store.clone())
        .tools(tools.clone())
        .build();
    (store, tools, runtime)
}

#[tokio::test]
async fn an_unfinished_call_to_an_idempotent_tool_runs_again_with_the_same_key() {
    let setup = setup();
    let run_id = crash_during_the_call(&setup, true).await;
    let (store, tools, runtime) = restarted(&setup, true).await;
    let mut run = runtime.load(setup.workflow.clone(), run_id).await.unwrap();
    runtime
        .continue_run(&mut run, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(run.status(), RunStatus::Finished);
    assert_eq!(tools.calls.load(Ordering::SeqCst), 1);
    let key = format!("{run_id}/1/-/0/0");
    assert_eq!(*tools.keys.lock().unwrap(), std::slice::from_ref(&key));
    assert_eq!(run.state()["receipt"], json!(format!("receipt for {key}")));
    assert_eq!(store.run(run_id).await.unwrap().status, RunStatus::Finished);
}

#[tokio::test]
async fn an_unfinished_call_to_another_tool_waits_for_a_person_then_retries() {
    let setup = setup();
    let run_id = crash_during_the_call(&setup, false).await;
    let (store, tools, runtime) = restarted(&setup, false).await;
    let cancel = CancellationToken::new();
    let mut run = runtime.load(setup.workflow.clone(), run_id).await.unwrap();
    runtime.continue_run(&mut run, &cancel).await.unwrap();
    assert_eq!(run.status(), RunStatus::NeedsAttention);
    assert_eq!(tools.calls.load(Ordering::SeqCst), 0, "not run again");
    let summary = store.run(run_id).await.unwrap();
    assert_eq!(summary.status, RunStatus::NeedsAttention);
    let error = summary.error.unwrap();
    assert!(
        error.contains("tool `charge`") && error.contains(&format!("{run_id}/1/-/0/0")),
        "{error}"
    );
    let attention = run.attention().unwrap();
    assert_eq!(attention.calls.len(), 1);
    assert_eq!(attention.calls[0].tool, "charge");

    // Resuming without a decision changes nothing.
    let mut again = runtime.load(setup.workflow.clone(), run_id).await.unwrap();
    assert_eq!(again.status(), RunStatus::NeedsAttention);
    runtime.continue_run(&mut again, &cancel).await.unwrap();
    assert_eq!(tools.calls.load(Ordering::SeqCst), 0);
    let events_before = store.events(run_id, 0).await.unwrap().len();

    runtime.retry(&mut again, &cancel).await.unwrap();
    assert_eq!(again.status(), RunStatus::Finished);
    assert_eq!(tools.calls.load(Ordering::SeqCst), 1);
    let events = store.events(run_id, 0).await.unwrap();
    let names: Vec<&str> = events[events_before..]
        .iter()
        .map(|record| record.event.name())
        .collect();
    assert_eq!(
        names[..3],
        ["retried", "tool_call_started", "tool_call_finished"]
    );
    assert_eq!(store.run(run_id).await.unwrap().status, RunStatus::Finished);
}

#[tokio::test]
async fn a_crash_during_a_retry_needs_attention_again() {
    let setup = setup();
    let run_id = crash_during_the_call(&setup, false).await;
    let (_, _, runtime) = restarted(&setup, false).await;
    let cancel = CancellationToken::new();
    let mut run = runtime.load(setup.workflow.clone(), run_id).await.unwrap();
    runtime.continue_run(&mut run, &cancel).await.unwrap();
    // The retry itself is interrupted.
    {
        let store = Arc::new(SqliteStore::open(&setup.path).await.unwrap());
        let tools = Charge::new(false, true);
        let runtime = Runtime::builder().store(store).tools(tools.clone()).build();
        let mut run = runtime.load(setup.workflow.clone(), run_id).await.unwrap();
        tokio::select! {
            result = runtime.retry(&mut run, &cancel) => panic!("the call hangs: {result:?}"),
            () = tools.started.notified() => {}
        }
    }
    let (store, tools, runtime) = restarted(&setup, false).await;
    let mut run = runtime.load(setup.workflow.clone(), run_id).await.unwrap();
    runtime.continue_run(&mut run, &cancel).await.unwrap();
    assert_eq!(run.status(), RunStatus::NeedsAttention);
    assert_eq!(tools.calls.load(Ordering::SeqCst), 0);
    runtime.fail(&mut run, "charged by hand").await.unwrap();
    let summary = store.run(run_id).await.unwrap();
    assert_eq!(summary.status, RunStatus::Failed);
    assert_eq!(summary.error.as_deref(), Some("charged by hand"));
    assert_eq!(run.failure().unwrap().kind, ErrorKind::Cancelled);
}
