//! Counting with a `tokenizer.json` (the Hugging Face tokenizers format), for model families
//! whose vocabulary weft does not embed.

use super::prompt::{PromptCounter, TextTokenizer};
use std::path::{Path, PathBuf};

/// A tokenizer read from a `tokenizer.json`.
pub struct HuggingFaceTokenizer(tokenizers::Tokenizer);

/// A `tokenizer.json` that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the tokenizer {path}: {reason}")]
pub struct TokenizerFileError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

impl HuggingFaceTokenizer {
    /// Reads `path`; the counter's key names the file's content, so counts made with another
    /// file are never taken for its own.
    pub fn open(path: &Path) -> Result<PromptCounter<Self>, TokenizerFileError> {
        let failed = |reason: String| TokenizerFileError {
            path: path.to_owned(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|error| failed(error.to_string()))?;
        let tokenizer =
            tokenizers::Tokenizer::from_bytes(&bytes).map_err(|error| failed(error.to_string()))?;
        let key = format!("tokenizer.json:{:016x}", fnv1a(&bytes));
        Ok(PromptCounter::new(Self(tokenizer), key))
    }

    /// Wraps a tokenizer already loaded (an in-process model's own), under `key`.
    pub fn counter(
        tokenizer: tokenizers::Tokenizer,
        key: impl Into<String>,
    ) -> PromptCounter<Self> {
        PromptCounter::new(Self(tokenizer), key)
    }
}

impl TextTokenizer for HuggingFaceTokenizer {
    fn count(&self, text: &str) -> usize {
        // The text carries the format's special tokens as text; the tokenizer's added
        // tokens match them. An encoding error counts the text as bytes, more than any
        // tokenizer makes of it.
        self.0
            .encode_fast(text, false)
            .map_or(text.len(), |encoding| encoding.len())
    }
}

/// FNV-1a, 64 bits: a stable digest of a file's bytes (the same in every build).
fn fnv1a(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(PRIME)
    })
}
