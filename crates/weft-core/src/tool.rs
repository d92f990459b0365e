//! The tool port: how the runtime calls tools without knowing how they are implemented.

use crate::error::ToolError;
use crate::ids::RunId;
use crate::message::{ToolCall, ToolSpec};
use futures_core::future::BoxFuture;
use serde_json::Value;

/// What a tool call knows about where it runs.
#[derive(Debug, Clone)]
pub struct ToolContext {
    /// The run making the call.
    pub run: RunId,
    /// A key that is the same every time this call is attempted: `run/step/branch/index`.
    pub idempotency_key: String,
    /// The run's session, when it speaks in one (what the memory tools work on).
    pub session: Option<SessionAccess>,
}

impl ToolContext {
    /// The context of a call outside any session.
    pub fn new(run: RunId, idempotency_key: impl Into<String>) -> Self {
        Self {
            run,
            idempotency_key: idempotency_key.into(),
            session: None,
        }
    }
}

/// A run's session, as its tool calls reach it.
#[derive(Clone)]
pub struct SessionAccess {
    /// The session.
    pub id: crate::session::SessionId,
    /// Its name.
    pub name: String,
    /// Where it is kept.
    pub store: std::sync::Arc<dyn crate::memory::SessionStore>,
}

impl std::fmt::Debug for SessionAccess {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SessionAccess")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// How the runtime runs a tool's calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolPolicy {
    /// How long one attempt may take; `None`: the runtime's default (a node may set its own).
    pub timeout: Option<std::time::Duration>,
    /// Attempts in all for a call that fails with a retryable error (`retryable_upstream`),
    /// with exponential backoff and jitter between them. 1: no retries.
    pub max_attempts: u32,
}

impl Default for ToolPolicy {
    fn default() -> Self {
        Self {
            timeout: None,
            max_attempts: 3,
        }
    }
}

/// The future a tool call returns.
pub type ToolFuture = BoxFuture<'static, Result<Value, ToolError>>;

/// A set of tools, as the runtime sees it.
pub trait ToolBox: Send + Sync {
    /// The spec of the tool called `name`, if there is one.
    fn spec(&self, name: &str) -> Option<ToolSpec>;
    /// Every tool's name.
    fn names(&self) -> Vec<String>;
    /// Runs one call.
    fn call(&self, call: ToolCall, context: ToolContext) -> ToolFuture;
    /// Whether calling `name` twice with the same idempotency key has the effect of calling
    /// it once. Only such a tool is run again after a restart interrupted a call to it;
    /// for any other, the run waits for a person (`needs_attention`).
    fn is_idempotent(&self, name: &str) -> bool {
        let _ = name;
        false
    }
    /// How calls of `name` are run: their timeout and retries.
    fn policy(&self, name: &str) -> ToolPolicy {
        let _ = name;
        ToolPolicy::default()
    }
}

/// The idempotency key of a tool call: the same on every attempt of the same call, and
/// unique in a store. `branch` is the map branch, `turn` the model call that asked for it
/// and `index` its place among that reply's calls.
pub fn idempotency_key(
    run: RunId,
    step: u64,
    branch: Option<u32>,
    turn: u32,
    index: u32,
) -> String {
    let branch = branch.map_or_else(|| "-".to_owned(), |branch| branch.to_string());
    format!("{run}/{step}/{branch}/{turn}/{index}")
}

/// Whether a workflow's tool entry names `tool`: the same name, or a pattern ending in `*`
/// (`github.*` names every tool whose name starts with `github.`; `*` names them all).
pub fn tool_matches(entry: &str, tool: &str) -> bool {
    match entry.strip_suffix('*') {
        Some(prefix) => tool.starts_with(prefix),
        None => entry == tool,
    }
}

/// An MCP server, ready to connect to.
#[derive(Debug, Clone, PartialEq)]
pub struct McpServer {
    /// How to reach it.
    pub transport: McpTransport,
    /// How long one of its tool calls may take (`None`: the runtime's default).
    pub timeout: Option<std::time::Duration>,
}

/// How an MCP server is reached.
#[derive(Debug, Clone, PartialEq)]
pub enum McpTransport {
    /// A child process speaking MCP on its standard input and output.
    Stdio {
        /// The program.
        program: String,
        /// Its arguments.
        arguments: Vec<String>,
        /// Variables added to its environment.
        environment: Vec<(String, String)>,
    },
    /// A streamable HTTP endpoint.
    Http {
        /// The endpoint's URL.
        url: String,
    },
}
