//! The typed tool trait and how a tool says it failed.

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use weft_core::{ErrorKind, ToolContext, ToolError};

/// A tool: a typed async function a model can call.
///
/// ```
/// use schemars::JsonSchema;
/// use serde::Deserialize;
/// use weft_core::ToolContext;
/// use weft_tool::{Tool, ToolFailure};
///
/// /// Arguments of `greet`.
/// #[derive(Deserialize, JsonSchema)]
/// struct GreetArgs {
///     /// Who to greet.
///     name: String,
/// }
///
/// struct Greet;
///
/// impl Tool for Greet {
///     type Args = GreetArgs;
///     type Output = String;
///     fn name(&self) -> &str { "greet" }
///     fn description(&self) -> &str { "Greets someone by name." }
///     async fn call(&self, args: GreetArgs, _context: ToolContext) -> Result<String, ToolFailure> {
///         Ok(format!("Hello, {}!", args.name))
///     }
/// }
/// ```
pub trait Tool: Send + Sync + 'static {
    /// The arguments; their JSON Schema is what models are shown and calls are checked
    /// against. Doc comments on the fields become the properties' descriptions.
    type Args: DeserializeOwned + JsonSchema + Send;
    /// What the tool returns.
    type Output: Serialize;

    /// The name models call it by.
    fn name(&self) -> &str;
    /// What it does, for the model.
    fn description(&self) -> &str;
    /// Whether a second call with the same idempotency key (`ToolContext`) has no further
    /// effect. Only such a tool is run again after a crash interrupted a call to it.
    fn idempotent(&self) -> bool {
        false
    }
    /// How long one call may take (`None`: the runtime's default, 60 s; a node's
    /// `tool_timeout` overrides both).
    fn timeout(&self) -> Option<std::time::Duration> {
        None
    }
    /// Attempts in all for a call that fails with [`ToolFailure::retryable`].
    fn max_attempts(&self) -> u32 {
        3
    }
    /// Adds to the schema derived from `Args` what the type cannot say (the values a
    /// field may take in this tool's configuration, say). Calls are checked against the
    /// result.
    fn refine_schema(&self, schema: &mut serde_json::Value) {
        let _ = schema;
    }
    /// Runs one call with arguments that already passed the schema.
    fn call(
        &self,
        args: Self::Args,
        context: ToolContext,
    ) -> impl Future<Output = Result<Self::Output, ToolFailure>> + Send;
}

/// What sort of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolFailureKind {
    /// The arguments were wrong: the model may fix them and call again.
    InvalidArguments,
    /// The call took too long.
    Timeout,
    /// A passing problem (a busy upstream): the same call may succeed later.
    Retryable,
    /// Anything else: calling again will not help.
    Fatal,
}

/// A failed call, with a message the model or a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ToolFailure {
    /// What sort of failure.
    pub kind: ToolFailureKind,
    /// What happened.
    pub message: String,
}

impl ToolFailure {
    /// Wrong arguments.
    pub fn invalid_arguments(message: impl Into<String>) -> Self {
        Self {
            kind: ToolFailureKind::InvalidArguments,
            message: message.into(),
        }
    }
    /// Too slow.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self {
            kind: ToolFailureKind::Timeout,
            message: message.into(),
        }
    }
    /// Worth trying again.
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            kind: ToolFailureKind::Retryable,
            message: message.into(),
        }
    }
    /// Not worth trying again.
    pub fn fatal(message: impl Into<String>) -> Self {
        Self {
            kind: ToolFailureKind::Fatal,
            message: message.into(),
        }
    }
}

impl From<ToolFailure> for ToolError {
    fn from(failure: ToolFailure) -> Self {
        let kind = match failure.kind {
            ToolFailureKind::InvalidArguments => ErrorKind::InvalidInput,
            ToolFailureKind::Timeout => ErrorKind::Timeout,
            ToolFailureKind::Retryable => ErrorKind::RetryableUpstream,
            ToolFailureKind::Fatal => ErrorKind::Upstream,
        };
        ToolError::new(kind, failure.message)
    }
}
