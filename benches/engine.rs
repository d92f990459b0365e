//! `engine`: the in-memory cost of running workflows with the scripted model.
//!
//! - `chain3`: three `llm` nodes in a row (3 nodes per run);
//! - `map5_join`: a map over five items with an `llm` branch, then a join node (5 branches +
//!   1 join = 6 nodes per run);
//! - `parallel3_join`: a `parallel` node with three `llm` branches, then the join (the
//!   parallel node + 3 branch nodes + the join = 5 nodes per run);
//! - `chain3_flagged`: `chain3` with every answer judged by a guard whose verdict is always
//!   past its threshold and whose rule flags it (a scripted guard: the cost of the guard
//!   effect, the verdict and the finding, without a guard model's own time), so
//!   `chain3_flagged - chain3` over 3 steps is what a `flag` guard adds to a step;
//! - `machine_chain3`: the same chain through the sans-IO run machine alone, without tokio,
//!   the model or the event sink, to separate decision cost from driver cost.
//!
//! Each iteration runs the workflow ten times; throughput is reported in nodes, so the
//! cost per node is 1 / (elements per second). Run: `cargo bench --bench engine`.

// A benchmark is test code: a broken setup should stop it loudly.
#![allow(clippy::expect_used, clippy::panic)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// The allocator the `weft` binary ships with, so the numbers are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use weft::core::{
    ErrorKind, Event, EventRecord, EventSink, Lease, ModelReply, RunFilter, RunId, RunStore,
    RunSummary, StoreError,
};
use weft::llm::ScriptedModel;
use weft::runtime::{CancellationToken, Models, Runtime};
use weft::workflow::{Command, Loader, RunMachine, Workflow};

const CHAIN: &str = r#"
name: chain
state:
  topic: { type: string, default: "rust" }
  a: { type: string }
  b: { type: string }
  c: { type: string }
entry: first
nodes:
  first:
    kind: llm
    prompt: "First about {{ state.topic }}"
    writes: { a: "{{ reply }}" }
    next: second
  second:
    kind: llm
    prompt: "Second after {{ state.a }}"
    writes: { b: "{{ reply }}" }
    next: third
  third:
    kind: llm
    prompt: "Third after {{ state.b }}"
    writes: { c: "{{ reply }}" }
    next: end
"#;

const MAP: &str = r#"
name: fan
state:
  items: { type: array, default: ["a", "b", "c", "d", "e"] }
  results: { type: array, reducer: append }
  summary: { type: string }
entry: each
nodes:
  each:
    kind: map
    over: state.items
    max_parallel: 5
    branch:
      kind: llm
      prompt: "Item {{ item }}"
    writes: { results: "{{ output }}" }
    next: join
  join:
    kind: llm
    prompt: "Join {{ state.results | length }} results"
    writes: { summary: "{{ reply }}" }
    next: end
"#;

const PARALLEL: &str = r#"
name: parallel
state:
  topic: { type: string, default: "rust" }
  a: { type: string }
  b: { type: string }
  c: { type: string }
  summary: { type: string }
entry: split
nodes:
  split: { kind: parallel, branches: [first, second, third], join: join }
  first: { kind: llm, prompt: "First about {{ state.topic }}", writes: { a: "{{ reply }}" }, next: join }
  second: { kind: llm, prompt: "Second about {{ state.topic }}", writes: { b: "{{ reply }}" }, next: join }
  third: { kind: llm, prompt: "Third about {{ state.topic }}", writes: { c: "{{ reply }}" }, next: join }
  join:
    kind: llm
    prompt: "Join {{ state.a }}, {{ state.b }} and {{ state.c }}"
    writes: { summary: "{{ reply }}" }
    next: end
"#;

/// Every call gets the same reply: the benchmark measures the engine, not the test double.
const REPLIES: &str = r#"
replies:
  - match: ""
    text: "a reply"
"#;

/// Runs per measured iteration, so the harness's own per-iteration cost (entering the
/// executor) is spread over many runs.
const RUNS_PER_ITERATION: u64 = 10;

/// A sink that keeps nothing, so the benchmark measures the engine, not a growing log.
struct DiscardSink;

impl EventSink for DiscardSink {
    fn append<'a>(
        &'a self,
        _run: RunId,
        _records: &'a [EventRecord],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(Ok(())))
    }

    fn append_taken<'a>(
        &'a self,
        run: RunId,
        records: &'a [EventRecord],
        _lease: &'a Lease,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.append(run, records)
    }
}

impl RunStore for DiscardSink {
    fn run(&self, run: RunId) -> BoxFuture<'_, Result<RunSummary, StoreError>> {
        Box::pin(std::future::ready(Err(StoreError::new(
            ErrorKind::NotFound,
            format!("{run} was discarded"),
        ))))
    }
    fn events(
        &self,
        _run: RunId,
        _after: u64,
    ) -> BoxFuture<'_, Result<Vec<EventRecord>, StoreError>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }
    fn runs(&self, _filter: RunFilter) -> BoxFuture<'_, Result<Vec<RunSummary>, StoreError>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }
    fn mark_failed<'a>(
        &'a self,
        _run: RunId,
        _error: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

fn load(source: &str) -> Arc<Workflow> {
    Loader::new()
        .load_source(Path::new("bench.yaml"), source)
        .expect("benchmark workflow is valid")
}

/// A guard that finds every text `unsafe` (0.9), for the `flag` overhead.
const FLAGGER: &str = "default: { scores: { unsafe: 0.9, safe: 0.1 } }";

fn runtime() -> Runtime {
    let model = ScriptedModel::from_yaml(Path::new("replies.yaml"), REPLIES).expect("valid script");
    let flagger = weft::guard::ScriptedGuard::from_yaml(FLAGGER).expect("valid guard script");
    Runtime::builder()
        .models(Arc::new(Models::new().with_default(Arc::new(model))))
        .guards(Arc::new(
            weft::runtime::Guards::new().with_named("flagger", Arc::new(flagger)),
        ))
        .store(Arc::new(DiscardSink))
        .build()
}

fn bench_runtime(criterion: &mut Criterion) {
    let executor = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let runtime = runtime();
    let cancel = CancellationToken::new();
    let mut group = criterion.benchmark_group("engine");
    let flagged = CHAIN.replacen(
        "entry: first",
        "guards:\n  output: { guard: flagger, action: flag }\nentry: first",
        1,
    );
    for (name, source, nodes) in [
        ("chain3", CHAIN, 3u64),
        ("chain3_flagged", flagged.as_str(), 3u64),
        ("map5_join", MAP, 6u64),
        ("parallel3_join", PARALLEL, 5u64),
    ] {
        let workflow = load(source);
        group.throughput(Throughput::Elements(nodes * RUNS_PER_ITERATION));
        group.bench_function(name, |bencher| {
            bencher.to_async(&executor).iter(|| async {
                for _ in 0..RUNS_PER_ITERATION {
                    let run = runtime
                        .start(workflow.clone(), Value::Null, &cancel)
                        .await
                        .expect("run starts");
                    assert_eq!(run.status(), weft::RunStatus::Finished);
                }
            });
        });
    }
    group.finish();
}

/// Drives the machine by hand: every model call is answered at once.
fn run_machine(workflow: &Arc<Workflow>) -> usize {
    let (mut machine, mut decision) =
        RunMachine::start(workflow.clone(), RunId::new(), json!({}), None).expect("starts");
    let mut events = decision.events.len();
    while let Some(command) = decision.commands.pop() {
        let Command::CallModel(call) = command else {
            panic!("the chain only calls models");
        };
        let reply = Event::ModelReplied {
            step: call.step,
            branch: call.branch,
            turn: call.turn,
            reply: ModelReply {
                text: "reply".into(),
                ..ModelReply::default()
            },
            answered_by: None,
            context: None,
        };
        let next = machine.on_event(&reply).expect("machine accepts the reply");
        events += 1 + next.events.len();
        decision.commands.extend(next.commands);
    }
    assert_eq!(machine.status(), weft::RunStatus::Finished);
    events
}

fn bench_machine(criterion: &mut Criterion) {
    let workflow = load(CHAIN);
    let mut group = criterion.benchmark_group("engine");
    group.throughput(Throughput::Elements(3));
    group.bench_function("machine_chain3", |bencher| {
        bencher.iter(|| run_machine(&workflow))
    });
    group.finish();
}

criterion_group!(benches, bench_runtime, bench_machine);
criterion_main!(benches);
