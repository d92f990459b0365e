//! The special tokens of the Llama-3.1 prompt format.

/// Starts every prompt.
pub const BEGIN_OF_TEXT: &str = "<|begin_of_text|>";
/// Opens a role header.
pub const START_HEADER: &str = "<|start_header_id|>";
/// Closes a role header.
pub const END_HEADER: &str = "<|end_header_id|>";
/// Ends a turn.
pub const END_OF_TURN: &str = "<|eot_id|>";
/// Ends a message after which the model expects a tool's result (a built-in tool call).
pub const END_OF_MESSAGE: &str = "<|eom_id|>";
/// Opens a tool call the model writes (built-in tools, and often custom ones).
pub const PYTHON_TAG: &str = "<|python_tag|>";
/// Ends the text (the base model's end of sequence).
pub const END_OF_TEXT: &str = "<|end_of_text|>";

/// Every special token the format uses, for tokenizers and stop lists.
pub const SPECIAL_TOKENS: [&str; 7] = [
    BEGIN_OF_TEXT,
    END_OF_TEXT,
    START_HEADER,
    END_HEADER,
    END_OF_MESSAGE,
    END_OF_TURN,
    PYTHON_TAG,
];

/// The tokens after which the model has finished its turn.
pub const STOP_TOKENS: [&str; 3] = [END_OF_TURN, END_OF_MESSAGE, END_OF_TEXT];
