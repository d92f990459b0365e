//! weft-llm: model backends behind the chat-model port of `weft-core`.
//!
//! This release has the scripted backend, the engine's test double and the offline demo
//! model: its replies come from a YAML file. The OpenAI-compatible and mistralrs backends
//! plug in beside it.

pub mod error;
pub mod scripted;
pub mod spec;

pub use error::BackendError;
pub use scripted::ScriptedModel;
pub use spec::{ModelSpec, open_model};
