//! Token counting: a tokenizer of bare text ([`TextTokenizer`]) put together with a prompt
//! format into the core's [`TokenCounter`] port.
//!
//! - [`llama3`]: the Llama-3 vocabulary embedded in the `tiktoken` crate, the same
//!   128,000 merges and special tokens as Meta's tokenizer: exact counts for Llama-3.x
//!   served by TGI, vLLM or any OpenAI-compatible server.
//! - [`PromptCounter::new`] over any other [`TextTokenizer`]: an in-process model's own
//!   tokenizer, or a `tokenizer.json` (feature `tokenizer-json`).
//! - [`Estimate`]: no tokenizer is known; counts from the text's length, labelled as an
//!   estimate (context assembly then keeps a larger margin).

#[cfg(feature = "tokenizer-json")]
mod huggingface;
mod prompt;

#[cfg(feature = "tokenizer-json")]
pub use huggingface::{HuggingFaceTokenizer, TokenizerFileError};

pub use prompt::{PromptCounter, TextTokenizer};

use std::sync::Arc;
use weft_core::{Accuracy, Message, TokenCounter, ToolSpec};

/// The Llama-3 vocabulary of the `tiktoken` crate.
struct Llama3Vocabulary(&'static tiktoken::CoreBpe);

impl TextTokenizer for Llama3Vocabulary {
    fn count(&self, text: &str) -> usize {
        self.0.count_with_special_tokens(text)
    }
}

/// The key of counts made with the embedded Llama-3 vocabulary.
pub const LLAMA3_KEY: &str = "llama3";

/// Exact counts for Llama-3.x with the vocabulary embedded in the `tiktoken` crate. `None`
/// only if that crate cannot read its own embedded data.
pub fn llama3() -> Option<Arc<dyn TokenCounter>> {
    let vocabulary = tiktoken::get_encoding("llama3")?;
    Some(Arc::new(PromptCounter::new(
        Llama3Vocabulary(vocabulary),
        LLAMA3_KEY,
    )))
}

/// Whether a model's name says it is a Llama-3.x model (`meta-llama/Llama-3.1-8B-Instruct`,
/// `llama3.1:8b`, `Meta-Llama-3-70B`, `Llama-Guard-3-8B`): its tokens are then counted with
/// [`llama3`].
pub fn is_llama3_name(name: &str) -> bool {
    static PATTERN: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    PATTERN
        .get_or_init(|| {
            regex::Regex::new(r"(?i)llama[-_ ]?(?:guard[-_ ]?)?3(?:[._]\d+)?(?:[-_:/ ]|$)").ok()
        })
        .as_ref()
        .is_some_and(|pattern| pattern.is_match(name))
}

/// Counts for a model without a tokenizer: a token for every two and a half bytes of
/// UTF-8, more tokens than the Llama-3 vocabulary makes of any of the eight Llama-3.1
/// languages (English averages four bytes a token, French and German about three; Hindi
/// and Thai take three bytes a character), plus each message's framing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Estimate;

/// The key of estimated counts.
pub const ESTIMATE_KEY: &str = "estimate";

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
