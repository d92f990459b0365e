//! weft-fixtures: what tests need and no machine here can download.
//!
//! [`tiny_llama`] writes a model directory with the Llama-3.1 architecture and random
//! weights: `config.json` (`LlamaForCausalLM`, llama3 `rope_scaling`, a 131,072-token
//! window), `generation_config.json`, a byte-level BPE `tokenizer.json` that holds the
//! Llama-3.1 special tokens, `tokenizer_config.json` with a chat template, and
//! `model.safetensors`. The same generator writes the Llama-3.1-8B shape for GPU
//! benchmarks. [`deberta`] writes a DeBERTa-v2 classifier with Prompt Guard's
//! architecture and labels, for the in-process Prompt Guard.

pub mod deberta;
pub mod languages;
pub mod safetensors;
pub mod tiny_llama;
pub mod tokenizer;

pub use tiny_llama::{Shape, TinyLlamaError, Weights, write_model, write_model_with};
