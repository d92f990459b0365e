//! The `memory:` section, checked and compiled.

use super::compiler::Compiler;
use crate::memory::{
    DEFAULT_COMPACT_AT, DEFAULT_REPLY_TOKENS, DEFAULT_SNIPPETS, MemorySettings, Summarizer,
};

impl Compiler<'_> {
    /// The workflow's memory settings; values out of range are located errors.
    pub(super) fn memory(&mut self) -> MemorySettings {
        let Some(spec) = self.spec.memory.clone() else {
            return MemorySettings::default();
        };
        let compact_at = spec.compact_at.unwrap_or(DEFAULT_COMPACT_AT);
        if !(10..=100).contains(&compact_at) {
            self.error_at_value(
                &["memory", "compact_at"],
                format!("`compact_at` is a share of the budget in percent, from 10 to 100; {compact_at} is not"),
                Some("the default is 80: compact once a session would fill 80% of the budget".into()),
            );
        }
        if spec.reply_tokens == Some(0) {
            self.error_at_value(
                &["memory", "reply_tokens"],
                "`reply_tokens` must be at least 1".into(),
                None,
            );
        }
        let summarizer = match spec.summarizer.as_deref().map(str::trim) {
            None => Summarizer::NodeModel,
            Some("none") => Summarizer::Extractive,
            Some("") => {
                self.error_at_value(
                    &["memory", "summarizer"],
                    "`summarizer` is empty".into(),
                    Some("name a model (a weft.toml name or a spec), or `none` for extractive summaries".into()),
                );
                Summarizer::NodeModel
            }
            Some(model) => Summarizer::Model(model.to_owned()),
        };
        MemorySettings {
            margin: spec.margin,
            reply_tokens: spec.reply_tokens.unwrap_or(DEFAULT_REPLY_TOKENS).max(1),
            compact_at: compact_at.clamp(10, 100),
            summarizer,
            snippets: spec.snippets.unwrap_or(DEFAULT_SNIPPETS),
        }
    }
}
