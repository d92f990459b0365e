//! A runtime that shuts down (Ctrl-C, a daemon stopping) leaves its runs where a crash would,
//! but cleanly: model calls are dropped at once, tool calls get a grace period and their
//! results are recorded, and the run goes on from its log later.

use super::{scripted, workflow};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use weft_core::{Event, RunStatus, ToolContext};
use weft_runtime::{CancellationToken, MemorySink, Models, Runtime};
use weft_tools::{Registry, Tool, ToolFailure};

/// Arguments of `slow`.
#[derive(serde::Deserialize, schemars::JsonSchema)]
pub(crate) struct SlowArgs {}

/// A tool with an effect (not idempotent) that takes a while; counts its calls.
pub(crate) struct Slow {
    pub(crate) calls: Arc<AtomicU32>,
    pub(crate) takes: Duration,
}

impl Tool for Slow {
    type Args = SlowArgs;
    type Output = u32;
    fn name(&self) -> &str {
        "slow"
    }
    fn description(&self) -> &str {
        "Takes a while."
    }
    async fn call(&self, _args: SlowArgs, _context: ToolContext) -> Result<u32, ToolFailure> {
        tokio::time::sleep(self.takes).await;
        Ok(self.calls.fetch_add(1, Ordering::SeqCst) + 1)
    }
}

const FLOW: &str = "
name: stoppable
state:
  count: { type: integer }
  said: { type: string }
entry: work
nodes:
  work:
    kind: tool
    tool: slow
    arguments: {}
    writes: { count: '{{ output }}' }
    next: talk
  talk:
    kind: llm
    prompt: 'say something'
    writes: { said: '{{ reply }}' }
    next: end
";

const REPLIES: &str = "replies:\n  - text: hello\n    delay: 10s\n";

struct Case {
    sink: Arc<MemorySink>,
    calls: Arc<AtomicU32>,
    takes: Duration,
}

impl Case {
    fn new(takes: Duration) -> Self {
        Self {
            sink: Arc::new(MemorySink::new()),
            calls: Arc::new(AtomicU32::new(0)),
            takes,
        }
    }

    fn runtime(&self, shutdown: CancellationToken) -> Runtime {
        let mut tools = Registry::new();
        tools
            .register(Slow {
                calls: self.calls.clone(),
                takes: self.takes,
            })
            .unwrap();
        Runtime::builder()
            .models(Arc::new(Models::new().with_default(scripted(REPLIES))))
            .tools(Arc::new(tools))
            .store(self.sink.clone())
            .shutdown(shutdown)
            .build()
    }

    /// Starts the run and shuts the runtime down `after` it started; returns the stopped
    /// run's id and how long the stop took after the signal.
    async fn start_and_stop(&self, after: Duration) -> (weft_core::RunId, Duration) {
        let shutdown = CancellationToken::new();
        let runtime = self.runtime(shutdown.clone());
        let signal = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            signal.cancel();
        });
        let started = tokio::time::Instant::now();
        let run = runtime
            .start(workflow(FLOW), json!({}), &CancellationToken::new())
            .await
            .unwrap();
        assert!(run.stopped(), "the shutdown stopped the run");
        assert_eq!(run.status(), RunStatus::Running);
        (run.id(), started.elapsed() - after)
    }

    fn events(&self, run: weft_core::RunId) -> Vec<Event> {
        self.sink
            .events(run)
            .into_iter()
            .map(|record| record.event)
            .collect()
    }

    /// Loads the run again in a runtime that is not shutting down, and drives it on.
    async fn resume(&self, run: weft_core::RunId) -> weft_runtime::ActiveRun {
        let runtime = self.runtime(CancellationToken::new());
        let mut active = runtime.load(workflow(FLOW), run).await.unwrap();
        runtime
            .continue_run(&mut active, &CancellationToken::new())
            .await
            .unwrap();
        active
    }
}

#[tokio::test(start_paused = true)]
async fn a_tool_call_that_ends_within_the_grace_period_is_recorded_and_never_repeated() {
    let case = Case::new(Duration::from_secs(2));
    let (run, stop_took) = case.start_and_stop(Duration::from_millis(50)).await;
    assert!(stop_took < Duration::from_secs(3), "{stop_took:?}");
    let events = case.events(run);
    assert!(
        matches!(events.last(), Some(Event::ToolCallFinished { .. })),
        "the result is the last event; nothing after it was decided: {events:?}"
    );
    assert_eq!(case.calls.load(Ordering::SeqCst), 1);
    let resumed = case.resume(run).await;
    assert_eq!(resumed.status(), RunStatus::Finished);
    assert_eq!(resumed.state()["count"], json!(1));
    assert_eq!(resumed.state()["said"], json!("hello"));
    assert_eq!(
        case.calls.load(Ordering::SeqCst),
        1,
        "the recorded call did not run again"
    );
}

#[tokio::test(start_paused = true)]
async fn a_tool_call_longer_than_the_grace_period_is_dropped_as_a_crash_would_drop_it() {
    let case = Case::new(Duration::from_secs(60));
    let (run, stop_took) = case.start_and_stop(Duration::from_millis(50)).await;
    assert!(
        stop_took >= weft_runtime::SHUTDOWN_GRACE && stop_took < Duration::from_secs(6),
        "{stop_took:?}"
    );
    let events = case.events(run);
    assert!(
        matches!(events.last(), Some(Event::ToolCallStarted { .. })),
        "{events:?}"
    );
    // The tool has an effect and may have done it: a person decides.
    let resumed = case.resume(run).await;
    assert_eq!(resumed.status(), RunStatus::NeedsAttention);
}

#[tokio::test(start_paused = true)]
async fn a_model_call_in_flight_is_dropped_at_once_and_asked_again_later() {
    let case = Case::new(Duration::from_millis(10));
    // The tool is done after 10 ms; the model would answer after 10 s.
    let (run, stop_took) = case.start_and_stop(Duration::from_secs(1)).await;
    assert!(stop_took < Duration::from_millis(100), "{stop_took:?}");
    let events = case.events(run);
    assert!(
        matches!(events.last(), Some(Event::StepStarted { node, .. }) if node == "talk"),
        "{events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|event| matches!(event, Event::ModelReplied { .. })),
        "{events:?}"
    );
    let resumed = case.resume(run).await;
    assert_eq!(resumed.status(), RunStatus::Finished);
    assert_eq!(resumed.state()["said"], json!("hello"));
}
