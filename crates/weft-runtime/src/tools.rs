//! A minimal tool set until the tools layer brings the real registry: `echo` and `add`
//! (pure, so idempotent) and `append_line` (a file side effect, made idempotent by its key).

use serde_json::{Value, json};
use weft_core::{ErrorKind, ToolBox, ToolCall, ToolContext, ToolError, ToolFuture, ToolSpec};

/// `echo` returns its `text`; `add` returns `a + b`; `append_line` appends a line to a file.
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
            ToolSpec {
                name: "append_line".into(),
                description: "Appends a line to a text file under the working directory. Each line is written as `KEY<tab>LINE`, KEY being the call's idempotency key, and a call whose key is in the file already writes nothing: a call repeated after a crash appends once.".into(),
                parameters: json!({
                    "type": "object",
                    "properties": {
                        "path": { "type": "string", "description": "The file, relative to the working directory (created if missing)." },
                        "line": { "type": "string", "description": "The text to append (one line)." }
                    },
                    "required": ["path", "line"],
                    "additionalProperties": false
                }),
            },
        ]
    }
}

fn invalid(tool: &str, message: impl std::fmt::Display) -> ToolError {
    ToolError::new(ErrorKind::InvalidInput, format!("{tool}: {message}"))
}

fn run(call: &ToolCall, context: &ToolContext) -> Result<Value, ToolError> {
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
        "append_line" => {
            let text = |name: &str| {
                arguments.get(name).and_then(Value::as_str).ok_or_else(|| {
                    invalid("append_line", format!("`{name}` (a string) is required"))
                })
            };
            append_line(text("path")?, text("line")?, &context.idempotency_key)
        }
        other => Err(ToolError::new(
            ErrorKind::NotFound,
            format!("unknown tool `{other}`; known tools: echo, add, append_line"),
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

    fn call(&self, call: ToolCall, context: ToolContext) -> ToolFuture {
        let result = run(&call, &context);
        Box::pin(std::future::ready(result))
    }

    fn is_idempotent(&self, name: &str) -> bool {
        matches!(name, "echo" | "add" | "append_line")
    }
}

/// Appends `KEY<tab>LINE` unless a line with this key is in the file already. The line is
/// one `write` to a file opened for appending, so a process killed mid-call leaves either
/// the whole line or none of it. Returns the line, the same on every attempt.
fn append_line(path: &str, line: &str, key: &str) -> Result<Value, ToolError> {
    use std::io::Write;
    let relative = std::path::Path::new(path);
    if path.is_empty()
        || relative.is_absolute()
        || relative
            .components()
            .any(|part| !matches!(part, std::path::Component::Normal(_)))
    {
        return Err(invalid(
            "append_line",
            format!(
                "`path` must be a relative path under the working directory without `..`; got `{path}`"
            ),
        ));
    }
    if line.contains('\n') {
        return Err(invalid("append_line", "`line` must be a single line"));
    }
    let failed = |error: std::io::Error| {
        ToolError::new(ErrorKind::Upstream, format!("append_line: {path}: {error}"))
    };
    let tag = format!("{key}\t");
    match std::fs::read_to_string(relative) {
        Ok(existing) if existing.lines().any(|written| written.starts_with(&tag)) => {
            return Ok(Value::String(line.to_owned()));
        }
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(failed(error)),
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(relative)
        .map_err(failed)?;
    file.write_all(format!("{tag}{line}\n").as_bytes())
        .map_err(failed)?;
    Ok(Value::String(line.to_owned()))
}
