//! Reading the tool calls out of what a Llama-3.1 model writes.
//!
//! The forms, in the order they are tried:
//! - `<|python_tag|>` followed by calls separated by `;`: JSON (`{"name": ...,
//!   "parameters": ...}`), a built-in tool (`brave_search.call(query="...")`), or else Python
//!   code for `code_interpreter`;
//! - `<function=name>{...}</function>`, anywhere in the text;
//! - bare JSON, the whole reply, naming a tool that was offered;
//! - `name.call(key=value, ...)` alone, naming a built-in or offered tool.
//!
//! Whatever is not a call stays text. Nothing here panics, whatever the input.

use super::render::BuiltinTool;
use super::tokens::{END_OF_MESSAGE, END_OF_TEXT, END_OF_TURN, PYTHON_TAG};
use serde_json::{Map, Value};
use weft_core::ToolCall;

/// A model's reply split into text and tool calls.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedReply {
    /// The text that is not a call.
    pub text: String,
    /// The calls, in order; ids are `call_0`, `call_1`, ...
    pub tool_calls: Vec<ToolCall>,
}

/// Splits `reply` into text and tool calls; `is_tool` says whether a name is a tool the model
/// was offered (bare JSON and `name.call(...)` count as calls only for such names or
/// built-in tools).
pub fn parse_reply(reply: &str, is_tool: &dyn Fn(&str) -> bool) -> ParsedReply {
    let reply = strip_stop_tokens(reply);
    let mut calls = Vec::new();

    if let Some(position) = reply.find(PYTHON_TAG) {
        let text = reply[..position].trim().to_owned();
        let body = reply[position + PYTHON_TAG.len()..].trim();
        python_tag_calls(body, &mut calls);
        return finish(text, calls);
    }

    if reply.contains("<function=") {
        let mut text = String::new();
        let mut rest = reply;
        while let Some(start) = rest.find("<function=") {
            text.push_str(&rest[..start]);
            let after = &rest[start + "<function=".len()..];
            let Some(name_end) = after.find('>') else {
                text.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let name = after[..name_end].trim();
            let body = &after[name_end + 1..];
            let (arguments, next) = match body.find("</function>") {
                Some(end) => (&body[..end], &body[end + "</function>".len()..]),
                None => (body, ""),
            };
            if name.is_empty() {
                text.push_str(&rest[start..rest.len() - next.len()]);
            } else {
                calls.push(ToolCall::from_text(String::new(), name, arguments));
            }
            rest = next;
        }
        text.push_str(rest);
        return finish(text.trim().to_owned(), calls);
    }

    let trimmed = reply.trim();
    if trimmed.starts_with('{') {
        let statements = split_statements(trimmed);
        let parsed: Option<Vec<ToolCall>> = statements
            .iter()
            .map(|statement| json_call(statement).filter(|call| accepted(&call.name, is_tool)))
            .collect();
        if let Some(parsed) = parsed.filter(|parsed| !parsed.is_empty()) {
            return finish(String::new(), parsed);
        }
    } else if let Some(call) = python_call(trimmed).filter(|call| accepted(&call.name, is_tool)) {
        return finish(String::new(), vec![call]);
    }
    finish(trimmed.to_owned(), calls)
}

fn accepted(name: &str, is_tool: &dyn Fn(&str) -> bool) -> bool {
    BuiltinTool::from_name(name).is_some() || is_tool(name)
}

fn finish(text: String, mut tool_calls: Vec<ToolCall>) -> ParsedReply {
    for (index, call) in tool_calls.iter_mut().enumerate() {
        if call.id.is_empty() {
            call.id = format!("call_{index}");
        }
    }
    ParsedReply { text, tool_calls }
}

fn strip_stop_tokens(reply: &str) -> &str {
    let mut reply = reply.trim_end();
    loop {
        let before = reply.len();
        for token in [END_OF_TURN, END_OF_MESSAGE, END_OF_TEXT] {
            if let Some(stripped) = reply.strip_suffix(token) {
                reply = stripped.trim_end();
            }
        }
        if reply.len() == before {
            return reply;
        }
    }
}

/// The calls after a python tag: each statement is JSON, a `name.call(...)`, or else the
/// whole body is code for `code_interpreter`.
fn python_tag_calls(body: &str, calls: &mut Vec<ToolCall>) {
    let statements = split_statements(body);
    let mut parsed = Vec::new();
    for statement in &statements {
        if statement.starts_with('{') {
            match json_call(statement) {
                Some(call) => parsed.push(call),
                None => match json_name(statement) {
                    Some(name) => parsed.push(ToolCall::from_text(
                        String::new(),
                        name,
                        arguments_text(statement),
                    )),
                    None => return code(body, calls),
                },
            }
        } else if let Some(call) = python_call(statement) {
            parsed.push(call);
        } else {
            return code(body, calls);
        }
    }
    if parsed.is_empty() && !body.is_empty() {
        return code(body, calls);
    }
    calls.extend(parsed);
}

fn code(body: &str, calls: &mut Vec<ToolCall>) {
    calls.push(ToolCall::new(
        String::new(),
        BuiltinTool::CodeInterpreter.name(),
        serde_json::json!({ "code": body }),
    ));
}

/// `{"name": ..., "parameters": {...}}` (or `"arguments"`), the parameters also accepted as
/// a JSON string holding an object.
fn json_call(statement: &str) -> Option<ToolCall> {
    let Value::Object(mut object) = serde_json::from_str::<Value>(statement).ok()? else {
        return None;
    };
    let name = match object.remove("name")? {
        Value::String(name) if !name.is_empty() => name,
        _ => return None,
    };
    let arguments = object
        .remove("parameters")
        .or_else(|| object.remove("arguments"))
        .unwrap_or(Value::Object(Map::new()));
    let arguments = match arguments {
        Value::String(text) => match serde_json::from_str::<Value>(&text) {
            Ok(value @ Value::Object(_)) => value,
            _ => return Some(ToolCall::from_text(String::new(), name, &text)),
        },
        Value::Null => Value::Object(Map::new()),
        other => other,
    };
    Some(ToolCall::new(String::new(), name, arguments))
}

/// The `"name"` of JSON that does not parse, so a broken call is reported to the model as
/// malformed rather than taken for its answer.
fn json_name(statement: &str) -> Option<String> {
    let after = &statement[statement.find("\"name\"")? + "\"name\"".len()..];
    let after = after.trim_start().strip_prefix(':')?.trim_start();
    let after = after.strip_prefix('"')?;
    let name = &after[..after.find('"')?];
    (!name.is_empty()).then(|| name.to_owned())
}

/// What follows `"parameters":` in a broken call, or the whole statement.
fn arguments_text(statement: &str) -> &str {
    ["\"parameters\"", "\"arguments\""]
        .iter()
        .find_map(|key| {
            let after = &statement[statement.find(key)? + key.len()..];
            let after = after.trim_start().strip_prefix(':')?.trim();
            Some(after.strip_suffix('}').unwrap_or(after).trim())
        })
        .unwrap_or(statement)
}

/// `name.call(key=value, ...)`.
fn python_call(statement: &str) -> Option<ToolCall> {
    let open = statement.find(".call(")?;
    let name = statement[..open].trim();
    if name.is_empty()
        || !name
            .chars()
            .all(|character| character.is_alphanumeric() || character == '_')
    {
        return None;
    }
    let inside = statement[open + ".call(".len()..].trim_end();
    let inside = inside.strip_suffix(')')?;
    let arguments = keyword_arguments(inside)?;
    Some(ToolCall::new(String::new(), name, Value::Object(arguments)))
}

/// `key="text", n=3, flag=True` as a JSON object.
fn keyword_arguments(text: &str) -> Option<Map<String, Value>> {
    let mut arguments = Map::new();
    for part in split_top_level(text, ',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (key, value) = part.split_once('=')?;
        let key = key.trim();
        if key.is_empty()
            || !key
                .chars()
                .all(|character| character.is_alphanumeric() || character == '_')
        {
            return None;
        }
        arguments.insert(key.to_owned(), python_value(value.trim()));
    }
    Some(arguments)
}

fn python_value(text: &str) -> Value {
    match text {
        "True" => return Value::Bool(true),
        "False" => return Value::Bool(false),
        "None" => return Value::Null,
        _ => {}
    }
    for quote in ['"', '\''] {
        if let Some(inner) = text
            .strip_prefix(quote)
            .and_then(|rest| rest.strip_suffix(quote))
        {
            return Value::String(unescape(inner));
        }
    }
    serde_json::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut characters = text.chars();
    while let Some(character) = characters.next() {
        if character != '\\' {
            out.push(character);
            continue;
        }
        match characters.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Splits on `;` outside strings and brackets.
fn split_statements(text: &str) -> Vec<&str> {
    split_top_level(text, ';')
        .into_iter()
        .map(str::trim)
        .filter(|statement| !statement.is_empty())
        .collect()
}

/// Splits on `separator` where it is outside quotes and brackets.
fn split_top_level(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth: i32 = 0;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut start = 0;
    for (index, character) in text.char_indices() {
        if let Some(open) = quote {
            if escaped {
                escaped = false;
            } else if character == '\\' {
                escaped = true;
            } else if character == open {
                quote = None;
            }
            continue;
        }
        match character {
            '"' | '\'' => quote = Some(character),
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' => depth -= 1,
            _ if character == separator && depth <= 0 => {
                parts.push(&text[start..index]);
                start = index + character.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}
