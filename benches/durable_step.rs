//! `durable_step`: what a step costs when its events are committed to SQLite.
//!
//! An `llm` node in a loop of 20 steps with the scripted model; each step's events (model
//! replied, state changed, step finished, next step started) are appended in one
//! `BEGIN IMMEDIATE` transaction to a WAL database with `synchronous=NORMAL`. Throughput is
//! in steps, so the time per element is the cost of one durable step, engine included.
//! `memory_router_chain` runs the same workflow with the log kept in memory, which shows
//! the engine's share. Last, `session_bytes` prints what open chat sessions of 100, 250 and
//! 500 turns store against their raw transcripts (growth should be linear, at most 1.5x).
//! Run: `cargo bench --bench durable_step`.

// A benchmark is test code: a broken setup should stop it loudly.
#![allow(clippy::expect_used, clippy::panic)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use weft::runtime::{CancellationToken, Runtime};
use weft::store::SqliteStore;
use weft::workflow::Loader;

/// The allocator the `weft` binary ships with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "support/session.rs"]
mod session;

const STEPS: u64 = 20;

const COUNTER: &str = r#"
name: counter
state:
  count: { type: integer, reducer: add }
  note: { type: string }
entry: think
nodes:
  think:
    kind: llm
    prompt: "Step {{ state.count }}"
    writes: { count: 1, note: "{{ reply }}" }
    next:
      - when: "state.count < 20"
        to: think
      - to: end
"#;

const REPLIES: &str = "replies:\n  - match: ''\n    text: a reply of a few words\n";

fn bench(criterion: &mut Criterion) {
    // The runtime the `weft` binary runs on.
    let executor = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let folder = tempfile::tempdir().expect("temporary folder");
    let store = executor
        .block_on(SqliteStore::open(&folder.path().join("bench.db")))
        .expect("store opens");
    let model = weft::llm::ScriptedModel::from_yaml(Path::new("replies.yaml"), REPLIES)
        .expect("valid script");
    let models = Arc::new(weft::runtime::Models::new().with_default(Arc::new(model)));
    let runtime = Runtime::builder()
        .store(Arc::new(store))
        .models(models.clone())
        .build();
    let in_memory = Runtime::builder()
        .store(Arc::new(weft::runtime::MemorySink::new()))
        .models(models)
        .build();
    let workflow = Loader::new()
        .load_source(Path::new("counter.yaml"), COUNTER)
        .expect("valid workflow");
    let cancel = CancellationToken::new();
    let mut group = criterion.benchmark_group("durable_step");
    group.throughput(Throughput::Elements(STEPS));
    group.sample_size(30);
    group.bench_function("sqlite_router_chain", |bencher| {
        bencher.to_async(&executor).iter(|| async {
            let run = runtime
                .start(workflow.clone(), json!({}), &cancel)
                .await
                .expect("run starts");
            assert_eq!(run.status(), weft::RunStatus::Finished);
        });
    });
    // The same run with its log kept in memory: the engine's share of a durable step.
    group.bench_function("memory_router_chain", |bencher| {
        bencher.to_async(&executor).iter(|| async {
            let run = in_memory
                .start(workflow.clone(), json!({}), &cancel)
                .await
                .expect("run starts");
            assert_eq!(run.status(), weft::RunStatus::Finished);
        });
    });
    group.finish();

    // Bytes, not time: what sessions of growing length store, against their transcripts.
    for turns in [100, 250, 500] {
        let measured = executor.block_on(session::measure(turns));
        println!(
            "durable_step/session_bytes/{turns}_turns: stored {} bytes (event log {}, latest snapshot {}) for a {} byte transcript: {:.2}x, {} bytes per turn",
            measured.stored,
            measured.log,
            measured.snapshot,
            measured.transcript,
            measured.stored as f64 / measured.transcript as f64,
            measured.stored / measured.turns as u64,
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
