//! `weft dev`: tools for developing weft and testing without downloads.

use super::{exit, fail};
use std::path::PathBuf;
use std::process::ExitCode;
use weft_fixtures::{Shape, Weights, write_model_with};

/// `weft dev ...`
#[derive(Debug, clap::Subcommand)]
pub enum DevCommand {
    /// Write a random-weight model with the Llama-3.1 architecture (LlamaForCausalLM, llama3
    /// RoPE scaling, the Llama-3.1 special tokens) into DIR, for tests and benchmarks.
    TinyLlama {
        /// The folder to write (created if needed).
        dir: PathBuf,
        /// `tiny` (2 layers, hidden size 64) or `8b` (Llama-3.1-8B's shape, about 15 GiB).
        #[arg(long, default_value = "tiny")]
        shape: String,
        /// The seed of the random weights.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Decoder layers, instead of the shape's.
        #[arg(long)]
        layers: Option<usize>,
        /// Write a prequantized FP8 checkpoint: E4M3 linear weights with one scale per
        /// square block of this size (128 for the 8b shape; it must divide the hidden size).
        #[arg(long, value_name = "BLOCK")]
        fp8_blocks: Option<usize>,
    },
    /// Time the seven linears of one decoder layer in each weight format mistralrs offers
    /// (unquantized, FP8 ISQ and its GEMM alone, a block-scaled FP8 checkpoint, Q8_0), at
    /// decode batch sizes and prefill lengths, with each route's worst row error against an
    /// f32 product: where a quantized model's time goes. Needs the `mistralrs` feature (and
    /// `cuda` for `--device 0`).
    BenchLinear {
        /// `tiny` or `8b` (Llama-3.1-8B's linears).
        #[arg(long, default_value = "8b")]
        shape: String,
        #[command(flatten)]
        options: LinearOptions,
    },
}

/// Runs a `weft dev` command.
pub fn dev(command: DevCommand) -> ExitCode {
    match command {
        DevCommand::TinyLlama {
            dir,
            shape,
            seed,
            layers,
            fp8_blocks,
        } => {
            let mut chosen = match shape_named(&shape) {
                Ok(chosen) => chosen,
                Err(code) => return code,
            };
            if let Some(layers) = layers {
                chosen.layers = layers.max(1);
            }
            let weights = fp8_blocks.map_or(Weights::Bf16, Weights::Fp8Blocks);
            match write_model_with(&dir, chosen, seed, weights) {
                Ok(bytes) => {
                    say!(
                        "wrote a random-weight Llama-3.1-architecture model to {} ({:.1} MiB of weights); run it with --model mistralrs:{}",
                        dir.display(),
                        bytes as f64 / (1024.0 * 1024.0),
                        dir.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(error) => fail(exit::FAILED, error),
            }
        }
        DevCommand::BenchLinear { shape, options } => match shape_named(&shape) {
            Ok(shape) => bench_linear(shape, options),
            Err(code) => code,
        },
    }
}

/// The shape of that name, or the failure that lists the shapes.
fn shape_named(name: &str) -> Result<Shape, ExitCode> {
    Shape::by_name(name).ok_or_else(|| {
        fail(
            exit::INVALID,
            format!("unknown shape `{name}`; the shapes are tiny and 8b"),
        )
    })
}

/// `weft dev bench-linear`'s options past the shape.
#[derive(Debug, clap::Args)]
#[cfg_attr(not(feature = "mistralrs"), allow(dead_code))]
pub struct LinearOptions {
    /// `cpu`, or the ordinal of a CUDA GPU.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Decode batch sizes (activations `[batch, 1, hidden]`).
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    batch: Vec<usize>,
    /// Prefill lengths (activations `[1, tokens, hidden]`); 0 for none.
    #[arg(long, value_delimiter = ',', default_value = "512")]
    prefill: Vec<usize>,
    /// Routes, of: unquantized, fp8-isq, fp8-isq-gemm, fp8-isq-folded, fp8-blockwise,
    /// q8_0. All by default (fp8-isq-gemm only on CUDA).
    #[arg(long, value_delimiter = ',')]
    routes: Vec<String>,
    /// The side of fp8-blockwise's scale blocks (default: 128, or the largest of 64, 32,
    /// 16 that divides every linear).
    #[arg(long)]
    block: Option<usize>,
    /// Timed samples per measurement (the median is reported).
    #[arg(long, default_value_t = 7)]
    samples: usize,
    /// Calls per sample.
    #[arg(long, default_value_t = 20)]
    iterations: usize,
}

#[cfg(feature = "mistralrs")]
fn bench_linear(shape: Shape, options: LinearOptions) -> ExitCode {
    use weft_mistralrs::linear_bench::{
        BenchDevice, LinearBenchError, LinearBenchPlan, LinearRoute, bench_linears,
    };
    let device = match options.device.as_str() {
        "cpu" => BenchDevice::Cpu,
        ordinal => match ordinal.parse() {
            Ok(ordinal) => BenchDevice::Cuda(ordinal),
            Err(_) => {
                return fail(
                    exit::INVALID,
                    format!("--device `{ordinal}`: give `cpu` or a GPU's ordinal such as 0"),
                );
            }
        },
    };
    let mut routes = Vec::new();
    for name in &options.routes {
        match LinearRoute::parse(name) {
            Some(route) => routes.push(route),
            None => {
                let known: Vec<&str> = LinearRoute::ALL.iter().map(|route| route.name()).collect();
                return fail(
                    exit::INVALID,
                    format!(
                        "unknown route `{name}`; the routes are {}",
                        known.join(", ")
                    ),
                );
            }
        }
    }
    if routes.is_empty() {
        routes = LinearRoute::ALL
            .into_iter()
            .filter(|route| device != BenchDevice::Cpu || *route != LinearRoute::Fp8IsqGemm)
            .collect();
    }
    let plan = LinearBenchPlan {
        device,
        hidden: shape.hidden,
        intermediate: shape.intermediate,
        heads: shape.heads,
        kv_heads: shape.kv_heads,
        layers: shape.layers,
        batches: options
            .batch
            .into_iter()
            .filter(|batch| *batch > 0)
            .collect(),
        prefills: options
            .prefill
            .into_iter()
            .filter(|tokens| *tokens > 0)
            .collect(),
        routes,
        block: options.block,
        samples: options.samples,
        iterations: options.iterations,
    };
    match bench_linears(&plan) {
        Ok(report) => {
            say_partial!("{report}");
            ExitCode::SUCCESS
        }
        Err(error @ LinearBenchError::Plan(_)) => fail(exit::INVALID, error),
        Err(error) => fail(exit::FAILED, error),
    }
}

#[cfg(not(feature = "mistralrs"))]
fn bench_linear(_shape: Shape, _options: LinearOptions) -> ExitCode {
    fail(
        exit::INVALID,
        "weft dev bench-linear needs weft built with the `mistralrs` feature (on by default)",
    )
}
