//! The scripted backend: replies listed in a YAML file, used by tests and offline demos.
//!
//! ```yaml
//! replies:
//!   - text: "First reply, used once, in order."
//!   - tool_calls: [{ name: add, arguments: { a: 1, b: 2 } }]
//!   - tool_calls: [{ name: add, arguments_text: '{"a": 1,' }]   # as text; not JSON here
//!   - match: "Summarize: (.*)"     # a regex on the last message; reusable
//!     text: "Summary of $1"         # $1.. are the regex's groups (also in tool-call
//!                                   # arguments' strings)
//!   - json: { answer: 42 }          # structured output, written as JSON text
//!   - fail: "upstream is down"      # the call fails with this message
//! ```
//! A call first tries the `match` replies (in file order) against the last message (or the
//! request's raw prompt, when it has one); if none
//! matches, it takes the next reply without `match`. `delay: 20ms` makes a reply slow.
//! Text streams one line per delta. Usage counts whitespace-separated words: a stand-in,
//! not a tokenizer's count.

use crate::error::BackendError;
use futures::stream;
use regex::Regex;
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use weft_core::{
    ChatEvent, ChatModel, ChatRequest, ChatStream, ErrorKind, FinishReason, ModelError, ToolCall,
    Usage,
};

/// How the message of a scripted `fail:` reply starts.
pub const FAILURE_PREFIX: &str = "scripted failure: ";

/// Llama-3.1's window, which the scripted model claims so that context code is exercised.
const CONTEXT_WINDOW: u32 = 131_072;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptFile {
    replies: Vec<ReplySpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplySpec {
    #[serde(default, rename = "match")]
    pattern: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    json: Option<Value>,
    #[serde(default)]
    tool_calls: Vec<ToolCallSpec>,
    #[serde(default)]
    fail: Option<String>,
    #[serde(default)]
    delay: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolCallSpec {
    #[serde(default)]
    id: Option<String>,
    name: String,
    #[serde(default)]
    arguments: Value,
    /// The arguments as text, the way chat-completion servers send them; text that is not
    /// JSON makes a malformed call, as a real model sometimes does.
    #[serde(default)]
    arguments_text: Option<String>,
}

#[derive(Debug)]
struct Reply {
    pattern: Option<Regex>,
    text: String,
    tool_calls: Vec<ToolCallSpec>,
    fail: Option<String>,
    delay: Option<Duration>,
}

/// A model whose replies are scripted.
#[derive(Debug)]
pub struct ScriptedModel {
    source: PathBuf,
    replies: Vec<Reply>,
    /// Indexes of the replies without `match`, used in order.
    in_order: Vec<usize>,
    next_in_order: Mutex<usize>,
}

impl ScriptedModel {
    /// Reads a script file.
    pub fn from_file(path: &Path) -> Result<Self, BackendError> {
        let text = std::fs::read_to_string(path).map_err(|source| BackendError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_yaml(path, &text)
    }

    /// Reads a script from text; `path` names it in errors.
    pub fn from_yaml(path: &Path, text: &str) -> Result<Self, BackendError> {
        let invalid = |line: usize, column: usize, message: String| BackendError::InvalidScript {
            path: path.to_owned(),
            line,
            column,
            message,
        };
        // YAML 1.2: only `true` and `false` are booleans, so `text: no` or an argument
        // `country: NO` stays the text it is.
        let options = serde_saphyr::options! { strict_booleans: true };
        let parsed: Result<ScriptFile, _> = serde_saphyr::from_str_with_options(text, options);
        let file = parsed.map_err(|error| {
            let (line, column) = error
                .location()
                .map(|location| (location.line() as usize, location.column() as usize))
                .unwrap_or((1, 1));
            let message = error.without_snippet().to_string();
            let message = message.lines().next().unwrap_or_default().to_owned();
            invalid(line, column, message)
        })?;
        let mut replies = Vec::with_capacity(file.replies.len());
        for (index, spec) in file.replies.into_iter().enumerate() {
            let pattern = match &spec.pattern {
                Some(pattern) => Some(Regex::new(pattern).map_err(|error| {
                    invalid(
                        1,
                        1,
                        format!("reply {index}: `match` is not a valid regex: {error}"),
                    )
                })?),
                None => None,
            };
            let text = match (&spec.text, &spec.json) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        1,
                        1,
                        format!("reply {index} has both `text` and `json`; give one"),
                    ));
                }
                (Some(text), None) => text.clone(),
                (None, Some(json)) => json.to_string(),
                (None, None) => String::new(),
            };
            let delay = match &spec.delay {
                Some(delay) => Some(parse_delay(delay).ok_or_else(|| {
                    invalid(
                        1,
                        1,
                        format!(
                            "reply {index}: `delay: {delay}` is not a duration like `20ms` or `2s`"
                        ),
                    )
                })?),
                None => None,
            };
            replies.push(Reply {
                pattern,
                text,
                tool_calls: spec.tool_calls,
                fail: spec.fail,
                delay,
            });
        }
        let in_order = replies
            .iter()
            .enumerate()
            .filter(|(_, reply)| reply.pattern.is_none())
            .map(|(index, _)| index)
            .collect();
        Ok(Self {
            source: path.to_owned(),
            replies,
            in_order,
            next_in_order: Mutex::new(0),
        })
    }

    /// The reply for `last_message`, with its text and tool-call arguments expanded by the
    /// pattern's groups.
    fn choose(&self, last_message: &str) -> Result<(&Reply, String, Vec<ToolCall>), ModelError> {
        for reply in &self.replies {
            let Some(pattern) = &reply.pattern else {
                continue;
            };
            if let Some(captures) = pattern.captures(last_message) {
                let expand = |template: &str| {
                    if template.contains('$') {
                        let mut text = String::new();
                        captures.expand(template, &mut text);
                        text
                    } else {
                        template.to_owned()
                    }
                };
                let calls = reply.tool_calls(|value| expand_strings(value, &expand));
                return Ok((reply, expand(&reply.text), calls));
            }
        }
        let mut next = self.next_in_order.lock().map_err(|_| {
            ModelError::new(ErrorKind::Internal, "scripted model state is poisoned")
        })?;
        let Some(reply) = self
            .in_order
            .get(*next)
            .and_then(|index| self.replies.get(*index))
        else {
            let preview: String = last_message.chars().take(80).collect();
            return Err(ModelError::new(
                ErrorKind::InvalidInput,
                format!(
                    "scripted model {}: no reply left ({} in-order replies used) and no `match` reply fits the last message {preview:?}",
                    self.source.display(),
                    self.in_order.len()
                ),
            ));
        };
        *next += 1;
        let calls = reply.tool_calls(Value::clone);
        Ok((reply, reply.text.clone(), calls))
    }
}

impl Reply {
    /// The reply's tool calls, each one's arguments passed through `arguments`.
    fn tool_calls(&self, arguments: impl Fn(&Value) -> Value) -> Vec<ToolCall> {
        self.tool_calls
            .iter()
            .enumerate()
            .map(|(index, call)| {
                let id = call
                    .id
                    .clone()
                    .unwrap_or_else(|| format!("scripted_{index}"));
                match &call.arguments_text {
                    Some(text) => ToolCall::from_text(id, call.name.clone(), text),
                    None => ToolCall::new(id, call.name.clone(), arguments(&call.arguments)),
                }
            })
            .collect()
    }
}

/// `value` with `expand` applied to every string in it.
fn expand_strings(value: &Value, expand: &impl Fn(&str) -> String) -> Value {
    match value {
        Value::String(text) => Value::String(expand(text)),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| expand_strings(item, expand))
                .collect(),
        ),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(name, item)| (name.clone(), expand_strings(item, expand)))
                .collect(),
        ),
        other => other.clone(),
    }
}

impl ChatModel for ScriptedModel {
    fn context_window(&self) -> u32 {
        CONTEXT_WINDOW
    }

    fn chat(&self, request: ChatRequest) -> ChatStream {
        // A raw prompt is what the model would read: the `match` patterns see it whole.
        let last_message = match &request.raw_prompt {
            Some(prompt) => prompt.as_str(),
            None => request
                .messages
                .last()
                .map(|message| message.content.as_str())
                .unwrap_or_default(),
        };
        let (reply, text, calls) = match self.choose(last_message) {
            Ok(chosen) => chosen,
            Err(error) => return Box::pin(stream::once(async move { Err(error) })),
        };
        let delay = reply.delay;
        if let Some(message) = &reply.fail {
            let error = ModelError::new(ErrorKind::Upstream, format!("{FAILURE_PREFIX}{message}"));
            return Box::pin(stream::once(async move {
                if let Some(delay) = delay {
                    tokio::time::sleep(delay).await;
                }
                Err(error)
            }));
        }
        let prompt_tokens: usize = request
            .messages
            .iter()
            .map(|message| message.content.split_whitespace().count())
            .sum();
        let mut events: Vec<Result<ChatEvent, ModelError>> = Vec::with_capacity(calls.len() + 4);
        // Text streams a line at a time, so streaming consumers see more than one delta.
        for line in text.split_inclusive('\n') {
            events.push(Ok(ChatEvent::TextDelta(line.to_owned())));
        }
        let tool_calls = !calls.is_empty();
        for call in calls {
            events.push(Ok(ChatEvent::ToolCall(call)));
        }
        events.push(Ok(ChatEvent::Usage(Usage {
            prompt_tokens: u32::try_from(prompt_tokens).unwrap_or(u32::MAX),
            completion_tokens: u32::try_from(text.split_whitespace().count()).unwrap_or(u32::MAX),
        })));
        events.push(Ok(ChatEvent::Finished(if tool_calls {
            FinishReason::ToolCalls
        } else {
            FinishReason::Stop
        })));
        match delay {
            None => Box::pin(stream::iter(events)),
            Some(delay) => Box::pin(stream::unfold(
                (events.into_iter(), true),
                move |(mut events, first)| async move {
                    if first {
                        tokio::time::sleep(delay).await;
                    }
                    events.next().map(|event| (event, (events, false)))
                },
            )),
        }
    }
}

fn parse_delay(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Some(number) = text.strip_suffix("ms") {
        return number.trim().parse().ok().map(Duration::from_millis);
    }
    if let Some(number) = text.strip_suffix('s') {
        return number
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
            .map(Duration::from_secs_f64);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use weft_core::{Message, ReplyBuilder};

    async fn reply(model: &ScriptedModel, last: &str) -> Result<weft_core::ModelReply, ModelError> {
        let mut stream = model.chat(ChatRequest {
            messages: vec![Message::user(last)],
            ..ChatRequest::default()
        });
        let mut builder = ReplyBuilder::new();
        while let Some(event) = stream.next().await {
            builder.push(event?);
        }
        Ok(builder.finish())
    }

    #[tokio::test]
    async fn in_order_and_matched_replies() {
        let script = "replies:\n  - text: first one\n  - match: 'Summarize: (.*)'\n    text: summary of $1\n  - tool_calls: [{name: add, arguments: {a: 1, b: 2}}]\n";
        let model = ScriptedModel::from_yaml(Path::new("s.yaml"), script).unwrap();
        assert_eq!(
            reply(&model, "Summarize: cats").await.unwrap().text,
            "summary of cats"
        );
        assert_eq!(reply(&model, "hello").await.unwrap().text, "first one");
        let calls = reply(&model, "again").await.unwrap();
        assert_eq!(calls.tool_calls[0].name, "add");
        assert_eq!(calls.finish, Some(FinishReason::ToolCalls));
        let error = reply(&model, "more").await.unwrap_err();
        assert!(error.message.contains("no reply left"), "{}", error.message);
    }

    #[tokio::test]
    async fn a_matched_reply_fills_tool_call_arguments_from_the_groups() {
        let script = "replies:\n  - match: 'Record (\\w+) as (\\d+)'\n    tool_calls: [{name: note, arguments: {line: 'item $1', tags: ['$2', 7]}}]\n";
        let model = ScriptedModel::from_yaml(Path::new("s.yaml"), script).unwrap();
        let reply = reply(&model, "Record alpha as 42").await.unwrap();
        assert_eq!(
            reply.tool_calls[0].arguments,
            serde_json::json!({"line": "item alpha", "tags": ["42", 7]})
        );
    }

    #[tokio::test]
    async fn scripts_are_yaml_1_2_so_yes_and_no_stay_text() {
        let script = "replies:\n  - text: no\n  - json: { answer: n, sure: True }\n  - tool_calls: [{name: visit, arguments: {country: NO, open: off, guided: false}}]\n";
        let model = ScriptedModel::from_yaml(Path::new("s.yaml"), script).unwrap();
        assert_eq!(reply(&model, "Coming?").await.unwrap().text, "no");
        assert_eq!(
            reply(&model, "Sure?").await.unwrap().text,
            r#"{"answer":"n","sure":true}"#
        );
        let calls = reply(&model, "Where?").await.unwrap();
        assert_eq!(
            calls.tool_calls[0].arguments,
            serde_json::json!({"country": "NO", "open": "off", "guided": false})
        );
    }

    #[test]
    fn bad_scripts_are_located_errors() {
        let error =
            ScriptedModel::from_yaml(Path::new("s.yaml"), "replies:\n  - txt: hi\n").unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with("s.yaml:"), "{text}");
        assert!(text.contains("unknown field `txt`"), "{text}");
        let error = ScriptedModel::from_yaml(Path::new("s.yaml"), "replies:\n  - match: '('\n")
            .unwrap_err();
        assert!(error.to_string().contains("not a valid regex"), "{error}");
    }
}
