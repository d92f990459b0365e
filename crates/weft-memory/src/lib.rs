//! weft-memory: long-horizon memory without I/O. Token counting ([`counting`]), the context
//! one model call is given within its window ([`context`]), and compaction: which span of
//! a session to summarize, the summarizer's prompt and the extractive fallback
//! ([`compaction`]). The store supplies a session's view and keeps what these decide; the
//! runtime calls them around each model call.

pub mod compaction;
pub mod context;
pub mod counting;

pub use context::{AssemblyError, Context, Limits, Turn, assemble};
pub use counting::{Estimate, PromptCounter, TextTokenizer, is_llama3_name, llama3};
