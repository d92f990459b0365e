//! weft: an agent workflow runtime.
//!
//! Workflows are YAML graphs of nodes (agent, llm, tool, router, map, workflow, human, end)
//! over a typed state. This facade re-exports the layers:
//!
//! - [`core`]: ids, messages, events, the chat-model, tool and event-sink ports;
//! - [`workflow`]: the workflow language, validation and the sans-IO run machine;
//! - [`runtime`]: the tokio driver that runs workflows;
//! - [`llm`]: model backends (the scripted backend in this release);
//! - [`store`]: durable run logs (SQLite, PostgreSQL);
//! - [`tools`]: typed tools, the registry that validates their calls, the built-in tools.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! let workflow = weft::workflow::Loader::new().load(std::path::Path::new("workflows/counter.yaml"))?;
//! let runtime = weft::runtime::Runtime::builder().build();
//! let cancel = weft::runtime::CancellationToken::new();
//! let run = runtime.start(workflow, serde_json::json!({"limit": 5}), &cancel).await?;
//! println!("{:?}", run.output());
//! # Ok(()) }
//! ```

pub use weft_core as core;
pub use weft_llm as llm;
/// Turns an async fn into a typed tool; see [`weft_macros`].
pub use weft_macros::tool;
pub use weft_runtime as runtime;
pub use weft_store as store;
pub use weft_tools as tools;
pub use weft_workflow as workflow;

pub use weft_core::{ChatModel, Event, EventRecord, RunId, RunStatus};
pub use weft_runtime::{ActiveRun, Runtime};
pub use weft_workflow::{Loader, Workflow};
