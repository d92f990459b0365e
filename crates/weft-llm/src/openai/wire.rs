//! The chat-completions wire format: the request weft sends and the chunks servers answer
//! with, read leniently (servers differ in what they leave out and how they shape it).

use super::config::Flavor;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use weft_core::{ChatRequest, Message, Role, ToolChoice};

/// The JSON body of one chat-completions request.
pub fn request_body(request: &ChatRequest, model: &str, flavor: Flavor) -> Value {
    let messages: Vec<Value> = request.messages.iter().map(message).collect();
    let mut body = json!({
        "model": model,
        "messages": messages,
        "stream": true,
    });
    let Some(object) = body.as_object_mut() else {
        return body;
    };
    if flavor.sends_stream_options() {
        object.insert("stream_options".into(), json!({"include_usage": true}));
    }
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|tool| {
                json!({
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.parameters,
                    }
                })
            })
            .collect();
        object.insert("tools".into(), Value::Array(tools));
        let choice = match &request.tool_choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::Required => json!("required"),
            ToolChoice::None => json!("none"),
            ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
        };
        object.insert("tool_choice".into(), choice);
    }
    let sampling = &request.sampling;
    if let Some(temperature) = sampling.temperature {
        object.insert("temperature".into(), json!(temperature));
    }
    if let Some(top_p) = sampling.top_p {
        object.insert("top_p".into(), json!(top_p));
    }
    if let Some(max_tokens) = sampling.max_tokens {
        object.insert("max_tokens".into(), json!(max_tokens));
    }
    if let Some(seed) = sampling.seed {
        object.insert("seed".into(), json!(seed));
    }
    if let Some(top) = request.logprobs {
        object.insert("logprobs".into(), json!(true));
        object.insert("top_logprobs".into(), json!(top));
    }
    if let Some(arguments) = &request.template_arguments
        && flavor == Flavor::OpenAi
    {
        object.insert("chat_template_kwargs".into(), arguments.clone());
    }
    if let Some(schema) = &request.output_schema {
        let format = match flavor {
            Flavor::Tgi => json!({"type": "json", "value": schema}),
            Flavor::OpenAi => json!({
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": schema},
            }),
        };
        object.insert("response_format".into(), format);
    }
    body
}

fn message(message: &Message) -> Value {
    let role = match message.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    let mut value = json!({"role": role, "content": message.content});
    if let Some(object) = value.as_object_mut() {
        if !message.tool_calls.is_empty() {
            let calls: Vec<Value> = message
                .tool_calls
                .iter()
                .map(|call| {
                    let arguments = call
                        .unparsed_arguments
                        .clone()
                        .unwrap_or_else(|| call.arguments.to_string());
                    json!({
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": arguments},
                    })
                })
                .collect();
            object.insert("tool_calls".into(), Value::Array(calls));
        }
        if let Some(id) = &message.tool_call_id {
            object.insert("tool_call_id".into(), json!(id));
        }
    }
    value
}

/// One streamed chunk, or a whole non-streamed completion.
#[derive(Debug, Default, Deserialize)]
pub struct Chunk {
    /// The choices; weft asks for one.
    #[serde(default, deserialize_with = "null_as_default")]
    pub choices: Vec<Choice>,
    /// Token counts, usually on the last chunk, when the server sends them.
    #[serde(default)]
    pub usage: Option<WireUsage>,
    /// An error reported inside the stream (a string or an object with a message).
    #[serde(default)]
    pub error: Option<Value>,
    /// vLLM's error objects say `"object": "error"` with a top-level `message`.
    #[serde(default)]
    pub object: Option<String>,
    /// With `"object": "error"`.
    #[serde(default)]
    pub message: Option<Value>,
}

/// One choice of a chunk.
#[derive(Debug, Default, Deserialize)]
pub struct Choice {
    /// Which choice.
    #[serde(default)]
    pub index: u32,
    /// What this chunk adds (streaming).
    #[serde(default)]
    pub delta: Option<Delta>,
    /// The whole message (a non-streamed completion).
    #[serde(default)]
    pub message: Option<Delta>,
    /// Why generation stopped, on the choice's last chunk.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// The log-probabilities of this chunk's tokens, when asked for (`{"content": [...]}`).
    #[serde(default)]
    pub logprobs: Option<Value>,
}

/// The tokens of a choice's `logprobs` (`{"content": [{"token", "logprob",
/// "top_logprobs": [...]}]}`); entries without a number are left out, so a server's odd
/// shape costs the probabilities, never the reply.
pub fn token_logprobs(value: &Value) -> Vec<weft_core::TokenLogprob> {
    let entry = |item: &Value| -> Option<(String, f64)> {
        let token = item.get("token")?.as_str()?.to_owned();
        let logprob = item.get("logprob")?.as_f64()?;
        Some((token, logprob))
    };
    value
        .get("content")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    let (token, logprob) = entry(item)?;
                    let top = item
                        .get("top_logprobs")
                        .and_then(Value::as_array)
                        .map(|alternatives| {
                            alternatives
                                .iter()
                                .filter_map(entry)
                                .map(|(token, logprob)| weft_core::TopLogprob { token, logprob })
                                .collect()
                        })
                        .unwrap_or_default();
                    Some(weft_core::TokenLogprob {
                        token,
                        logprob,
                        top,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Text and tool-call pieces.
#[derive(Debug, Default, Deserialize)]
pub struct Delta {
    /// More text.
    #[serde(default)]
    pub content: Option<String>,
    /// Tool-call pieces: an array, or (TGI) a single object.
    #[serde(default, deserialize_with = "one_or_many")]
    pub tool_calls: Vec<DeltaCall>,
}

/// A piece of one tool call.
#[derive(Debug, Default, Deserialize)]
pub struct DeltaCall {
    /// Which call of the reply this piece belongs to.
    #[serde(default)]
    pub index: Option<u32>,
    /// The call's id, on its first piece.
    #[serde(default)]
    pub id: Option<String>,
    /// The function's name and a piece of its arguments.
    #[serde(default)]
    pub function: Option<DeltaFunction>,
}

/// The function part of a tool-call piece.
#[derive(Debug, Default, Deserialize)]
pub struct DeltaFunction {
    /// The tool's name, on the call's first piece.
    #[serde(default)]
    pub name: Option<String>,
    /// A piece of the arguments' text, or (TGI) the arguments as a JSON object.
    #[serde(default)]
    pub arguments: Option<Value>,
}

/// Token counts as servers send them.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub struct WireUsage {
    /// Tokens in the prompt.
    #[serde(default)]
    pub prompt_tokens: Option<u32>,
    /// Tokens generated.
    #[serde(default)]
    pub completion_tokens: Option<u32>,
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

fn one_or_many<'de, D>(deserializer: D) -> Result<Vec<DeltaCall>, D::Error>
where
    D: Deserializer<'de>,
{
    let value = Value::deserialize(deserializer)?;
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        object @ Value::Object(_) => vec![object],
        _ => {
            return Err(serde::de::Error::custom(
                "tool_calls is neither a list nor an object",
            ));
        }
    };
    items
        .into_iter()
        .map(|item| serde_json::from_value(item).map_err(serde::de::Error::custom))
        .collect()
}

/// The text of an error value: a string, an object's `message`, or else its JSON.
fn error_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Object(object) => Some(
            object
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| value.to_string(), str::to_owned),
        ),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// A server's error message from a JSON error body: `{"error": "..."}`,
/// `{"error": {"message": "..."}}` or `{"object": "error", "message": "..."}`.
pub fn error_message(value: &Value) -> Option<String> {
    if let Some(error) = value.get("error").and_then(error_text) {
        return Some(error);
    }
    if value.get("object").and_then(Value::as_str) == Some("error") {
        return value.get("message").and_then(error_text);
    }
    None
}

impl Chunk {
    /// The error a chunk reports instead of content, in either shape servers use.
    pub fn error_message(&self) -> Option<String> {
        if let Some(message) = self.error.as_ref().and_then(error_text) {
            return Some(message);
        }
        (self.object.as_deref() == Some("error")).then(|| {
            self.message
                .as_ref()
                .and_then(error_text)
                .unwrap_or_else(|| "unknown error".to_owned())
        })
    }
}
