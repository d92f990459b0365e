//! weft-memory: long-horizon memory without I/O. The estimate of counts without a tokenizer ([`estimate`]; exact counting is
//! `weft_llm::tokens`), the context
//! one model call is given within its window ([`context`]), and compaction: which span of
//! a session to summarize, the summarizer's prompt and the extractive fallback
//! ([`compaction`]). The store supplies a session's view and keeps what these decide; the
//! runtime calls them around each model call.

pub mod compaction;
pub mod context;
pub mod estimate;

pub use context::{AssemblyError, Context, Limits, Turn, assemble, whole_turn};
pub use estimate::{ESTIMATE_KEY, Estimate};
