//! `tool_dispatch`: the overhead weft adds to a tool call.
//!
//! - `validated_call`: one call of a small typed tool through the registry: the arguments
//!   checked against the tool's JSON Schema, deserialized into its argument type, the tool
//!   run, its output serialized back to JSON. The tool itself does next to nothing, so the
//!   time is weft's.
//! - `invalid_call`: a call whose arguments fail the schema, with the report a model gets.
//! - `hundred_10ms_calls`: an agent step whose model asks for 100 calls of a tool that
//!   takes 10 ms; the time is the whole run's (both model turns and every event
//!   included, on a fresh in-memory store each time), so the wall time of 100 concurrent
//!   calls is at most this.
//! - `hundred_instant_calls`: the same with a tool that returns at once: weft's own cost.
//! - `hundred_10ms_sleeps_alone`: 100 bare 10 ms tokio sleeps, the floor the first one
//!   cannot go below.
//!
//! Run: `cargo bench --bench tool_dispatch`.

// A benchmark is test code: a broken setup should stop it loudly.
#![allow(clippy::expect_used, clippy::panic)]

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use weft::core::{RunId, ToolBox, ToolCall, ToolContext};
use weft::tools::{Registry, Tool, ToolFailure};

/// `nap`'s arguments: none.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct NapArgs {}

/// Takes its time (10 ms, or none), doing nothing.
struct Nap(Duration);

impl Tool for Nap {
    type Args = NapArgs;
    type Output = &'static str;
    fn name(&self) -> &str {
        "nap"
    }
    fn description(&self) -> &str {
        "Waits a little."
    }
    async fn call(
        &self,
        _args: NapArgs,
        _context: ToolContext,
    ) -> Result<&'static str, ToolFailure> {
        if !self.0.is_zero() {
            tokio::time::sleep(self.0).await;
        }
        Ok("rested")
    }
}

/// What an agent step whose model asks for 100 calls of `nap` (taking `nap` each) needs:
/// the models, the tools and the workflow.
struct Step {
    models: Arc<weft::runtime::Models>,
    tools: Arc<Registry>,
    workflow: Arc<weft::Workflow>,
}

impl Step {
    fn new(nap: Duration) -> Self {
        let calls = vec!["{ name: nap, arguments: {} }"; 100].join(", ");
        let script = format!(
            "replies:\n  - match: '^Rest'\n    tool_calls: [{calls}]\n  - match: 'rested'\n    text: done\n"
        );
        let model = weft::llm::ScriptedModel::from_yaml(Path::new("replies.yaml"), &script)
            .expect("valid script");
        let mut tools = Registry::new();
        tools.register(Nap(nap)).expect("registers");
        let workflow = weft::workflow::Loader::new()
            .load_source(
                Path::new("rest.yaml"),
                "name: rest\nentry: a\nnodes:\n  a: { kind: agent, prompt: Rest, tools: [nap], next: end }\n",
            )
            .expect("valid workflow");
        Self {
            models: Arc::new(weft::runtime::Models::new().with_default(Arc::new(model))),
            tools: Arc::new(tools),
            workflow,
        }
    }

    /// A runtime with a fresh in-memory store: what one `weft run` starts with, and no
    /// events of earlier iterations piling up in memory.
    fn runtime(&self) -> weft::runtime::Runtime {
        weft::runtime::Runtime::builder()
            .models(self.models.clone())
            .tools(self.tools.clone())
            .build()
    }
}

fn hundred_calls(criterion: &mut Criterion) {
    let executor = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let cancel = weft::runtime::CancellationToken::new();
    let mut group = criterion.benchmark_group("tool_dispatch");
    group.sample_size(30);
    for (name, nap) in [
        ("hundred_10ms_calls", Duration::from_millis(10)),
        ("hundred_instant_calls", Duration::ZERO),
    ] {
        let step = Step::new(nap);
        group.bench_function(name, |bencher| {
            bencher.to_async(&executor).iter(|| async {
                let run = step
                    .runtime()
                    .start(step.workflow.clone(), json!(null), &cancel)
                    .await
                    .expect("run starts");
                assert_eq!(run.status(), weft::RunStatus::Finished);
            });
        });
    }
    // The floor: 100 bare 10 ms sleeps on the same executor, without weft (tokio's timer
    // has a resolution of 1 ms).
    group.bench_function("hundred_10ms_sleeps_alone", |bencher| {
        bencher.to_async(&executor).iter(|| async {
            futures::future::join_all(
                (0..100).map(|_| tokio::time::sleep(Duration::from_millis(10))),
            )
            .await;
        });
    });
    group.finish();
}

/// The allocator the `weft` binary ships with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench(criterion: &mut Criterion) {
    let registry = weft::tools::builtin::registry(
        &weft::tools::builtin::Workspace::new(std::path::Path::new(".")).expect("workspace"),
    );
    let context = ToolContext {
        run: RunId::new(),
        idempotency_key: "run/1/-/0/0".into(),
        session: None,
    };
    let valid = ToolCall::new("call_1", "add", json!({"a": 40, "b": 2}));
    let invalid = ToolCall::new("call_2", "add", json!({"a": "forty"}));
    let mut group = criterion.benchmark_group("tool_dispatch");
    group.bench_function("validated_call", |bencher| {
        bencher.iter(|| {
            let output = futures::executor::block_on(registry.call(valid.clone(), context.clone()))
                .expect("the call succeeds");
            assert_eq!(output, json!(42));
        });
    });
    group.bench_function("invalid_call", |bencher| {
        bencher.iter(|| {
            let error =
                futures::executor::block_on(registry.call(invalid.clone(), context.clone()))
                    .expect_err("the call is refused");
            assert!(error.message.contains("invalid_arguments"));
        });
    });
    group.finish();
}

criterion_group!(benches, bench, hundred_calls);
criterion_main!(benches);
