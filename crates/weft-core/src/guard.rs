//! The guard port: a classifier that reads text a run is about to use (its input, a
//! model's answer, a tool's result, a snippet from memory) and says how likely it is to be
//! harmful ([`Verdict`]). Llama Guard 3 (through a chat backend) and Prompt Guard (a
//! classifier in-process or behind HTTP) implement it; a scripted guard stands in for tests.
//! Where guards apply and what a verdict does is the workflow's, decided in the run machine;
//! the verdict and what followed are events ([`GuardChecked`], [`GuardFinding`]).

use crate::error::{ErrorKind, StepError};
use futures_core::future::BoxFuture;
use serde::{Deserialize, Serialize};

/// Where in a run a guard reads text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardPoint {
    /// The user message an `llm` or `agent` node sends (which carries the run's input).
    Input,
    /// What an `llm` or `agent` node answers, before it is written to the state.
    Output,
    /// What a tool or MCP server returns, before a model sees it or it is written.
    ToolResults,
    /// Archival snippets from a session's memory, before a model sees them.
    Retrieved,
}

impl GuardPoint {
    /// Every point, in the order a workflow lists them.
    pub const ALL: [GuardPoint; 4] = [
        Self::Input,
        Self::Output,
        Self::ToolResults,
        Self::Retrieved,
    ];

    /// The point's name, as workflow files write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Input => "input",
            Self::Output => "output",
            Self::ToolResults => "tool_results",
            Self::Retrieved => "retrieved",
        }
    }
}

/// What a verdict that passes its threshold does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GuardAction {
    /// The step fails.
    Block,
    /// The text is replaced by a marker, which is what the model (or the state) gets.
    Redact,
    /// An event says so; the run goes on with the text.
    Flag,
    /// The run stops at a question to a person, who allows, redacts or blocks the text.
    Ask,
}

impl GuardAction {
    /// The action's name, as workflow files write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Block => "block",
            Self::Redact => "redact",
            Self::Flag => "flag",
            Self::Ask => "ask",
        }
    }
}

/// Who says a turn of the conversation a guard reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    /// A person, or text from outside that reaches the model as theirs would (tool results,
    /// retrieved snippets).
    User,
    /// The model.
    Agent,
}

/// One turn of the conversation a guard reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardTurn {
    /// Who says it.
    pub speaker: Speaker,
    /// What is said.
    pub text: String,
}

impl GuardTurn {
    /// A user turn.
    pub fn user(text: impl Into<String>) -> Self {
        Self {
            speaker: Speaker::User,
            text: text.into(),
        }
    }

    /// An agent turn.
    pub fn agent(text: impl Into<String>) -> Self {
        Self {
            speaker: Speaker::Agent,
            text: text.into(),
        }
    }
}

/// A hazard category a workflow adds to a policy guard's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomCategory {
    /// Its short name (`Competitor products`).
    pub name: String,
    /// What falls under it, as the guard model is told.
    pub description: String,
}

/// How a policy guard (Llama Guard) is to judge: which of its categories count and which
/// a workflow adds. Classifiers without a policy (Prompt Guard) ignore it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardPolicy {
    /// The codes of the guard's own categories that count (`S1`, `S10`); `None`: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    /// Categories the workflow adds, numbered after the guard's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom: Vec<CustomCategory>,
}

/// What a guard is asked to judge: the last turn of `conversation`, the turns before it
/// being its context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardRequest {
    /// Where the text comes from.
    pub point: GuardPoint,
    /// The conversation, the judged turn last.
    pub conversation: Vec<GuardTurn>,
    /// The policy.
    #[serde(default)]
    pub policy: GuardPolicy,
}

impl GuardRequest {
    /// The judged text: the last turn's.
    pub fn text(&self) -> &str {
        self.conversation
            .last()
            .map(|turn| turn.text.as_str())
            .unwrap_or_default()
    }
}

/// One label of a verdict and its probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelScore {
    /// The label (`unsafe`, `INJECTION`, `BENIGN`).
    pub label: String,
    /// Its probability, from 0 to 1.
    pub score: f64,
    /// Whether the label means harm (`unsafe`, `INJECTION`, `JAILBREAK`), as opposed to
    /// `safe` or `BENIGN`.
    pub harmful: bool,
}

/// What a guard said about a text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Every label the guard scores, with its probability.
    pub scores: Vec<LabelScore>,
    /// The hazard categories a policy guard named (`S9`), in its order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// The guard's own threshold: a harmful label scoring at least this trips a rule that
    /// sets none.
    pub threshold: f64,
}

impl Verdict {
    /// The harmful label that scores highest among `labels` (all harmful labels when
    /// `labels` is empty).
    pub fn worst(&self, labels: &[String]) -> Option<&LabelScore> {
        self.scores
            .iter()
            .filter(|score| score.harmful)
            .filter(|score| {
                labels.is_empty()
                    || labels
                        .iter()
                        .any(|label| label.eq_ignore_ascii_case(&score.label))
            })
            .max_by(|left, right| left.score.total_cmp(&right.score))
    }
}

/// A guard that could not judge a text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct GuardError {
    /// What sort of failure.
    pub kind: ErrorKind,
    /// A message a person can act on.
    pub message: String,
}

impl GuardError {
    /// A guard error of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// What [`Guard::classify`] returns.
pub type GuardFuture = BoxFuture<'static, Result<Verdict, GuardError>>;

/// The guard port.
pub trait Guard: Send + Sync {
    /// Judges the last turn of the request's conversation.
    fn classify(&self, request: GuardRequest) -> GuardFuture;
}

/// Which text of a step a guard read: its point, the model call (turn) it belongs to and,
/// for tool results, the call's position in that turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GuardCheck {
    /// Where the text comes from.
    pub point: GuardPoint,
    /// The agent's turn (0 for everything else).
    #[serde(default)]
    pub turn: u32,
    /// The tool call's position among the turn's calls (0 for everything else).
    #[serde(default)]
    pub index: u32,
}

/// A guard's verdict, or why it gave none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum GuardOutcome {
    /// The guard judged the text.
    Verdict {
        /// What it said.
        verdict: Verdict,
    },
    /// The guard failed (the step fails: a guard that cannot judge lets nothing through).
    Error {
        /// Why.
        error: StepError,
    },
}

/// The payload of `Event::GuardChecked`: a guard judged a text of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardChecked {
    /// The step.
    pub step: u64,
    /// The map branch, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<u32>,
    /// Which text.
    pub check: GuardCheck,
    /// The guard, as the workflow names it.
    pub guard: String,
    /// Its verdict.
    pub outcome: GuardOutcome,
}

/// The payload of `Event::GuardBlocked`, `GuardRedacted` and `GuardFlagged`: a verdict
/// passed its threshold (or a person decided), and the rule's action followed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardFinding {
    /// The step.
    pub step: u64,
    /// The map branch, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<u32>,
    /// Which text.
    pub check: GuardCheck,
    /// The guard, as the workflow names it.
    pub guard: String,
    /// The label that passed the threshold (`unsafe`, `INJECTION`).
    pub label: String,
    /// Its probability.
    pub score: f64,
    /// The hazard categories a policy guard named.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Set when a person decided (an `ask` rule's answer), not the threshold.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_person: bool,
}

impl GuardFinding {
    /// What was found, for a person: `INJECTION 0.97`, `unsafe S1, S9 0.88`.
    pub fn describe(&self) -> String {
        let mut text = self.label.clone();
        if !self.categories.is_empty() {
            text.push(' ');
            text.push_str(&self.categories.join(", "));
        }
        text.push_str(&format!(" {:.2}", self.score));
        text
    }

    /// The step error of a blocked text.
    pub fn blocked_error(&self) -> StepError {
        let whose = if self.by_person {
            "a person blocked it after"
        } else {
            "blocked:"
        };
        StepError::new(
            ErrorKind::InvalidInput,
            format!(
                "guard `{}` on {}: {whose} {}",
                self.guard,
                self.check.point.as_str(),
                self.describe()
            ),
        )
    }

    /// The marker that replaces a redacted text: what the model or the state gets.
    pub fn marker(&self) -> String {
        format!("[redacted by guard `{}`: {}]", self.guard, self.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict() -> Verdict {
        Verdict {
            scores: vec![
                LabelScore {
                    label: "BENIGN".into(),
                    score: 0.05,
                    harmful: false,
                },
                LabelScore {
                    label: "INJECTION".into(),
                    score: 0.9,
                    harmful: true,
                },
                LabelScore {
                    label: "JAILBREAK".into(),
                    score: 0.05,
                    harmful: true,
                },
            ],
            categories: Vec::new(),
            threshold: 0.5,
        }
    }

    #[test]
    fn the_worst_label_is_the_highest_harmful_one_among_those_watched() {
        let verdict = verdict();
        assert_eq!(
            verdict.worst(&[]).map(|score| score.label.as_str()),
            Some("INJECTION")
        );
        let watched = vec!["jailbreak".to_owned()];
        assert_eq!(
            verdict.worst(&watched).map(|score| score.label.as_str()),
            Some("JAILBREAK")
        );
        let benign = vec!["BENIGN".to_owned()];
        assert_eq!(verdict.worst(&benign), None);
    }

    #[test]
    fn a_finding_describes_itself_for_errors_and_markers() {
        let finding = GuardFinding {
            step: 2,
            branch: None,
            check: GuardCheck {
                point: GuardPoint::ToolResults,
                turn: 0,
                index: 1,
            },
            guard: "prompt".into(),
            label: "INJECTION".into(),
            score: 0.974,
            categories: Vec::new(),
            by_person: false,
        };
        assert_eq!(
            finding.marker(),
            "[redacted by guard `prompt`: INJECTION 0.97]"
        );
        assert_eq!(
            finding.blocked_error().message,
            "guard `prompt` on tool_results: blocked: INJECTION 0.97"
        );
    }
}
