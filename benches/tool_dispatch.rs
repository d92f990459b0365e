//! `tool_dispatch`: the overhead weft adds to a tool call.
//!
//! - `validated_call`: one call of a small typed tool through the registry: the arguments
//!   checked against the tool's JSON Schema, deserialized into its argument type, the tool
//!   run, its output serialized back to JSON. The tool itself does next to nothing, so the
//!   time is weft's.
//! - `invalid_call`: a call whose arguments fail the schema, with the report a model gets.
//!
//! Run: `cargo bench --bench tool_dispatch`.

// A benchmark is test code: a broken setup should stop it loudly.
#![allow(clippy::expect_used, clippy::panic)]

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use weft::core::{RunId, ToolBox, ToolCall, ToolContext};

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
    };
    let valid = ToolCall {
        id: "call_1".into(),
        name: "add".into(),
        arguments: json!({"a": 40, "b": 2}),
    };
    let invalid = ToolCall {
        id: "call_2".into(),
        name: "add".into(),
        arguments: json!({"a": "forty"}),
    };
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

criterion_group!(benches, bench);
criterion_main!(benches);
