//! How tool calls run: a timeout per attempt (the node's `tool_timeout` first), retries
//! with backoff for retryable errors, and the runtime's limit of calls at once.

use super::{failure, scripted, workflow};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use weft_core::{
    ErrorKind, RunStatus, ToolBox, ToolCall, ToolContext, ToolError, ToolFuture, ToolPolicy,
    ToolSpec,
};
use weft_runtime::{CancellationToken, Models, Runtime};

/// `work`: sleeps `sleep_ms`, fails retryably `fail_first` times, tracks how many calls run
/// at once.
#[derive(Default)]
struct Work {
    sleep_ms: u64,
    fail_first: usize,
    max_attempts: u32,
    timeout: Option<Duration>,
    calls: AtomicUsize,
    running: AtomicUsize,
    most_running: AtomicUsize,
}

/// `Work` as the runtime's tool box.
struct Tools(Arc<Work>);

impl ToolBox for Tools {
    fn spec(&self, name: &str) -> Option<ToolSpec> {
        (name == "work").then(|| ToolSpec {
            name: "work".into(),
            description: "Works.".into(),
            parameters: json!({"type": "object"}),
        })
    }
    fn names(&self) -> Vec<String> {
        vec!["work".into()]
    }
    fn call(&self, _call: ToolCall, _context: ToolContext) -> ToolFuture {
        let work = self.0.clone();
        Box::pin(async move {
            let number = work.calls.fetch_add(1, Ordering::SeqCst);
            let running = work.running.fetch_add(1, Ordering::SeqCst) + 1;
            work.most_running.fetch_max(running, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(work.sleep_ms)).await;
            work.running.fetch_sub(1, Ordering::SeqCst);
            if number < work.fail_first {
                return Err(ToolError::new(ErrorKind::RetryableUpstream, "busy"));
            }
            Ok(Value::from("done"))
        })
    }
    fn policy(&self, _name: &str) -> ToolPolicy {
        ToolPolicy {
            timeout: self.0.timeout,
            max_attempts: self.0.max_attempts,
        }
    }
}

fn runtime(work: &Arc<Work>, script: &str, slots: usize) -> Runtime {
    Runtime::builder()
        .models(Arc::new(Models::new().with_default(scripted(script))))
        .tools(Arc::new(Tools(work.clone())))
        .concurrent_tool_calls(slots)
        .build()
}

async fn run(runtime: &Runtime, source: &str) -> weft_runtime::ActiveRun {
    runtime
        .start(workflow(source), Value::Null, &CancellationToken::new())
        .await
        .unwrap()
}

const TOOL_NODE: &str = "name: t\nstate: { out: { type: string } }\nentry: a\nnodes:\n  a: { kind: tool, tool: work, writes: { out: '{{ output }}' }, next: end }\n";

#[tokio::test(start_paused = true)]
async fn a_call_longer_than_its_timeout_fails_the_step() {
    let work = Arc::new(Work {
        sleep_ms: 10_000,
        max_attempts: 1,
        timeout: Some(Duration::from_secs(5)),
        ..Work::default()
    });
    let runtime = runtime(&work, "replies: []\n", 4);
    // The node's own timeout wins over the tool's.
    let source = TOOL_NODE.replace("tool: work,", "tool: work, tool_timeout: 50ms,");
    let finished = run(&runtime, &source).await;
    assert_eq!(finished.status(), RunStatus::Failed);
    assert_eq!(finished.failure().unwrap().kind, ErrorKind::Timeout);
    assert!(
        failure(&finished).contains("tool `work` took longer than its timeout of 50ms"),
        "{}",
        failure(&finished)
    );
    // Without the node's, the tool's applies.
    let finished = run(&runtime, TOOL_NODE).await;
    assert!(
        failure(&finished).contains("its timeout of 5s"),
        "{}",
        failure(&finished)
    );
}

#[tokio::test(start_paused = true)]
async fn retryable_failures_are_retried_until_the_attempts_run_out() {
    let work = Arc::new(Work {
        fail_first: 2,
        max_attempts: 3,
        ..Work::default()
    });
    let finished = run(&runtime(&work, "replies: []\n", 4), TOOL_NODE).await;
    assert_eq!(
        finished.status(),
        RunStatus::Finished,
        "{}",
        failure(&finished)
    );
    assert_eq!(finished.state()["out"], json!("done"));
    assert_eq!(work.calls.load(Ordering::SeqCst), 3);

    let work = Arc::new(Work {
        fail_first: 5,
        max_attempts: 2,
        ..Work::default()
    });
    let finished = run(&runtime(&work, "replies: []\n", 4), TOOL_NODE).await;
    assert_eq!(finished.status(), RunStatus::Failed);
    assert!(
        failure(&finished).contains("busy (after 2 attempts)"),
        "{}",
        failure(&finished)
    );
    assert_eq!(work.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn calls_of_one_reply_run_together_up_to_the_runtime_limit() {
    let calls: Vec<String> = (0..10)
        .map(|_| "{ name: work, arguments: {} }".to_owned())
        .collect();
    let script = format!(
        "replies:\n  - match: '^Go'\n    tool_calls: [{}]\n  - match: 'done'\n    text: finished\n",
        calls.join(", ")
    );
    let source =
        "name: t\nentry: a\nnodes:\n  a: { kind: agent, prompt: Go, tools: [work], next: end }\n";
    for (slots, expected) in [(3, 3), (256, 10)] {
        let work = Arc::new(Work {
            sleep_ms: 10,
            max_attempts: 1,
            ..Work::default()
        });
        let finished = run(&runtime(&work, &script, slots), source).await;
        assert_eq!(
            finished.status(),
            RunStatus::Finished,
            "{}",
            failure(&finished)
        );
        assert_eq!(work.calls.load(Ordering::SeqCst), 10);
        assert_eq!(work.most_running.load(Ordering::SeqCst), expected);
    }
}

#[tokio::test(start_paused = true)]
async fn a_call_whose_arguments_are_not_json_is_reported_to_the_model_and_never_run() {
    // The model first writes broken JSON, reads the error, then calls properly.
    let script = r#"replies:
  - match: '^Go'
    tool_calls: [{ name: work, arguments_text: '{"size": 3,' }]
  - match: 'malformed_arguments.*line 1 column 11'
    tool_calls: [{ name: work, arguments: { size: 3 } }]
  - match: '^done'
    text: finished
"#;
    let source =
        "name: t\nentry: a\nnodes:\n  a: { kind: agent, prompt: Go, tools: [work], next: end }\n";
    let work = Arc::new(Work {
        max_attempts: 1,
        ..Work::default()
    });
    let finished = run(&runtime(&work, script, 4), source).await;
    assert_eq!(
        finished.status(),
        RunStatus::Finished,
        "{}",
        failure(&finished)
    );
    assert_eq!(
        work.calls.load(Ordering::SeqCst),
        1,
        "only the good call ran"
    );

    // A model that never writes JSON uses up `max_tool_errors`.
    let script = r#"replies:
  - tool_calls: [{ name: work, arguments_text: 'size=3' }]
  - tool_calls: [{ name: work, arguments_text: 'size=3' }]
"#;
    let source = "name: t\nentry: a\nnodes:\n  a: { kind: agent, prompt: Go, tools: [work], max_tool_errors: 1, next: end }\n";
    let work = Arc::new(Work::default());
    let finished = run(&runtime(&work, script, 4), source).await;
    assert_eq!(finished.status(), RunStatus::Failed);
    assert_eq!(finished.failure().unwrap().kind, ErrorKind::LimitExceeded);
    assert!(
        failure(&finished).contains("malformed_arguments"),
        "{}",
        failure(&finished)
    );
    assert_eq!(work.calls.load(Ordering::SeqCst), 0);
}
