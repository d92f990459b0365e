//! Errors of the workflow layer: diagnostics for workflow files, and run-time failures.

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
            Self::Io { .. } => &[],
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
