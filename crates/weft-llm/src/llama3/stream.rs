//! Streaming a Llama-3.1 reply: text passes on as it comes, unless it may still turn out
//! to be a tool call, which is held back and read whole at the end. No I/O.

use super::parse::ParsedReply;
use super::parse::parse_reply;
use super::tokens::PYTHON_TAG;

/// One reply in progress.
#[derive(Debug, Default)]
pub struct StreamingReply {
    offered: Vec<String>,
    deciding: bool,
    held: String,
}

impl StreamingReply {
    /// A reply to a request that offered the tools `offered` (with none, text always streams).
    pub fn new(offered: Vec<String>) -> Self {
        let deciding = !offered.is_empty();
        Self {
            offered,
            deciding,
            held: String::new(),
        }
    }

    /// Takes more text; returns what can be shown now.
    pub fn push(&mut self, text: &str) -> Option<String> {
        if !self.deciding {
            return (!text.is_empty()).then(|| text.to_owned());
        }
        self.held.push_str(text);
        if may_be_call(&self.held) {
            return None;
        }
        self.deciding = false;
        Some(std::mem::take(&mut self.held))
    }

    /// The end, when the calls are known otherwise: what was held back, as text.
    pub fn into_text(self) -> String {
        self.held
    }

    /// The end: what was held back, split into text and tool calls.
    pub fn finish(self) -> ParsedReply {
        if self.held.is_empty() {
            return ParsedReply::default();
        }
        let offered = self.offered;
        let parsed = parse_reply(&self.held, &|name| offered.iter().any(|tool| tool == name));
        if parsed.tool_calls.is_empty() {
            // Not a call after all: the text goes out as the model wrote it.
            return ParsedReply {
                text: self.held,
                tool_calls: Vec::new(),
            };
        }
        parsed
    }
}

/// Whether text that has arrived so far may still turn out to be a tool call.
pub fn may_be_call(text: &str) -> bool {
    let text = text.trim_start();
    if text.is_empty() || text.starts_with('{') {
        return true;
    }
    [
        PYTHON_TAG,
        "<function=",
        "brave_search.call(",
        "wolfram_alpha.call(",
    ]
    .iter()
    .any(|marker| text.starts_with(marker) || marker.starts_with(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_streams_once_it_cannot_be_a_call() {
        let mut reply = StreamingReply::new(vec!["add".into()]);
        assert_eq!(reply.push(" "), None);
        assert_eq!(reply.push("The"), Some(" The".into()));
        assert_eq!(reply.push(" answer"), Some(" answer".into()));
        assert_eq!(reply.finish(), ParsedReply::default());
    }

    #[test]
    fn a_call_is_held_and_parsed() {
        let mut reply = StreamingReply::new(vec!["add".into()]);
        for piece in ["{\"name\": \"a", "dd\", \"parameters\": {\"a\": 1}}"] {
            assert_eq!(reply.push(piece), None);
        }
        let parsed = reply.finish();
        assert_eq!(parsed.tool_calls.len(), 1);
        assert_eq!(parsed.tool_calls[0].name, "add");
    }

    #[test]
    fn held_json_that_is_no_call_comes_back_as_text() {
        let mut reply = StreamingReply::new(vec!["add".into()]);
        assert_eq!(reply.push("{\"answer\": 4}"), None);
        assert_eq!(reply.finish().text, "{\"answer\": 4}");
    }
}
