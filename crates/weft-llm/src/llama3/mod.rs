//! The Llama-3.1 prompt format: rendering a conversation with the model's special tokens
//! ([`render`]) and reading the tool calls out of what the model writes ([`parse`]).
//!
//! Both are pure functions over strings: the mistralrs backend renders with them and parses
//! with them, the OpenAI-compatible backend parses with them when a server hands back a
//! tool call as plain text, and token counting renders with them.

mod parse;
pub mod parts;
mod render;
mod stream;
mod tokens;

pub use parse::{ParsedReply, parse_reply};
pub use render::{BuiltinTool, RenderOptions, ToolPlacement, render, render_tool_call};
pub use stream::{StreamingReply, may_be_call};
pub use tokens::{
    BEGIN_OF_TEXT, END_HEADER, END_OF_MESSAGE, END_OF_TEXT, END_OF_TURN, PYTHON_TAG,
    SPECIAL_TOKENS, START_HEADER, STOP_TOKENS,
};
