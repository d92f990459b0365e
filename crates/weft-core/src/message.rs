//! Chat messages, tool calls and tool specifications.

use crate::error::{ErrorKind, ToolError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Instructions to the model.
    System,
    /// The person or the workflow speaking to the model.
    User,
    /// The model.
    Assistant,
    /// The result of a tool call (Llama-3.1 calls this role `ipython`).
    Tool,
}

/// One message of a conversation with a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// Its text.
    pub content: String,
    /// Tool calls the assistant asked for in this message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a tool result: the id of the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }

    /// An assistant message, with the tool calls it made.
    pub fn assistant(content: impl Into<String>, tool_calls: Vec<ToolCall>) -> Self {
        Self {
            tool_calls,
            ..Self::new(Role::Assistant, content)
        }
    }

    /// The result of the tool call `tool_call_id`.
    pub fn tool_result(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            tool_call_id: Some(tool_call_id.into()),
            ..Self::new(Role::Tool, content)
        }
    }

    fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
}

/// A request to run a tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call's id: the model's own id when it gave one, otherwise one weft made.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, as JSON (`null` when the model's text was not JSON).
    pub arguments: Value,
    /// The model's arguments text exactly as written, when it was not valid JSON. Such a
    /// call is never run: the model is told what was wrong and may try again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unparsed_arguments: Option<String>,
}

impl ToolCall {
    /// A call with arguments already parsed.
    pub fn new(id: impl Into<String>, name: impl Into<String>, arguments: Value) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            arguments,
            unparsed_arguments: None,
        }
    }

    /// A call whose arguments a model wrote as text (as chat-completion servers send them):
    /// parsed when it is JSON (empty text is `{}`, a call without arguments), kept as
    /// written otherwise, for [`ToolCall::malformed_error`] to report.
    pub fn from_text(id: impl Into<String>, name: impl Into<String>, text: &str) -> Self {
        let trimmed = text.trim();
        let (arguments, unparsed_arguments) = if trimmed.is_empty() {
            (Value::Object(serde_json::Map::new()), None)
        } else {
            match serde_json::from_str(trimmed) {
                Ok(arguments) => (arguments, None),
                Err(_) => (Value::Null, Some(text.to_owned())),
            }
        };
        Self {
            id: id.into(),
            name: name.into(),
            arguments,
            unparsed_arguments,
        }
    }

    /// The error a model gets for a call whose arguments were not JSON: where the text
    /// stopped being JSON, the text itself, and `expected_schema` when the tool is known.
    /// `None` for a call whose arguments parsed.
    pub fn malformed_error(&self, expected_schema: Option<&Value>) -> Option<ToolError> {
        let text = self.unparsed_arguments.as_deref()?;
        let problem = match serde_json::from_str::<Value>(text.trim()) {
            Err(error) => error.to_string(),
            Ok(_) => "the arguments were not read as JSON".to_owned(),
        };
        let mut report = serde_json::json!({
            "error": "malformed_arguments",
            "tool": self.name,
            "message": format!("the arguments are not valid JSON: {problem}"),
            "received": text,
        });
        if let (Some(schema), Some(object)) = (expected_schema, report.as_object_mut()) {
            object.insert("expected_schema".to_owned(), schema.clone());
        }
        Some(ToolError::new(ErrorKind::InvalidInput, report.to_string()))
    }
}

/// What a model is told about a tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// The tool's name.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// The JSON Schema of its arguments.
    pub parameters: Value,
}
