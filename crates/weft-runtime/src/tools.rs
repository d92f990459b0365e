//! A minimal tool set, `echo` and `add`, until the tools layer brings the real registry.

use serde_json::{Value, json};
use weft_core::{ErrorKind, ToolBox, ToolCall, ToolContext, ToolError, ToolFuture, ToolSpec};

/// `echo` returns its `text`; `add` returns `a + b`.
#[derive(Debug, Default, Clone, Copy)]
pub struct BasicTools;

impl BasicTools {
    /// Every tool's spec.
    pub fn specs() -> Vec<ToolSpec> {
        vec![
            ToolSpec {
                name: "echo".into(),
                description: "Returns the text it is given.".into(),
                parameters: json!({
                    "type": "object",
                    "properties": { "text": { "type": "string", "description": "The text to return." } },
                    "required": ["text"],
                    "additionalProperties": false
                }),
            },
            ToolSpec {
                name: "add".into(),
                description: "Adds two numbers.".into(),
                parameters: json!({
                    "type": "object",
                    "properties": {
                        "a": { "type": "number", "description": "The first number." },
                        "b": { "type": "number", "description": "The second number." }
                    },
                    "required": ["a", "b"],
                    "additionalProperties": false
                }),
            },
        ]
    }
}

fn invalid(tool: &str, message: impl std::fmt::Display) -> ToolError {
    ToolError::new(ErrorKind::InvalidInput, format!("{tool}: {message}"))
}

fn run(call: &ToolCall) -> Result<Value, ToolError> {
    let arguments = call
        .arguments
        .as_object()
        .ok_or_else(|| invalid(&call.name, "arguments must be a JSON object"))?;
    match call.name.as_str() {
        "echo" => {
            let text = arguments
                .get("text")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("echo", "`text` (a string) is required"))?;
            Ok(Value::String(text.to_owned()))
        }
        "add" => {
            let number = |name: &str| {
                arguments
                    .get(name)
                    .filter(|value| value.is_number())
                    .ok_or_else(|| invalid("add", format!("`{name}` (a number) is required")))
            };
            let (a, b) = (number("a")?, number("b")?);
            if let (Some(a), Some(b)) = (a.as_i64(), b.as_i64())
                && let Some(sum) = a.checked_add(b)
            {
                return Ok(json!(sum));
            }
            let sum = a.as_f64().unwrap_or(f64::NAN) + b.as_f64().unwrap_or(f64::NAN);
            serde_json::Number::from_f64(sum)
                .map(Value::Number)
                .ok_or_else(|| invalid("add", "the sum is not a finite number"))
        }
        other => Err(ToolError::new(
            ErrorKind::NotFound,
            format!("unknown tool `{other}`; known tools: echo, add"),
        )),
    }
}

impl ToolBox for BasicTools {
    fn spec(&self, name: &str) -> Option<ToolSpec> {
        Self::specs().into_iter().find(|spec| spec.name == name)
    }

    fn names(&self) -> Vec<String> {
        Self::specs().into_iter().map(|spec| spec.name).collect()
    }

    fn call(&self, call: ToolCall, _context: ToolContext) -> ToolFuture {
        let result = run(&call);
        Box::pin(std::future::ready(result))
    }
}
