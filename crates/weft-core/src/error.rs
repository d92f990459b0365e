//! Error kinds shared by every layer, the error a failed step records and the error a
//! failed tool call returns.

use serde::{Deserialize, Serialize};

/// What sort of failure something was; callers decide on retries and messages by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The input (a workflow, arguments, a reply) was not acceptable.
    InvalidInput,
    /// Something named does not exist.
    NotFound,
    /// A time limit ran out.
    Timeout,
    /// An upstream system failed in a way that may pass if tried again.
    RetryableUpstream,
    /// An upstream system failed for good.
    Upstream,
    /// A configured limit (steps, turns, sizes) was reached.
    LimitExceeded,
    /// Another writer got there first (an append at a taken sequence number).
    Conflict,
    /// Stored data could not be read back.
    Corrupt,
    /// The run was cancelled.
    Cancelled,
    /// A bug or an impossible state inside weft.
    Internal,
}

impl ErrorKind {
    /// The snake_case name used in events and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidInput => "invalid_input",
            Self::NotFound => "not_found",
            Self::Timeout => "timeout",
            Self::RetryableUpstream => "retryable_upstream",
            Self::Upstream => "upstream",
            Self::LimitExceeded => "limit_exceeded",
            Self::Conflict => "conflict",
            Self::Corrupt => "corrupt",
            Self::Cancelled => "cancelled",
            Self::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Why a step failed, as recorded in the run's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct StepError {
    /// The kind of failure.
    pub kind: ErrorKind,
    /// A message a person can act on.
    pub message: String,
}

impl StepError {
    /// A step error of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// A tool call that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ToolError {
    /// What sort of failure.
    pub kind: ErrorKind,
    /// A message the model or a person can act on.
    pub message: String,
}

impl ToolError {
    /// A tool error of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}
