//! weft-tools: the tools weft brings, and the tools it finds outside Rust.
//!
//! - [`builtin`]: `echo`, `add`, `calculator`, `now` and the file tools confined to a
//!   [`builtin::Workspace`]; `shell` (feature `process`) and `http_get` (feature `http`),
//!   off unless a workflow turns them on;
//! - [`command`] (feature `process`): programs described by YAML manifests, called with JSON
//!   on standard input;
//! - [`mcp`] (feature `mcp`): the tools of MCP servers, over stdio or streamable HTTP.
//!
//! What a tool is (the [`Tool`] trait, argument schemas, the [`Registry`] that checks every
//! call) lives in the thin crate `weft-tool` and is re-exported here.

pub mod builtin;
#[cfg(feature = "process")]
pub mod command;
#[cfg(feature = "mcp")]
pub mod mcp;
#[cfg(feature = "process")]
mod process;
#[cfg(any(feature = "process", feature = "mcp"))]
mod stderr;

pub use weft_tool::{
    Origin, Registry, RegistryError, Tool, ToolFailure, ToolFailureKind, schema_for,
};
