//! The per-layer linear benchmark on the CPU: every route runs, batches keep their rows
//! apart, and quantized routes stay near the f32 product.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use weft_mistralrs::linear_bench::{
    BenchDevice, LinearBenchError, LinearBenchPlan, LinearRoute, Rows, bench_linears,
};

fn tiny_plan(routes: Vec<LinearRoute>) -> LinearBenchPlan {
    LinearBenchPlan {
        device: BenchDevice::Cpu,
        hidden: 64,
        intermediate: 128,
        heads: 4,
        kv_heads: 2,
        layers: 2,
        batches: vec![1, 3],
        prefills: vec![5],
        routes,
        block: Some(16),
        samples: 3,
        iterations: 2,
    }
}

#[test]
fn every_cpu_route_runs_each_linear_and_stays_near_the_f32_product() {
    let routes = vec![
        LinearRoute::Unquantized,
        LinearRoute::Fp8Isq,
        LinearRoute::Fp8IsqFolded,
        LinearRoute::Fp8Blockwise,
        LinearRoute::Q8Zero,
    ];
    let report = bench_linears(&tiny_plan(routes.clone())).unwrap();
    assert_eq!(report.results.len(), routes.len() * 3);
    for result in &report.results {
        let times = result
            .outcome
            .as_ref()
            .unwrap_or_else(|error| panic!("{:?} {}: {error}", result.route, result.rows));
        let names: Vec<&str> = times.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                "q_proj",
                "k_proj",
                "v_proj",
                "o_proj",
                "gate_proj",
                "up_proj",
                "down_proj"
            ]
        );
        assert!(result.layer_time().unwrap() > std::time::Duration::ZERO);
        // Each row checked on its own: a route that mixed up rows would be far off.
        let error = result.worst_row_error.unwrap();
        let limit = match result.route {
            LinearRoute::Unquantized => 0.01,
            LinearRoute::Q8Zero => 0.03,
            _ => 0.12,
        };
        assert!(
            error < limit,
            "{:?} {}: worst row error {error}",
            result.route,
            result.rows
        );
    }
    let bytes = |route| {
        report
            .results
            .iter()
            .find(|result| result.route == route)
            .unwrap()
            .weight_bytes
    };
    // q, o: 64×64; k, v: 32×64; gate, up, down: 64×128.
    let elements = 2 * 64 * 64 + 2 * 32 * 64 + 3 * 64 * 128;
    assert_eq!(bytes(LinearRoute::Unquantized), 2 * elements);
    assert_eq!(bytes(LinearRoute::Fp8Isq), elements);
    assert!(bytes(LinearRoute::Fp8Blockwise) > elements);

    let table = report.to_string();
    assert!(
        table.contains("| fp8-blockwise | decode, batch 3 |"),
        "{table}"
    );
    assert!(table.contains("| q8_0 | prefill 5 |"), "{table}");
}

#[test]
fn the_fp8_gemm_alone_is_refused_on_the_cpu_with_the_reason() {
    let report = bench_linears(&tiny_plan(vec![LinearRoute::Fp8IsqGemm])).unwrap();
    for result in &report.results {
        let error = &result.outcome.as_ref().unwrap_err().message;
        assert!(error.contains("CUDA only"), "{error}");
        // One line, without the backtrace candle attaches when RUST_BACKTRACE is set.
        assert!(!error.contains('\n'), "{error}");
    }
    assert!(report.to_string().contains("failed: timed on CUDA only"));
    assert!(matches!(report.results[0].rows, Rows::Decode(1)));
}

#[test]
fn a_plan_that_cannot_run_says_why() {
    let mut plan = tiny_plan(vec![LinearRoute::Fp8Blockwise]);
    plan.block = Some(48);
    let error = bench_linears(&plan).unwrap_err();
    assert!(matches!(error, LinearBenchError::Plan(_)));
    assert!(error.to_string().contains("block size 48"), "{error}");

    // Without a block size, the largest of 128, 64, 32, 16 that fits (32 here) is used.
    let mut plan = tiny_plan(vec![LinearRoute::Fp8Blockwise]);
    plan.block = None;
    let report = bench_linears(&plan).unwrap();
    assert!(report.results.iter().all(|result| result.outcome.is_ok()));

    let mut plan = tiny_plan(vec![LinearRoute::Unquantized]);
    plan.batches = vec![0];
    let error = bench_linears(&plan).unwrap_err();
    assert!(error.to_string().contains("at least 1"), "{error}");

    let mut plan = tiny_plan(vec![LinearRoute::Unquantized]);
    plan.device = BenchDevice::Cuda(0);
    // Without CUDA (this build or this machine) the device cannot be opened.
    if let Err(error) = bench_linears(&plan) {
        assert!(matches!(error, LinearBenchError::Tensor(_)), "{error}");
    }
}
