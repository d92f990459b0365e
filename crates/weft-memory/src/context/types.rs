//! What assembly takes and gives: the limits of a call, the assembled context, the error.

use super::units::Counted;
use weft_core::{Accuracy, ContextReport, Message, PartReport, ToolSpec};

/// The share of the budget summaries may take, in percent.
pub const SUMMARY_SHARE: u32 = 30;
/// The share of the budget archival snippets may take, in percent.
pub const SNIPPET_SHARE: u32 = 10;

/// What a call may spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The model's context window.
    pub window: u32,
    /// The tokens kept for the reply (the call's `max_tokens`).
    pub reply: u32,
    /// Tokens kept free besides, for what counting cannot see.
    pub margin: u32,
}

impl Limits {
    /// The tokens the prompt may use. An estimated count keeps an eighth of the window
    /// more free.
    pub fn budget(&self, accuracy: Accuracy) -> u32 {
        let extra = match accuracy {
            Accuracy::Exact => 0,
            Accuracy::Estimate => self.window / 8,
        };
        self.window
            .saturating_sub(self.reply)
            .saturating_sub(self.margin)
            .saturating_sub(extra)
    }
}

/// The node's side of a call.
#[derive(Debug, Clone, Copy)]
pub struct Turn<'a> {
    /// The step's messages: its system prompt and prompt as rendered, then its own
    /// assistant turns and tool results so far.
    pub messages: &'a [Message],
    /// The tools offered.
    pub tools: &'a [ToolSpec],
}

/// An assembled context.
#[derive(Debug, Clone)]
pub struct Context {
    /// The messages to send.
    pub messages: Vec<Message>,
    /// What was sent, and why.
    pub report: ContextReport,
    /// Counts made now for session messages without a stored count: `(sequence, tokens)`,
    /// for the store to keep.
    pub counted: Vec<(u64, u32)>,
}

/// A context that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssemblyError {
    /// The system prompt and the newest user message alone pass the budget.
    #[error(
        "the prompt does not fit the model's window: the system prompt ({system} tokens), the newest user message ({prompt} tokens) and the prompt format ({frame} tokens, tool definitions included) need {needed} tokens, but a call may use {budget} (a {window}-token window less {reply} for the reply and the margin); shorten the prompt or raise the model's window"
    )]
    TooLarge {
        /// The system prompt's tokens.
        system: u32,
        /// The prompt's tokens.
        prompt: u32,
        /// The format's tokens.
        frame: u32,
        /// Their sum.
        needed: u32,
        /// The budget.
        budget: u32,
        /// The window.
        window: u32,
        /// The reply's tokens.
        reply: u32,
    },
}

/// The tokens of `counted`.
pub(crate) fn sum(counted: &[Counted]) -> u32 {
    counted
        .iter()
        .map(|counted| counted.tokens)
        .fold(0, u32::saturating_add)
}

/// The count and tokens of `counted`.
pub(crate) fn part(counted: &[Counted]) -> PartReport {
    PartReport {
        count: u32::try_from(counted.len()).unwrap_or(u32::MAX),
        tokens: sum(counted),
    }
}
