//! weft-llm: model backends behind the chat-model port of `weft-core`, and what they share.
//!
//! - `openai` (feature `openai`): any OpenAI-compatible chat-completions server (vLLM, TGI,
//!   llama.cpp server, `mistralrs serve`, OpenAI, Hugging Face Inference), streamed over
//!   SSE, with retries;
//! - [`scripted`]: replies from a YAML file, the engine's test double and the offline demo;
//! - [`llama3`]: the Llama-3.1 prompt format (rendering, and parsing the tool calls the model
//!   writes), used by the in-process backend in `weft-mistralrs` and by `openai` when a
//!   server leaves a call in the text;
//! - [`spec`]: the model specs that name a backend, and [`options`] their typed options;
//! - [`tokens`]: exact token counts in the Llama-3.1 format (the Llama-3 vocabulary
//!   embedded in the `tiktoken` crate, or a `tokenizer.json` with `tokenizer-json`).

pub mod error;
pub mod llama3;
mod open;
#[cfg(feature = "openai")]
pub mod openai;
pub mod options;
pub mod script_writer;
pub mod scripted;
pub mod spec;
pub mod tokens;

pub use error::BackendError;
pub use open::open_model;
#[cfg(feature = "openai")]
pub use openai::OpenAiModel;
pub use options::{LocalOptions, RemoteOptions};
pub use scripted::ScriptedModel;
pub use spec::{Flavor, ModelSpec};
