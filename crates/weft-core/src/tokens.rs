//! The token-counting port: how many tokens a message costs a model, counted the way the
//! model's prompt format renders it (role headers and end-of-turn tokens included).

use crate::message::{Message, ToolSpec};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Whether counts are exact or estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Accuracy {
    /// Counted with the model's own tokenizer (or an exact copy of its vocabulary).
    Exact,
    /// No tokenizer is known for the model: an estimate from the text's length, which
    /// context assembly gives a margin.
    Estimate,
}

impl Accuracy {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::Estimate => "estimate",
        }
    }
}

/// Counts tokens as one model's prompt format renders a conversation. A whole prompt costs
/// [`TokenCounter::frame`] plus the sum of its messages' [`TokenCounter::message`]: the
/// parts are split where the format puts special tokens, which a tokenizer never merges
/// across, so the sum is the count of the rendered prompt.
pub trait TokenCounter: Send + Sync {
    /// Names the tokenizer and the prompt format (`llama3`, `tokenizer.json:<digest>`,
    /// `estimate`): counts are stored under it, so one text is never counted twice by one
    /// tokenizer.
    fn key(&self) -> &str;
    /// [`TokenCounter::key`] as a shared string, for the report every model call records:
    /// a counter that keeps its key as one hands out a copy without allocating.
    fn shared_key(&self) -> Arc<str> {
        Arc::from(self.key())
    }
    /// Whether the counts are exact.
    fn accuracy(&self) -> Accuracy;
    /// The tokens of bare text, as it appears inside a message.
    fn text(&self, text: &str) -> u32;
    /// The tokens `message` adds to a prompt: its role header, its text (a tool call as
    /// the model writes it) and its end-of-turn token. A system message costs its text
    /// only: its header and fixed lines belong to the frame.
    fn message(&self, message: &Message) -> u32;
    /// The tokens every prompt has besides its messages: the begin-of-text token, the
    /// system header and its fixed lines, the definitions of `tools`, and the header that
    /// opens the model's reply.
    fn frame(&self, tools: &[ToolSpec]) -> u32;
}
