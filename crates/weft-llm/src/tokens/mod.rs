//! Token counting with the Llama-3.1 prompt format: a tokenizer of bare text
//! ([`TextTokenizer`]) put together with the format into the core's [`TokenCounter`] port.
//!
//! - [`llama3`]: the Llama-3 vocabulary embedded in the `tiktoken` crate, the same
//!   128,000 merges and special tokens as Meta's tokenizer: exact counts for Llama-3.x
//!   served by TGI, vLLM or any OpenAI-compatible server.
//! - [`PromptCounter::new`] over any other [`TextTokenizer`]: an in-process model's own
//!   tokenizer, or a `tokenizer.json` (feature `tokenizer-json`).
//!
//! Without any tokenizer, `weft_memory::Estimate` counts from the text's length.

#[cfg(feature = "tokenizer-json")]
mod huggingface;
mod prompt;

#[cfg(feature = "tokenizer-json")]
pub use huggingface::{HuggingFaceTokenizer, TokenizerFileError};

pub use prompt::{PromptCounter, TextTokenizer};

use std::sync::Arc;
use weft_core::{ChatModel, ChatRequest, ChatStream, TokenCounter};

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

/// A model with the counter it lacks (a Llama-3.x model served elsewhere counts with the
/// embedded vocabulary): what the composition hands the runtime.
pub struct Counted {
    model: Arc<dyn ChatModel>,
    counter: Arc<dyn TokenCounter>,
}

/// `model`, counting with `counter` (a `tokenizer.json` named in weft.toml).
pub fn with_counter(
    model: Arc<dyn ChatModel>,
    counter: Arc<dyn TokenCounter>,
) -> Arc<dyn ChatModel> {
    Arc::new(Counted { model, counter })
}

/// `model`, counting with its own counter when it has one, else with the Llama-3
/// vocabulary when `spec` or the model's name says it is a Llama-3.x model; as it is
/// otherwise (the runtime then estimates).
pub fn with_family_counter(model: Arc<dyn ChatModel>, spec: &str) -> Arc<dyn ChatModel> {
    if model.token_counter().is_some() {
        return model;
    }
    let llama =
        model.model_name().is_some_and(|name| is_llama3_name(&name)) || is_llama3_name(spec);
    match llama3().filter(|_| llama) {
        Some(counter) => Arc::new(Counted { model, counter }),
        None => model,
    }
}

impl ChatModel for Counted {
    fn context_window(&self) -> u32 {
        self.model.context_window()
    }
    fn chat(&self, request: ChatRequest) -> ChatStream {
        self.model.chat(request)
    }
    fn model_name(&self) -> Option<String> {
        self.model.model_name()
    }
    fn token_counter(&self) -> Option<Arc<dyn TokenCounter>> {
        Some(self.counter.clone())
    }
}
