//! A text tokenizer put together with the Llama-3.1 prompt format.

use crate::llama3::{RenderOptions, parts};
use weft_core::{Accuracy, Message, TokenCounter, ToolSpec};

/// A tokenizer of bare text, special tokens of the prompt format included.
pub trait TextTokenizer: Send + Sync {
    /// The tokens of `text`; the format's special tokens count one each.
    fn count(&self, text: &str) -> usize;
}

/// Counts messages as the Llama-3.1 prompt format renders them, with `tokenizer`.
pub struct PromptCounter<T> {
    tokenizer: T,
    key: std::sync::Arc<str>,
    options: RenderOptions,
}

impl<T: TextTokenizer> PromptCounter<T> {
    /// A counter named `key` (stored counts are keyed by it: two tokenizers that may
    /// disagree must have different keys).
    pub fn new(tokenizer: T, key: impl Into<String>) -> Self {
        Self {
            tokenizer,
            key: std::sync::Arc::from(key.into()),
            options: RenderOptions::default(),
        }
    }

    fn tokens(&self, text: &str) -> u32 {
        u32::try_from(self.tokenizer.count(text)).unwrap_or(u32::MAX)
    }
}

impl<T: TextTokenizer> TokenCounter for PromptCounter<T> {
    fn key(&self) -> &str {
        &self.key
    }

    fn shared_key(&self) -> std::sync::Arc<str> {
        self.key.clone()
    }

    fn accuracy(&self) -> Accuracy {
        Accuracy::Exact
    }

    fn text(&self, text: &str) -> u32 {
        self.tokens(text)
    }

    fn message(&self, message: &Message) -> u32 {
        self.tokens(&parts::message(message))
    }

    fn frame(&self, tools: &[ToolSpec]) -> u32 {
        self.tokens(&parts::frame(tools, &self.options))
    }
}
