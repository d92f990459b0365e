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
            let Some(mut chosen) = Shape::by_name(&shape) else {
                return fail(
                    exit::INVALID,
                    format!("unknown shape `{shape}`; the shapes are tiny and 8b"),
                );
            };
            if let Some(layers) = layers {
                chosen.layers = layers.max(1);
            }
            let weights = fp8_blocks.map_or(Weights::Bf16, Weights::Fp8Blocks);
            match write_model_with(&dir, chosen, seed, weights) {
                Ok(bytes) => {
                    println!(
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
    }
}
