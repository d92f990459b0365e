//! weft-workflow: the workflow language and the run machine.
//!
//! - [`spec`]: the YAML format as typed structs (and the JSON Schema `weft schema` prints);
//! - [`load`]: parsing, field checking, validation and compilation into a [`Workflow`],
//!   with every error located at file:line:column;
//! - [`expression`]: minijinja templates and conditions, sandboxed;
//! - [`machine`]: the sans-IO run machine that folds events and decides the next step;
//! - [`guards`]: a workflow's guard rules, compiled, and what a verdict comes to under one;
//! - [`graph`]: the Mermaid flowchart of a workflow.

pub mod diff;
pub mod error;
pub mod expression;
pub mod graph;
pub mod guards;
pub mod load;
pub mod machine;
pub mod memory;
pub mod spec;
pub mod texts;
pub mod tooling;
pub mod workflow;

pub use error::{Diagnostic, LoadError, RunError};
pub use load::{Loader, ModelOverrides};
pub use machine::{
    Attention, ChildAnswer, ChildRun, Command, Decision, GuardCall, ModelCall, Question,
    RunMachine, Snapshot, ToolCallCommand,
};
pub use memory::{MemorySettings, Summarizer};
pub use spec::{WorkflowSpec, workflow_json_schema};
pub use texts::{MissingText, WorkflowTexts, content_hash};
pub use tooling::{HttpGetSettings, McpServer, McpTransport, ToolSettings};
pub use workflow::Workflow;
