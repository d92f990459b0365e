//! How fast one decoder layer's linear projections run in each weight format mistralrs
//! offers, on the CPU or a CUDA GPU: the profile behind choosing an FP8 route.
//!
//! `weft bench model` says how fast a whole model is; this says where the time of the
//! linears goes. Each route holds the same random weights of the seven linears of one Llama
//! decoder layer (q, k, v, o, gate, up, down) in its own format, multiplies activations
//! shaped the way the model passes them (`[batch, 1, hidden]` while decoding,
//! `[1, tokens, hidden]` while prefilling), and is timed and checked against an f32 product,
//! row by row: a route that mixes up the rows of a batch shows as a large worst-row error.
//! Two routes take FP8 ISQ apart: its GEMM alone (activations handed over already in FP8),
//! and the whole layer with the batch folded into one sequence.

use candle_core::{DType, Device, Tensor};
use layer::build_layer;
use mistralrs_quant::QuantMethod;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod layer;
mod report;
mod route;

pub use report::{LinearReport, RouteResult, Rows};
use route::message;
pub use route::{LinearRoute, RouteFailure};

/// Where the layers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchDevice {
    /// The CPU (f16 activations).
    Cpu,
    /// A CUDA GPU by ordinal (bf16 activations); needs a build with the `cuda` feature.
    Cuda(usize),
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct LinearBenchPlan {
    /// Where to run.
    pub device: BenchDevice,
    /// Hidden size.
    pub hidden: usize,
    /// Feed-forward size.
    pub intermediate: usize,
    /// Attention heads.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// Decoder layers, to project one layer's time onto a whole model.
    pub layers: usize,
    /// Decode batch sizes (`[batch, 1, hidden]`).
    pub batches: Vec<usize>,
    /// Prefill lengths (`[1, tokens, hidden]`).
    pub prefills: Vec<usize>,
    /// The routes to measure.
    pub routes: Vec<LinearRoute>,
    /// The side of the square scale blocks of `fp8-blockwise`; by default 128, or the
    /// largest of 64, 32 and 16 that divides every linear's sides.
    pub block: Option<usize>,
    /// Timed samples per measurement (the median is reported).
    pub samples: usize,
    /// Calls per sample.
    pub iterations: usize,
}

/// A measurement that could not be made at all.
#[derive(Debug, thiserror::Error)]
pub enum LinearBenchError {
    /// The plan does not make sense.
    #[error("{0}")]
    Plan(String),
    /// The device or a tensor operation failed outside any one route.
    #[error("{0}")]
    Tensor(String),
}

fn tensor_error(error: candle_core::Error) -> LinearBenchError {
    LinearBenchError::Tensor(message(&error))
}

struct LinearShape {
    name: &'static str,
    out_features: usize,
    in_features: usize,
}

fn layer_linears(plan: &LinearBenchPlan) -> Vec<LinearShape> {
    let head = plan.hidden / plan.heads.max(1);
    let key_value = head * plan.kv_heads;
    let shape = |name, out_features, in_features| LinearShape {
        name,
        out_features,
        in_features,
    };
    vec![
        shape("q_proj", plan.hidden, plan.hidden),
        shape("k_proj", key_value, plan.hidden),
        shape("v_proj", key_value, plan.hidden),
        shape("o_proj", plan.hidden, plan.hidden),
        shape("gate_proj", plan.intermediate, plan.hidden),
        shape("up_proj", plan.intermediate, plan.hidden),
        shape("down_proj", plan.hidden, plan.intermediate),
    ]
}

/// Runs the plan.
pub fn bench_linears(plan: &LinearBenchPlan) -> Result<LinearReport, LinearBenchError> {
    let block = check_plan(plan)?;
    let target = open_target(plan.device)?;
    let all_rows = rows_to_measure(plan);
    let mut results = empty_results(&plan.routes, &all_rows);
    for linear in layer_linears(plan) {
        let operands = random_operands(&linear, &all_rows, &target.device)?;
        for result in &mut results {
            result.weight_bytes +=
                result
                    .route
                    .weight_bytes(linear.out_features, linear.in_features, block);
        }
        // `results` holds each route's shapes in a row, in the order of `all_rows`.
        for (route, route_results) in plan.routes.iter().zip(results.chunks_mut(all_rows.len())) {
            measure_route(
                *route,
                linear.name,
                &operands,
                route_results,
                &target,
                block,
                plan,
            );
        }
    }
    Ok(LinearReport {
        device: target.label,
        dtype: target.dtype,
        layers: plan.layers,
        results,
    })
}

/// Builds `route`'s layer from one linear's weight and times it on every input, adding
/// each measurement to `route_results` (one per input, in the same order). A layer that
/// cannot be built fails the route on every shape; a shape the route already failed on
/// (with an earlier linear) is not measured again.
fn measure_route(
    route: LinearRoute,
    linear_name: &'static str,
    operands: &Operands,
    route_results: &mut [RouteResult],
    target: &Target,
    block: usize,
    plan: &LinearBenchPlan,
) {
    let layer =
        guarded(|| build_layer(route, &operands.weight, &target.device, target.dtype, block));
    for (result, input) in route_results.iter_mut().zip(&operands.inputs) {
        if result.outcome.is_err() {
            continue;
        }
        let measured = layer.as_ref().map_err(Clone::clone).and_then(|layer| {
            guarded(|| {
                measure(
                    route,
                    layer,
                    input,
                    &operands.reference,
                    &target.device,
                    target.dtype,
                    plan,
                )
                .map_err(|error| RouteFailure::from(&error))
            })
        });
        record(result, linear_name, measured);
    }
}

/// The device the layers run on, with the activation type used there and its name in the
/// report.
struct Target {
    device: Device,
    dtype: DType,
    label: String,
}

/// Opens `device`: f16 activations on the CPU, bf16 on a CUDA GPU.
fn open_target(device: BenchDevice) -> Result<Target, LinearBenchError> {
    Ok(match device {
        BenchDevice::Cpu => Target {
            device: Device::Cpu,
            dtype: DType::F16,
            label: "cpu".to_owned(),
        },
        BenchDevice::Cuda(ordinal) => Target {
            device: Device::new_cuda(ordinal).map_err(tensor_error)?,
            dtype: DType::BF16,
            label: format!("cuda:{ordinal}"),
        },
    })
}

/// Every shape of activations the plan measures: the decode batches, then the prefills.
fn rows_to_measure(plan: &LinearBenchPlan) -> Vec<Rows> {
    plan.batches
        .iter()
        .map(|batch| Rows::Decode(*batch))
        .chain(plan.prefills.iter().map(|tokens| Rows::Prefill(*tokens)))
        .collect()
}

/// One result per route and shape of activations, each route's in a row, before anything
/// is measured.
fn empty_results(routes: &[LinearRoute], all_rows: &[Rows]) -> Vec<RouteResult> {
    let mut results = Vec::new();
    for route in routes {
        for rows in all_rows {
            results.push(RouteResult {
                route: *route,
                rows: *rows,
                outcome: Ok(Vec::new()),
                worst_row_error: None,
                weight_bytes: 0,
            });
        }
    }
    results
}

/// What every route of one linear multiplies: the same random weights and activations.
struct Operands {
    /// The weight in f32 on the CPU, which each route converts to its own format.
    weight: Tensor,
    /// The same weight on the device, for the f32 product routes are checked against.
    reference: Tensor,
    /// One input per shape of activations, on the device, in the order of the rows.
    inputs: Vec<Tensor>,
}

/// Draws one linear's weight (scaled by `1/√in`, as trained weights are), then one input
/// per shape in `all_rows`.
fn random_operands(
    linear: &LinearShape,
    all_rows: &[Rows],
    device: &Device,
) -> Result<Operands, LinearBenchError> {
    let weight = Tensor::randn(
        0f32,
        (1.0 / linear.in_features as f64).sqrt() as f32,
        (linear.out_features, linear.in_features),
        &Device::Cpu,
    )
    .map_err(tensor_error)?;
    let reference = weight.to_device(device).map_err(tensor_error)?;
    let inputs = all_rows
        .iter()
        .map(|rows| {
            let (batch, length) = rows.dims();
            Tensor::randn(
                0f32,
                1f32,
                (batch, length, linear.in_features),
                &Device::Cpu,
            )
            .and_then(|input| input.to_device(device))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(tensor_error)?;
    Ok(Operands {
        weight,
        reference,
        inputs,
    })
}

/// Adds one linear's measurement to a route's result: its time and worst row error, or
/// the failure that ends the route at this shape.
fn record(
    result: &mut RouteResult,
    linear_name: &'static str,
    measured: Result<(Duration, Option<f64>), RouteFailure>,
) {
    let Ok(times) = &mut result.outcome else {
        return;
    };
    match measured {
        Ok((time, error)) => {
            times.push((linear_name, time));
            if let Some(error) = error {
                let worst = result.worst_row_error.get_or_insert(0.0);
                *worst = worst.max(error);
            }
        }
        Err(message) => result.outcome = Err(message),
    }
}

/// Runs one route's work, turning a panic inside mistralrs into that route's failure, so
/// one broken route does not cost the measurements of the others.
fn guarded<T>(work: impl FnOnce() -> Result<T, RouteFailure>) -> Result<T, RouteFailure> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| {
                payload
                    .downcast_ref::<&str>()
                    .map(|text| (*text).to_owned())
            })
            .unwrap_or_else(|| "no message".to_owned());
        Err(RouteFailure {
            message: format!("panicked in mistralrs: {message}"),
        })
    })
}

/// Checks the plan; gives the side of the FP8 scale blocks to use.
fn check_plan(plan: &LinearBenchPlan) -> Result<usize, LinearBenchError> {
    let divides_every_linear = |block: usize| {
        block > 0
            && layer_linears(plan).iter().all(|linear| {
                linear.out_features.is_multiple_of(block)
                    && linear.in_features.is_multiple_of(block)
            })
    };
    let block = plan.block.unwrap_or_else(|| {
        [128, 64, 32, 16]
            .into_iter()
            .find(|block| divides_every_linear(*block))
            .unwrap_or(128)
    });
    let problem =
        if plan.heads == 0 || plan.kv_heads == 0 || !plan.hidden.is_multiple_of(plan.heads) {
            Some("the hidden size must be a multiple of the number of heads".to_owned())
        } else if plan.routes.is_empty() || plan.batches.len() + plan.prefills.len() == 0 {
            Some("nothing to measure: give at least one route and one batch or prefill".to_owned())
        } else if plan.batches.contains(&0) || plan.prefills.contains(&0) {
            Some("batch sizes and prefill lengths must be at least 1".to_owned())
        } else if plan.samples == 0 || plan.iterations == 0 {
            Some("samples and iterations must be at least 1".to_owned())
        } else if plan.routes.contains(&LinearRoute::Fp8Blockwise) && !divides_every_linear(block) {
            Some(format!(
                "the FP8 block size {block} must divide every linear's sides"
            ))
        } else {
            None
        };
    problem.map_or(Ok(block), |message| Err(LinearBenchError::Plan(message)))
}

/// The median time of one call and the worst row error.
fn measure(
    route: LinearRoute,
    layer: &Arc<dyn QuantMethod>,
    input: &Tensor,
    reference_weight: &Tensor,
    device: &Device,
    dtype: DType,
    plan: &LinearBenchPlan,
) -> candle_core::Result<(Duration, Option<f64>)> {
    let (batch, length, in_features) = input.dims3()?;
    let activations = match route {
        // Handed over in FP8 with a scale of one (the values are far inside its range), the
        // rows folded into one sequence as the GEMM takes them.
        LinearRoute::Fp8IsqGemm => input
            .to_device(&Device::Cpu)?
            .to_dtype(DType::F8E4M3)?
            .reshape((1, batch * length, in_features))?
            .to_device(device)?,
        LinearRoute::Fp8IsqFolded => {
            input
                .to_dtype(dtype)?
                .reshape((1, batch * length, in_features))?
        }
        _ => input.to_dtype(dtype)?,
    };
    let call = || layer.forward_autocast(&activations);
    let output = call()?;
    device.synchronize()?;
    let mut samples = Vec::with_capacity(plan.samples);
    for _ in 0..plan.samples {
        let started = Instant::now();
        for _ in 0..plan.iterations {
            drop(call()?);
        }
        device.synchronize()?;
        samples.push(started.elapsed() / plan.iterations as u32);
    }
    samples.sort();
    let median = samples
        .get(samples.len() / 2)
        .copied()
        .unwrap_or(Duration::ZERO);
    if route == LinearRoute::Fp8IsqGemm {
        return Ok((median, None));
    }
    let expected = input.broadcast_matmul(&reference_weight.t()?)?;
    let error = worst_row_error(&output.reshape(expected.shape())?, &expected)?;
    Ok((median, Some(error)))
}

/// The largest `|row − expected row| / |expected row|` over all rows.
fn worst_row_error(output: &Tensor, expected: &Tensor) -> candle_core::Result<f64> {
    let columns = expected.dims().last().copied().unwrap_or(1);
    let expected = expected.to_dtype(DType::F32)?.reshape(((), columns))?;
    let output = output.to_dtype(DType::F32)?.reshape(((), columns))?;
    let difference = (&output - &expected)?.sqr()?.sum_keepdim(1)?.sqrt()?;
    let size = expected.sqr()?.sum_keepdim(1)?.sqrt()?.maximum(1e-30)?;
    let worst = (difference / size)?
        .max_keepdim(0)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    Ok(worst.first().copied().map_or(f64::NAN, f64::from))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_batch_with_its_rows_mixed_up_has_a_large_worst_row_error() {
        let expected = Tensor::new(&[[1f32, 0.0], [0.0, 2.0], [3.0, 3.0]], &Device::Cpu).unwrap();
        let close = Tensor::new(&[[1.01f32, 0.0], [0.0, 2.0], [3.0, 3.0]], &Device::Cpu).unwrap();
        let swapped = Tensor::new(&[[0f32, 2.0], [1.0, 0.0], [3.0, 3.0]], &Device::Cpu).unwrap();
        let small = worst_row_error(&close, &expected).unwrap();
        assert!((small - 0.01).abs() < 1e-4, "{small}");
        let large = worst_row_error(&swapped, &expected).unwrap();
        assert!(large > 1.0, "{large}");
    }
}
