//! Sessions: named, long-lived conversations. What a store hands context assembly (a
//! [`SessionView`]) and what assembly reports about each model call ([`ContextReport`]).

pub use crate::ids::SessionId;
use crate::message::Message;
use crate::tokens::Accuracy;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The session a run belongs to, as its `RunStarted` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRef {
    /// The session.
    pub id: SessionId,
    /// Its name, for people reading the log.
    pub name: String,
}

/// A message of a session's transcript, with its place in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionMessage {
    /// Its place in the session, from 1.
    pub sequence: u64,
    /// The message.
    pub message: Message,
    /// Its tokens for the tokenizer the view was read for, when counted before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u32>,
}

/// A fact pinned to a session: in every context, never compacted away.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pin {
    /// Its id in the session.
    pub id: u64,
    /// The fact.
    pub text: String,
}

/// A summary of a span of a session: of messages (level 0) or of other summaries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Its id in the session.
    pub id: u64,
    /// 0 for a summary of messages; one more than the highest level it summarizes.
    pub level: u32,
    /// The first message it covers.
    pub first: u64,
    /// The last message it covers.
    pub last: u64,
    /// The summary.
    pub text: String,
    /// Its tokens, when counted before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u32>,
}

/// Where an archival snippet comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnippetSource {
    /// A message of the transcript (a tool result is one too).
    Message,
    /// A note saved with `memory_save`.
    Note,
}

/// A passage found in a session's archive, relevant to the current turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snippet {
    /// What it is.
    pub source: SnippetSource,
    /// The message's sequence number or the note's id.
    pub id: u64,
    /// The text.
    pub text: String,
}

impl Snippet {
    /// The reference `memory_read` takes: `m12` for message 12, `n3` for note 3.
    pub fn reference(&self) -> String {
        reference(self.source, self.id)
    }
}

/// The reference `memory_read` takes for a message or a note.
pub fn reference(source: SnippetSource, id: u64) -> String {
    match source {
        SnippetSource::Message => format!("m{id}"),
        SnippetSource::Note => format!("n{id}"),
    }
}

/// What context assembly needs of a session, read for one tokenizer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionView {
    /// Pinned facts, oldest first.
    pub pins: Vec<Pin>,
    /// The summaries that together cover the oldest messages, in order: the highest-level
    /// ones, none covered by another.
    pub summaries: Vec<Summary>,
    /// Archival snippets relevant to the current turn, most relevant first.
    pub snippets: Vec<Snippet>,
    /// The messages after the summaries, oldest first. A store may leave out the oldest of
    /// them when they could not fit anyway.
    pub messages: Vec<SessionMessage>,
    /// Messages after the summaries that the store left out.
    pub omitted: u64,
}

impl SessionView {
    /// Whether the view adds nothing to a context: a run without a session, or a new one.
    pub fn is_empty(&self) -> bool {
        self.pins.is_empty()
            && self.summaries.is_empty()
            && self.snippets.is_empty()
            && self.messages.is_empty()
            && self.omitted == 0
    }
}

/// A part of a context, as reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartReport {
    /// How many items it holds.
    pub count: u32,
    /// Their tokens.
    pub tokens: u32,
}

impl ContextReport {
    /// The report of a context that holds nothing yet, counted by `tokenizer`.
    pub fn empty(
        tokenizer: impl Into<Arc<str>>,
        accuracy: Accuracy,
        window: u32,
        budget: u32,
    ) -> Self {
        Self {
            tokenizer: tokenizer.into(),
            accuracy,
            window,
            budget,
            used: 0,
            frame: 0,
            system: 0,
            pins: PartReport::default(),
            pins_left_out: Vec::new(),
            summaries: Vec::new(),
            summary_tokens: 0,
            snippets: Vec::new(),
            snippet_tokens: 0,
            history: None,
            history_part: PartReport::default(),
            history_left_out: 0,
            current: PartReport::default(),
            current_left_out: 0,
            cut: Vec::new(),
            compaction_due: false,
        }
    }
}

impl PartReport {
    /// Whether the part holds nothing.
    pub fn is_empty(&self) -> bool {
        self.count == 0 && self.tokens == 0
    }
}

/// Whether a count is zero (left out of a report's JSON).
fn is_zero<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// A tool result that was cut to fit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CutResult {
    /// The session message it is, when it is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// The tool call it answers.
    pub tool_call_id: String,
    /// Its tokens.
    pub tokens: u32,
    /// The tokens kept.
    pub kept: u32,
}

/// What one model call was given, and why: recorded with its reply. Zero counts and empty
/// parts are left out of its JSON (every model call's event carries one) and read back as
/// zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextReport {
    /// The tokenizer the counts are from (shared: every model call's report names it).
    pub tokenizer: Arc<str>,
    /// Whether they are exact.
    pub accuracy: Accuracy,
    /// The model's window.
    pub window: u32,
    /// What the prompt could use: the window less the reply's tokens and the margin.
    pub budget: u32,
    /// What the prompt used.
    pub used: u32,
    /// The prompt format's own tokens and the tool definitions.
    pub frame: u32,
    /// The node's system prompt.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub system: u32,
    /// Pinned facts sent.
    #[serde(default, skip_serializing_if = "PartReport::is_empty")]
    pub pins: PartReport,
    /// Pins left out because they alone would not fit, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pins_left_out: Vec<u64>,
    /// Summaries sent (their ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub summaries: Vec<u64>,
    /// Their tokens.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub summary_tokens: u32,
    /// Archival snippets sent (`m12`, `n3`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub snippets: Vec<String>,
    /// Their tokens.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub snippet_tokens: u32,
    /// The session's messages sent: first and last sequence numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<(u64, u64)>,
    /// Their count and tokens.
    #[serde(default, skip_serializing_if = "PartReport::is_empty")]
    pub history_part: PartReport,
    /// Older messages not sent (covered by a summary or not).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub history_left_out: u64,
    /// The messages of the current step sent (its prompt, its own tool turns).
    pub current: PartReport,
    /// The current step's earlier turns left out for room.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub current_left_out: u32,
    /// Tool results cut to fit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cut: Vec<CutResult>,
    /// Whether the session should be compacted before its next call.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub compaction_due: bool,
}

/// A summary compaction made, as its event records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSummary {
    /// 0 for a summary of messages, else one more than the highest level it merges.
    pub level: u32,
    /// The first message it covers.
    pub first: u64,
    /// The last.
    pub last: u64,
    /// The summary.
    pub text: String,
    /// The summaries it merges (their ids), for a summary of summaries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merges: Vec<u64>,
    /// The model that wrote it; `None`: the extractive fallback did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> ContextReport {
        ContextReport {
            used: 60,
            frame: 38,
            current: PartReport {
                count: 1,
                tokens: 22,
            },
            ..ContextReport::empty("estimate", Accuracy::Estimate, 8192, 7000)
        }
    }

    #[test]
    fn a_report_leaves_zeros_out_and_reads_them_back() {
        let text = serde_json::to_string(&report()).unwrap();
        assert_eq!(
            text,
            r#"{"tokenizer":"estimate","accuracy":"estimate","window":8192,"budget":7000,"used":60,"frame":38,"current":{"count":1,"tokens":22}}"#
        );
        let read: ContextReport = serde_json::from_str(&text).unwrap();
        assert_eq!(read, report());
        // A log written before zeros were left out reads the same.
        let old = r#"{"tokenizer":"estimate","accuracy":"estimate","window":8192,"budget":7000,"used":60,"frame":38,"system":0,"pins":{"count":0,"tokens":0},"summary_tokens":0,"snippet_tokens":0,"history_part":{"count":0,"tokens":0},"history_left_out":0,"current":{"count":1,"tokens":22},"current_left_out":0,"compaction_due":false}"#;
        let read: ContextReport = serde_json::from_str(old).unwrap();
        assert_eq!(read, report());
    }
}
