//! Counts for a model without a tokenizer: an estimate, labelled as one.

use std::sync::{Arc, LazyLock};
use weft_core::{Accuracy, Message, TokenCounter, ToolSpec};

/// Counts for a model without a tokenizer: a token for every two and a half bytes of
/// UTF-8, more tokens than the Llama-3 vocabulary makes of any of the eight Llama-3.1
/// languages (English averages four bytes a token, French and German about three; Hindi
/// and Thai take three bytes a character), plus each message's framing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Estimate;

/// The key of estimated counts.
pub const ESTIMATE_KEY: &str = "estimate";

/// The key, shared by every report of an estimate.
static SHARED_KEY: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(ESTIMATE_KEY));

/// Tokens an estimate adds for a message's header and end-of-turn token.
const ESTIMATED_MESSAGE_FRAME: u32 = 6;
/// Tokens an estimate adds for a prompt's own lines.
const ESTIMATED_PROMPT_FRAME: u32 = 32;
/// Tokens an estimate adds for the instructions before tool definitions.
const ESTIMATED_TOOL_INSTRUCTIONS: u32 = 80;

impl Estimate {
    fn bytes(text: &str) -> u32 {
        u32::try_from((text.len() * 2).div_ceil(5)).unwrap_or(u32::MAX)
    }
}

impl TokenCounter for Estimate {
    fn key(&self) -> &str {
        ESTIMATE_KEY
    }

    fn shared_key(&self) -> Arc<str> {
        Arc::clone(&SHARED_KEY)
    }

    fn accuracy(&self) -> Accuracy {
        Accuracy::Estimate
    }

    fn text(&self, text: &str) -> u32 {
        Self::bytes(text)
    }

    fn message(&self, message: &Message) -> u32 {
        let calls: u32 = message
            .tool_calls
            .iter()
            .map(|call| {
                Self::bytes(&call.name).saturating_add(Self::bytes(&call.arguments.to_string()))
            })
            .fold(0, u32::saturating_add);
        Self::bytes(&message.content)
            .saturating_add(calls)
            .saturating_add(ESTIMATED_MESSAGE_FRAME)
    }

    fn frame(&self, tools: &[ToolSpec]) -> u32 {
        // Tool definitions are written indented, with instructions before them: twice
        // their compact JSON's estimate, and the instructions' share.
        let definitions = tools
            .iter()
            .map(|tool| {
                Self::bytes(&tool.name)
                    .saturating_add(Self::bytes(&tool.description))
                    .saturating_add(Self::bytes(&tool.parameters.to_string()))
                    .saturating_mul(2)
                    .saturating_add(ESTIMATED_MESSAGE_FRAME)
            })
            .fold(0, u32::saturating_add);
        let instructions = if tools.is_empty() {
            0
        } else {
            ESTIMATED_TOOL_INSTRUCTIONS
        };
        ESTIMATED_PROMPT_FRAME
            .saturating_add(instructions)
            .saturating_add(definitions)
    }
}
