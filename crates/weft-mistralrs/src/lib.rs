//! weft-mistralrs: Llama-3.1 in-process through mistralrs.
//!
//! weft renders the Llama-3.1 prompt itself (`weft_llm::llama3`), counts its tokens with the
//! model's own tokenizer (so a prompt that does not fit the window is refused before any
//! work), and hands mistralrs the token ids; mistralrs generates on the CPU or on CUDA GPUs
//! (cargo features `cuda`, `nccl`), with in-situ quantization (`isq=fp8`, `q8_0`, ...), layer
//! mapping over several GPUs and paged attention. The text streams back through the
//! chat-model port, and tool calls in any of the forms Llama-3.1 writes are parsed out of it.
//!
//! What mistralrs 0.8.1 gets wrong is kept from users: a model directory is checked before
//! mistralrs reads it (it panics on some missing pieces), each model is built on a thread of
//! its own (its ISQ setting is thread-local), and FP8 ISQ runs one sequence at a time (it
//! fails with more).

pub mod directory;
pub mod error;
pub mod linear_bench;
pub mod load;
pub mod model;
pub mod worker;

pub use error::LocalError;
pub use model::LocalModel;
