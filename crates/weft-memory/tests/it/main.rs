//! weft-memory's tests: counting against the embedded Llama-3 vocabulary, context assembly
//! (with a property test over random histories) and compaction.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod compaction;
mod context;
mod properties;
