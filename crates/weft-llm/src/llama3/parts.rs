//! The parts of a prompt whose token counts add up to the count of the whole of it, for
//! counting a conversation message by message: special tokens separate them, and a
//! tokenizer never merges text across a special token.
//!
//! A prompt is [`frame`] plus each message as [`message`] writes it; when the
//! conversation does not begin with a system message, [`render`](super::render) writes an
//! empty one, which counts as `message` of an empty system message.

use super::render::{RenderOptions, header, push_message, system_lines, tool_definitions};
use super::tokens::BEGIN_OF_TEXT;
use weft_core::{Message, ToolSpec};

/// What a message adds to a prompt: its header, text and end token (for the first system
/// message too: its fixed lines are in [`frame`]).
pub fn message(message: &Message) -> String {
    let mut text = String::with_capacity(message.content.len() + 48);
    push_message(&mut text, message, None);
    text
}

/// What every prompt holds besides its messages: the begin-of-text token, the fixed lines
/// of the system message, the tool definitions (which `render` writes into the first user
/// message or the system message) and the open assistant header.
pub fn frame(tools: &[ToolSpec], options: &RenderOptions) -> String {
    let mut text = String::from(BEGIN_OF_TEXT);
    system_lines(&mut text, !tools.is_empty(), options);
    if !tools.is_empty() {
        tool_definitions(&mut text, tools);
    }
    header(&mut text, "assistant");
    text
}
