//! Errors of the workflow layer: diagnostics for workflow files, templates that fail, values
//! that do not fit a schema, and run-time failures.

use std::fmt;
use std::path::PathBuf;

/// One problem in a workflow file, with where it is and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file.
    pub file: PathBuf,
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1.
    pub column: usize,
    /// What is wrong and what was expected.
    pub message: String,
    /// A suggested fix, when there is one.
    pub help: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{}:{}:{}: error: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )?;
        if let Some(help) = &self.help {
            write!(formatter, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// A workflow that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read workflow file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file has problems; every one found is listed.
    #[error("{}", render_diagnostics(diagnostics))]
    Invalid {
        /// The problems, in file order.
        diagnostics: Vec<Diagnostic>,
    },
    /// A run's kept texts lack a file its workflow reaches.
    #[error(
        "the workflow texts this run kept have no `{name}` (read as {}); the run cannot be loaded from its own texts",
        path.display()
    )]
    NotStored {
        /// The path the workflow reaches.
        path: PathBuf,
        /// The name the text would be kept under.
        name: String,
    },
    /// A node's model cannot be replaced as asked (`--node-model`).
    #[error("cannot replace the model of node `{node}`: {problem}")]
    NodeModel {
        /// The node named.
        node: String,
        /// Why not.
        problem: NodeModelProblem,
    },
}

/// Why a node's model cannot be replaced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeModelProblem {
    /// The workflow has no node of that name.
    #[error("the workflow has no such node{}", suggestion.as_ref().map(|name| format!("; did you mean `{name}`?")).unwrap_or_default())]
    NoSuchNode {
        /// The closest node name, when one is close.
        suggestion: Option<String>,
    },
    /// The node calls no model.
    #[error(
        "it is a `{kind}` node, which calls no model (only `agent` and `llm` nodes do, and `map` nodes whose branch is one)"
    )]
    CallsNoModel {
        /// The node's kind.
        kind: &'static str,
    },
}

fn render_diagnostics(diagnostics: &[Diagnostic]) -> String {
    let mut text = String::new();
    for (index, diagnostic) in diagnostics.iter().enumerate() {
        if index > 0 {
            text.push('\n');
        }
        text.push_str(&diagnostic.to_string());
    }
    text
}

impl LoadError {
    /// The diagnostics, when the file was read but is invalid.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Self::Io { .. } | Self::NodeModel { .. } | Self::NotStored { .. } => &[],
            Self::Invalid { diagnostics } => diagnostics,
        }
    }
}

/// A run that cannot go on: the machine refuses an event or a resume.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// The event does not fit where the run stands (a corrupt or foreign log).
    #[error("event {event} does not fit the run: {reason}")]
    UnexpectedEvent {
        /// The event's type.
        event: &'static str,
        /// Why it does not fit.
        reason: String,
    },
    /// The run is not waiting for input.
    #[error("the run is {status}, not interrupted; only an interrupted run takes input")]
    NotInterrupted {
        /// Where it stands.
        status: &'static str,
    },
    /// No open question has this id.
    #[error("no open question has the id `{id}`; the open questions are: {}", open.join(", "))]
    UnknownQuestion {
        /// The id given.
        id: String,
        /// The open questions' ids.
        open: Vec<String>,
    },
    /// The run waits on several questions and the answer did not say which.
    #[error("the run waits on {} questions ({}); say which one this answers", open.len(), open.join(", "))]
    WhichQuestion {
        /// The open questions' ids.
        open: Vec<String>,
    },
    /// The run has no unsettled tool calls to retry.
    #[error("the run is {status}; only a run that needs attention can be retried")]
    NothingToRetry {
        /// Where it stands.
        status: &'static str,
    },
    /// The answer to a `human` node does not match its `input_schema`.
    #[error("the answer does not match the node's input_schema: {message}")]
    InvalidAnswer {
        /// What is wrong, with the JSON path.
        message: String,
    },
    /// The run's input does not fit the workflow's state.
    #[error("invalid run input: {message}")]
    InvalidInput {
        /// What is wrong.
        message: String,
    },
}

/// YAML text that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    /// What the parser says, with the line and column, without a snippet of the text.
    pub message: String,
}

/// A template or condition failed to compile or to evaluate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExpressionError {
    /// What went wrong, as minijinja explains it.
    pub message: String,
}

impl From<minijinja::Error> for ExpressionError {
    fn from(error: minijinja::Error) -> Self {
        let mut message = error.to_string();
        if let Some(detail) = error.detail()
            && !message.contains(detail)
        {
            message = format!("{message}: {detail}");
        }
        Self { message }
    }
}

/// A value that does not match a JSON Schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", problems.join("; "))]
pub struct SchemaViolation {
    /// Each problem, as `at <JSON path>: <what is wrong>`.
    pub problems: Vec<String>,
}

/// Why a value cannot be written to a state field through its reducer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum WriteMismatch {
    /// The value (or, for `append`, the item) does not match the field's schema.
    #[error(transparent)]
    Schema(#[from] SchemaViolation),
    /// `add` of a fraction to an integer field.
    #[error("{number} is not an integer")]
    NotAnInteger {
        /// The number written.
        number: serde_json::Number,
    },
    /// `add` of something that is not a number.
    #[error("`add` needs a number, got {got}")]
    AddNeedsNumber {
        /// The type written, such as `a string`.
        got: &'static str,
    },
    /// `merge` of something that is not an object.
    #[error("`merge` needs an object, got {got}")]
    MergeNeedsObject {
        /// The type written, such as `a list`.
        got: &'static str,
    },
}

/// An effect's result that does not fit the activity it names: a corrupt or foreign log,
/// reported as [`RunError::UnexpectedEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ActivityMismatch {
    /// A model reply for another turn than the agent's current one.
    #[error("a reply for turn {turn} while the agent is at turn {current}")]
    ReplyForOtherTurn {
        /// The reply's turn.
        turn: u32,
        /// The agent's turn.
        current: u32,
    },
    /// A model reply for a `tool` or child-run activity.
    #[error("a model reply for an activity that calls no model")]
    CallsNoModel,
    /// A tool result for another turn than the agent's current one.
    #[error("a tool result for turn {turn} while the agent is at turn {current}")]
    ToolResultForOtherTurn {
        /// The result's turn.
        turn: u32,
        /// The agent's turn.
        current: u32,
    },
    /// A tool result for a call the turn does not have.
    #[error("no tool call {index} in turn {turn}")]
    NoSuchToolCall {
        /// The turn.
        turn: u32,
        /// The call's position in the turn.
        index: u32,
    },
    /// A guard's verdict or answer for a text no guard holds.
    #[error("no guard holds {0} here")]
    NothingGuarded(&'static str),
    /// An answer to a guard's question that is not allow, redact or block.
    #[error("a guard's question is answered with allow, redact or block")]
    GuardAnswer,
    /// A tool result for an `llm` or child-run activity.
    #[error("a tool result for an activity that calls no tools")]
    CallsNoTools,
    /// A child-run event for an activity that is not a sub-workflow.
    #[error("a child-run event for an activity that starts no child")]
    StartsNoChild,
}

/// Two workflow files of one run define an MCP server of the same name differently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "MCP server `{name}` is defined differently in {} and {}",
    first.display(),
    second.display()
)]
pub struct McpServerConflict {
    /// The server's name.
    pub name: String,
    /// The file that defined it first.
    pub first: PathBuf,
    /// The file that defines it differently.
    pub second: PathBuf,
}

/// Suggests the closest candidate to `word`, if one is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let mut best: Option<(f64, &str)> = None;
    for candidate in candidates {
        let score = strsim::jaro_winkler(word, candidate);
        if score > 0.8 && best.is_none_or(|(best_score, _)| score > best_score) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, candidate)| candidate.to_owned())
}
