//! The chat-model port: every backend (scripted, OpenAI-compatible, mistralrs) takes a
//! [`ChatRequest`] and streams the same [`ChatEvent`]s back.

use crate::error::ErrorKind;
use crate::message::{Message, ToolCall, ToolSpec};
use futures_core::stream::BoxStream;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Sampling settings for one call; `None` leaves the backend's default. Workflow files
/// write them as a node's `sampling:`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sampling {
    /// Softmax temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// The most tokens to generate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// A seed, for backends that can be made deterministic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// One call to a model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// The tools the model may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
    /// Sampling settings.
    #[serde(default)]
    pub sampling: Sampling,
    /// When set, the reply must be JSON that matches this schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// Whether the model may, must or must not call a tool (when `tools` is not empty).
    #[serde(default, skip_serializing_if = "ToolChoice::is_auto")]
    pub tool_choice: ToolChoice,
    /// The whole prompt, already in the model's format: a backend that renders prompts
    /// itself (in-process) sends exactly this instead of rendering `messages`; a server,
    /// which renders with its own chat template, gets `messages`. Guards use it for the
    /// prompts their model cards prescribe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_prompt: Option<String>,
    /// Asks for each generated token's log-probability with this many of the likeliest
    /// alternatives; `None`: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<u8>,
    /// Arguments for a server's chat template (vLLM's `chat_template_kwargs`), such as a
    /// guard model's categories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_arguments: Option<Value>,
}

/// A generated token's log-probability, with the likeliest alternatives at its place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenLogprob {
    /// The token's text.
    pub token: String,
    /// Its natural-log probability.
    pub logprob: f64,
    /// The likeliest tokens at this place (the chosen one among them, usually), best first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top: Vec<TopLogprob>,
}

/// One alternative at a token's place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopLogprob {
    /// The token's text.
    pub token: String,
    /// Its natural-log probability.
    pub logprob: f64,
}

/// Whether a model may, must or must not call one of the tools it is offered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides (the default).
    #[default]
    Auto,
    /// The model must call at least one tool.
    Required,
    /// The model must not call a tool.
    None,
    /// The model must call this tool.
    Tool(String),
}

impl ToolChoice {
    /// Whether this is the default, [`ToolChoice::Auto`].
    pub fn is_auto(&self) -> bool {
        matches!(self, Self::Auto)
    }
}

/// Token counts for one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: u32,
    /// Tokens generated.
    pub completion_tokens: u32,
}

/// Why a model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// It finished its answer.
    Stop,
    /// It asked for tool calls.
    ToolCalls,
    /// It hit the token limit.
    Length,
}

/// One item of a model's streamed reply.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    /// More text.
    TextDelta(String),
    /// A complete tool call.
    ToolCall(ToolCall),
    /// Token counts.
    Usage(Usage),
    /// The end of the reply.
    Finished(FinishReason),
    /// Log-probabilities of generated tokens, in order (when the request asked for them).
    Logprobs(Vec<TokenLogprob>),
    /// The backend lost the reply part-way (a server closed the stream) and is asking
    /// again: everything streamed so far is void and the reply starts over.
    Restarted {
        /// Why, for a person watching the stream.
        reason: String,
    },
}

/// A model call that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ModelError {
    /// What sort of failure.
    pub kind: ErrorKind,
    /// A message a person can act on.
    pub message: String,
}

impl ModelError {
    /// A model error of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// The stream a backend returns.
pub type ChatStream = BoxStream<'static, Result<ChatEvent, ModelError>>;

/// The chat-model port.
pub trait ChatModel: Send + Sync {
    /// The model's context window in tokens.
    fn context_window(&self) -> u32;
    /// Starts one call; the reply streams back.
    fn chat(&self, request: ChatRequest) -> ChatStream;
    /// The model's own name (the `model` an OpenAI-compatible server is asked for, an
    /// in-process model's folder), recorded with each reply; `None` when it has none.
    fn model_name(&self) -> Option<String> {
        None
    }
    /// The model's own token counter, when it has one (an in-process model counts with
    /// its tokenizer). `None`: the runtime counts with the vocabulary of the model's family
    /// when it knows it, and estimates otherwise.
    fn token_counter(&self) -> Option<std::sync::Arc<dyn crate::tokens::TokenCounter>> {
        None
    }
}

/// A model's whole reply, assembled from its stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelReply {
    /// The text.
    #[serde(default)]
    pub text: String,
    /// The tool calls, in the order the model made them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Token counts, when the backend reported them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Why the model stopped, when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish: Option<FinishReason>,
    /// The generated tokens' log-probabilities, when the request asked for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logprobs: Vec<TokenLogprob>,
}

/// Folds a stream of [`ChatEvent`]s into a [`ModelReply`]; no I/O, so any driver can use it.
#[derive(Debug, Default)]
pub struct ReplyBuilder {
    reply: ModelReply,
}

impl ReplyBuilder {
    /// An empty reply.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one event.
    pub fn push(&mut self, event: ChatEvent) {
        match event {
            ChatEvent::TextDelta(text) => self.reply.text.push_str(&text),
            ChatEvent::ToolCall(call) => self.reply.tool_calls.push(call),
            ChatEvent::Usage(usage) => self.reply.usage = Some(usage),
            ChatEvent::Finished(reason) => self.reply.finish = Some(reason),
            ChatEvent::Logprobs(tokens) => self.reply.logprobs.extend(tokens),
            ChatEvent::Restarted { .. } => self.reply = ModelReply::default(),
        }
    }

    /// The assembled reply.
    pub fn finish(self) -> ModelReply {
        self.reply
    }
}
