//! weft: an agent workflow runtime, as a library to embed.
//!
//! Workflows are YAML graphs of nodes (agent, llm, tool, router, map, workflow, human, end)
//! over a typed state. This facade re-exports the layers:
//!
//! - [`core`]: ids, messages, events, the chat-model, tool and event-sink ports;
//! - [`workflow`]: the workflow language, validation and the sans-IO run machine;
//! - [`runtime`]: the tokio driver that runs workflows;
//! - [`llm`]: model backends (scripted; OpenAI-compatible with the `openai` feature) and
//!   model specs;
//! - [`store`]: durable run logs (SQLite with `sqlite`, PostgreSQL with `postgres`);
//! - [`tools`]: the registry that checks every call, the built-in tools, command tools
//!   (`process`), `http_get` (`http`) and MCP servers (`mcp`);
//!
//! and composes them the way the `weft` command and the daemon do, so an application does
//! the same in a few calls: [`config`] (weft.toml), [`models`] (a model spec or a weft.toml
//! name to a backend), [`toolbox`] (the tools a run gets) and [`store::open`] (a database
//! from a path or a URL).
//!
//! Features: `sqlite` (default), `postgres`, `openai`, `mistralrs` (Llama-3.1 in-process;
//! `cuda` and `nccl` for GPUs), `mcp`, `http`, `prompt-guard` (Prompt Guard in-process),
//! `process`. With none of them, weft runs
//! workflows in memory with scripted models and Rust tools.
//!
//! Your own tools are typed Rust ([`Tool`], or an async fn with [`tool`]); `serde`,
//! `serde_json` and `schemars` are re-exported for their argument types:
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use weft::{ToolFailure, serde_json::json};
//!
//! /// Estimates the shipping cost of a parcel, in cents.
//! #[weft::tool(idempotent)]
//! async fn shipping_cost(
//!     /// The parcel's weight in grams.
//!     grams: u32,
//! ) -> Result<u32, ToolFailure> {
//!     Ok(450 + grams.div_ceil(500) * 120)
//! }
//!
//! let mut tools = weft::tools::Registry::new();
//! tools.register(ShippingCost)?;
//! let runtime = weft::Runtime::builder().tools(Arc::new(tools)).build();
//! // The loader checks workflows against the runtime's tools.
//! let workflow = runtime.workflow_loader().load(std::path::Path::new("shipping.yaml"))?;
//! let cancel = weft::runtime::CancellationToken::new();
//! let run = runtime.start(workflow, json!({"grams": 1200}), &cancel).await?;
//! println!("{:?}", run.output());
//! # Ok(()) }
//! ```

pub mod config;
pub mod guards;
pub mod models;
pub mod toolbox;

pub use weft_core as core;
pub use weft_guard as guard;
pub use weft_llm as llm;
/// Turns an async fn into a typed tool; see [`weft_macros`].
pub use weft_macros::tool;
#[cfg(feature = "mistralrs")]
pub use weft_mistralrs as mistralrs;
pub use weft_runtime as runtime;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use weft_store as store;
pub use weft_tools as tools;
pub use weft_workflow as workflow;

pub use weft_core::{ChatModel, Event, EventRecord, RunId, RunStatus, ToolContext, ToolError};
pub use weft_runtime::{ActiveRun, Runtime};
pub use weft_tool::{Tool, ToolFailure, schemars, serde, serde_json};
pub use weft_workflow::{Loader, Workflow};
