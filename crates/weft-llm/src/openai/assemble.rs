//! Turning a server's chunks into the port's [`ChatEvent`]s. No I/O.
//!
//! Text is passed on as it arrives. Tool-call pieces are gathered per call index and the
//! calls are handed over complete, at the end. Where a server's tool-call parser did not
//! recognise a call and left it in the text (a Llama model writing `<|python_tag|>{...}` or
//! bare JSON), text that may be a call is held back and, at the end, read with the
//! Llama-3.1 parser.

use super::sse::SseEvent;
use super::wire::{Chunk, Delta, WireUsage};
use crate::llama3::StreamingReply;
use serde_json::Value;
use std::collections::BTreeMap;
use weft_core::{ChatEvent, ErrorKind, FinishReason, ModelError, ToolCall, Usage};

/// Assembles one reply.
#[derive(Debug)]
pub struct Assembler {
    offered: Vec<String>,
    text: StreamingReply,
    calls: BTreeMap<u32, PartialCall>,
    finish_reason: Option<String>,
    usage: Option<WireUsage>,
    done: bool,
    chunks: u64,
}

#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
    object: Option<Value>,
}

/// How a stream ended that had not finished its reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CutOff {
    /// The chunks that did arrive.
    pub chunks: u64,
}

/// Tool names TGI uses for "no tool fits": their calls are the model's answer in text.
const TGI_NO_TOOL: [&str; 2] = ["no_tool", "notify_error"];

impl Assembler {
    /// An assembler for a request that offered the tools `offered`.
    pub fn new(offered: Vec<String>) -> Self {
        Self {
            text: StreamingReply::new(offered.clone()),
            offered,
            calls: BTreeMap::new(),
            finish_reason: None,
            usage: None,
            done: false,
            chunks: 0,
        }
    }

    /// Whether the server said `[DONE]`.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// How many chunks arrived.
    pub fn chunks(&self) -> u64 {
        self.chunks
    }

    /// Takes one server-sent event.
    pub fn on_event(
        &mut self,
        event: &SseEvent,
        out: &mut Vec<ChatEvent>,
    ) -> Result<(), ModelError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        if data.is_empty() {
            return Ok(());
        }
        let chunk: Chunk = serde_json::from_str(data).map_err(|error| {
            let shown: String = data.chars().take(300).collect();
            ModelError::new(
                ErrorKind::Upstream,
                format!(
                    "the server sent a chunk that is not a chat-completion chunk ({error}): {shown}"
                ),
            )
        })?;
        if event.name.as_deref() == Some("error") && chunk.error.is_none() {
            let shown: String = data.chars().take(1000).collect();
            return Err(ModelError::new(
                ErrorKind::Upstream,
                format!("the server reported an error mid-stream: {shown}"),
            ));
        }
        self.on_chunk(chunk, out)
    }

    /// Takes a whole non-streamed completion (a server that ignored `"stream": true`).
    pub fn on_body(&mut self, body: &[u8]) -> Result<Vec<ChatEvent>, ModelError> {
        let chunk: Chunk = serde_json::from_slice(body).map_err(|error| {
            ModelError::new(
                ErrorKind::Upstream,
                format!("the server's reply is not a chat completion: {error}"),
            )
        })?;
        let mut out = Vec::new();
        self.on_chunk(chunk, &mut out)?;
        self.done = true;
        out.extend(self.complete().map_err(|_| {
            ModelError::new(
                ErrorKind::Upstream,
                "the server's reply has no finish_reason",
            )
        })?);
        Ok(out)
    }

    fn on_chunk(&mut self, chunk: Chunk, out: &mut Vec<ChatEvent>) -> Result<(), ModelError> {
        self.chunks += 1;
        if let Some(message) = chunk.error_message() {
            return Err(ModelError::new(
                ErrorKind::Upstream,
                format!("the server reported an error mid-stream: {message}"),
            ));
        }
        if let Some(usage) = chunk.usage {
            self.usage = Some(usage);
        }
        for choice in chunk.choices {
            if choice.index != 0 {
                continue;
            }
            if let Some(delta) = choice.delta {
                self.on_delta(delta, out);
            }
            if let Some(message) = choice.message {
                self.on_delta(message, out);
            }
            if let Some(logprobs) = &choice.logprobs {
                let tokens = super::wire::token_logprobs(logprobs);
                if !tokens.is_empty() {
                    out.push(ChatEvent::Logprobs(tokens));
                }
            }
            if let Some(reason) = choice.finish_reason.filter(|reason| !reason.is_empty()) {
                self.finish_reason = Some(reason);
            }
        }
        Ok(())
    }

    fn on_delta(&mut self, delta: Delta, out: &mut Vec<ChatEvent>) {
        if let Some(text) = delta.content.filter(|text| !text.is_empty()) {
            self.on_text(text, out);
        }
        for piece in delta.tool_calls {
            let index = piece
                .index
                .unwrap_or_else(|| self.calls.len().saturating_sub(1) as u32);
            let call = self.calls.entry(index).or_default();
            if let Some(id) = piece.id.filter(|id| !id.is_empty()) {
                call.id = id;
            }
            let Some(function) = piece.function else {
                continue;
            };
            if let Some(name) = function.name.filter(|name| !name.is_empty()) {
                call.name.push_str(&name);
            }
            match function.arguments {
                Some(Value::String(text)) => call.arguments.push_str(&text),
                Some(Value::Null) | None => {}
                Some(object) => call.object = Some(object),
            }
        }
    }

    fn on_text(&mut self, text: String, out: &mut Vec<ChatEvent>) {
        if let Some(shown) = self.text.push(&text) {
            out.push(ChatEvent::TextDelta(shown));
        }
    }

    /// The events that end the reply, once the stream is over; `Err` when it ended before
    /// the reply did (neither `[DONE]` nor a finish reason).
    pub fn complete(&mut self) -> Result<Vec<ChatEvent>, CutOff> {
        if !self.done && self.finish_reason.is_none() {
            return Err(CutOff {
                chunks: self.chunks,
            });
        }
        let mut out = Vec::new();
        let mut calls: Vec<ToolCall> = std::mem::take(&mut self.calls)
            .into_iter()
            .filter(|(_, call)| !call.name.is_empty())
            .map(|(index, call)| {
                let id = if call.id.is_empty() {
                    format!("call_{index}")
                } else {
                    call.id
                };
                match call.object {
                    Some(object) => ToolCall::new(id, call.name, object),
                    None => ToolCall::from_text(id, call.name, &call.arguments),
                }
            })
            .collect();
        calls.retain(|call| {
            if TGI_NO_TOOL.contains(&call.name.as_str()) && !self.offered.contains(&call.name) {
                let said = ["content", "error"]
                    .iter()
                    .find_map(|key| call.arguments.get(key).and_then(Value::as_str));
                if let Some(said) = said {
                    out.push(ChatEvent::TextDelta(said.to_owned()));
                }
                return false;
            }
            true
        });
        let held = std::mem::take(&mut self.text);
        if calls.is_empty() {
            // A call the server's parser left in the text.
            let parsed = held.finish();
            if !parsed.text.is_empty() {
                out.push(ChatEvent::TextDelta(parsed.text));
            }
            calls = parsed.tool_calls;
        } else {
            let text = held.into_text();
            if !text.is_empty() {
                out.push(ChatEvent::TextDelta(text));
            }
        }
        let has_calls = !calls.is_empty();
        out.extend(calls.into_iter().map(ChatEvent::ToolCall));
        if let Some(usage) = self.usage {
            out.push(ChatEvent::Usage(Usage {
                prompt_tokens: usage.prompt_tokens.unwrap_or(0),
                completion_tokens: usage.completion_tokens.unwrap_or(0),
            }));
        }
        let reason = match self.finish_reason.as_deref() {
            _ if has_calls => FinishReason::ToolCalls,
            Some("length" | "max_tokens" | "model_length") => FinishReason::Length,
            _ => FinishReason::Stop,
        };
        out.push(ChatEvent::Finished(reason));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(offered: &[&str], chunks: &[&str]) -> Vec<ChatEvent> {
        let mut assembler = Assembler::new(offered.iter().map(|name| name.to_string()).collect());
        let mut out = Vec::new();
        for data in chunks {
            let event = SseEvent {
                name: None,
                data: (*data).to_owned(),
            };
            assembler.on_event(&event, &mut out).unwrap();
        }
        out.extend(assembler.complete().unwrap());
        out
    }

    #[test]
    fn tool_call_pieces_are_joined_per_index() {
        let out = run(
            &["add"],
            &[
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"add","arguments":""}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\": 1,"}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"b","function":{"name":"add","arguments":"{\"a\":2,\"b\":2}"}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":" \"b\": 2}"}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
                "[DONE]",
            ],
        );
        assert_eq!(
            out,
            [
                ChatEvent::ToolCall(ToolCall::new(
                    "a",
                    "add",
                    serde_json::json!({"a": 1, "b": 2})
                )),
                ChatEvent::ToolCall(ToolCall::new(
                    "b",
                    "add",
                    serde_json::json!({"a": 2, "b": 2})
                )),
                ChatEvent::Finished(FinishReason::ToolCalls),
            ]
        );
    }

    #[test]
    fn text_streams_at_once_when_it_cannot_be_a_call() {
        let out = run(
            &["add"],
            &[
                r#"{"choices":[{"delta":{"content":" Hel"}}]}"#,
                r#"{"choices":[{"delta":{"content":"lo"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#,
            ],
        );
        assert_eq!(
            out,
            [
                ChatEvent::TextDelta(" Hel".into()),
                ChatEvent::TextDelta("lo".into()),
                ChatEvent::Usage(Usage {
                    prompt_tokens: 3,
                    completion_tokens: 2
                }),
                ChatEvent::Finished(FinishReason::Stop),
            ]
        );
    }

    #[test]
    fn a_call_left_in_the_text_becomes_a_call() {
        let out = run(
            &["get_weather"],
            &[
                r#"{"choices":[{"delta":{"content":"<|python_"}}]}"#,
                r#"{"choices":[{"delta":{"content":"tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}"}}]}"#,
                r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#,
            ],
        );
        assert_eq!(
            out,
            [
                ChatEvent::ToolCall(ToolCall::new(
                    "call_0",
                    "get_weather",
                    serde_json::json!({"city": "Paris"})
                )),
                ChatEvent::Finished(FinishReason::ToolCalls),
            ]
        );
    }

    #[test]
    fn a_stream_without_an_end_is_cut_off() {
        let mut assembler = Assembler::new(Vec::new());
        let mut out = Vec::new();
        let event = SseEvent {
            name: None,
            data: r#"{"choices":[{"delta":{"content":"partial"}}]}"#.into(),
        };
        assembler.on_event(&event, &mut out).unwrap();
        assert_eq!(assembler.complete(), Err(CutOff { chunks: 1 }));
    }
}
