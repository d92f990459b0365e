//! The system messages memory adds to a context: the pinned facts, the summaries of older
//! history and the archival snippets, each in the words the model reads.

use weft_core::{Message, Pin, Snippet, Summary, TokenCounter};

/// The pinned facts as one system message: `None` without any.
pub(crate) fn pins(pins: &[Pin]) -> Option<Message> {
    if pins.is_empty() {
        return None;
    }
    let mut text = String::from(
        "Pinned facts about this conversation (true until unpinned; memory_unpin(id) removes one):",
    );
    for pin in pins {
        text.push_str(&format!("\n- [{}] {}", pin.id, pin.text));
    }
    Some(Message::system(text))
}

/// The text of a summary's message.
pub(crate) fn summary(summary: &Summary) -> Message {
    Message::system(format!(
        "Summary of earlier conversation (messages {} to {}):\n{}",
        summary.first, summary.last, summary.text
    ))
}

/// The archival snippets as one system message: `None` without any.
pub(crate) fn snippets(snippets: &[Snippet]) -> Option<Message> {
    if snippets.is_empty() {
        return None;
    }
    let mut text = String::from(
        "From this conversation's archive, passages that may be relevant (memory_read(id) reads one whole):",
    );
    for snippet in snippets {
        text.push_str(&format!("\n[{}] {}", snippet.reference(), snippet.text));
    }
    Some(Message::system(text))
}

/// The most pins, newest kept, whose message fits in `room`: the message, its tokens and
/// the ids of the pins left out (oldest first).
pub(crate) fn fitting_pins(
    all: &[Pin],
    room: u32,
    counter: &dyn TokenCounter,
) -> (Option<(Message, u32)>, Vec<u64>) {
    let mut first = 0;
    while first < all.len() {
        if let Some(message) = pins(&all[first..]) {
            let tokens = counter.message(&message);
            if tokens <= room {
                let left_out = all[..first].iter().map(|pin| pin.id).collect();
                return (Some((message, tokens)), left_out);
            }
        }
        // Leave out the oldest pins, a share at a time when there are many.
        first += ((all.len() - first) / 8).max(1);
    }
    (None, all.iter().map(|pin| pin.id).collect())
}

/// The most relevant snippets whose message fits in `room`.
pub(crate) fn fitting_snippets(
    all: &[Snippet],
    room: u32,
    counter: &dyn TokenCounter,
) -> Option<(Message, u32, Vec<String>)> {
    let mut count = all.len();
    while count > 0 {
        if let Some(message) = snippets(&all[..count]) {
            let tokens = counter.message(&message);
            if tokens <= room {
                let references = all[..count].iter().map(Snippet::reference).collect();
                return Some((message, tokens, references));
            }
        }
        count -= 1;
    }
    None
}
