//! How a workflow's model calls use memory: its `memory:` section, compiled.

/// Who writes a session's summaries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Summarizer {
    /// The model of the node whose call made compaction due (the default).
    #[default]
    NodeModel,
    /// This model (a weft.toml name or a spec).
    Model(String),
    /// No model: summaries keep the first and last lines of each message.
    Extractive,
}

/// A workflow's memory settings, with their defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemorySettings {
    /// Tokens kept free besides the reply; `None`: 1% of the window, at least 32.
    pub margin: Option<u32>,
    /// Tokens kept for a reply when a node's `max_tokens` does not say.
    pub reply_tokens: u32,
    /// The share of the budget, in percent, past which a session is compacted.
    pub compact_at: u32,
    /// Who writes summaries.
    pub summarizer: Summarizer,
    /// Archival snippets given to each call.
    pub snippets: u32,
}

/// The default of `memory.reply_tokens`.
pub const DEFAULT_REPLY_TOKENS: u32 = 1024;
/// The default of `memory.compact_at`.
pub const DEFAULT_COMPACT_AT: u32 = 80;
/// The default of `memory.snippets`.
pub const DEFAULT_SNIPPETS: u32 = 3;

impl Default for MemorySettings {
    fn default() -> Self {
        Self {
            margin: None,
            reply_tokens: DEFAULT_REPLY_TOKENS,
            compact_at: DEFAULT_COMPACT_AT,
            summarizer: Summarizer::NodeModel,
            snippets: DEFAULT_SNIPPETS,
        }
    }
}

impl MemorySettings {
    /// The margin for a model with this window.
    pub fn margin_for(&self, window: u32) -> u32 {
        self.margin.unwrap_or_else(|| (window / 100).max(32))
    }

    /// The tokens kept for a reply of a call that asks for `max_tokens` (or does not say),
    /// with a model of this window: never more than a quarter of the window unless the
    /// call asked for it.
    pub fn reply_for(&self, max_tokens: Option<u32>, window: u32) -> u32 {
        max_tokens.unwrap_or_else(|| self.reply_tokens.min(window / 4))
    }
}
