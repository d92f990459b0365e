//! Llama Guard 3 through any chat backend: the request is rendered as the model card
//! prescribes (a raw prompt for in-process models, the conversation as chat messages for
//! servers, which apply the guard model's own template), the reply read as `safe` or
//! `unsafe` with its categories, and the probability of `unsafe` taken from the first
//! token's log-probabilities when the backend gives them (else 1 or 0 by the reply).

pub mod parse;
pub mod prompt;

use futures::{FutureExt, StreamExt};
use prompt::Variant;
use std::sync::Arc;
use weft_core::{
    ChatModel, ChatRequest, ErrorKind, Guard, GuardError, GuardFuture, GuardRequest, LabelScore,
    ReplyBuilder, Sampling, Verdict,
};

/// The threshold of Llama Guard's `unsafe` unless a rule sets one: it is the likelier
/// answer.
pub const DEFAULT_THRESHOLD: f64 = 0.5;

/// Alternatives asked for at each token: enough to find both `safe` and `unsafe`.
const TOP_LOGPROBS: u8 = 5;

/// Llama Guard 3 over a chat backend.
pub struct LlamaGuard {
    model: Arc<dyn ChatModel>,
    variant: Variant,
}

impl std::fmt::Debug for LlamaGuard {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LlamaGuard")
            .field("variant", &self.variant)
            .finish_non_exhaustive()
    }
}

impl LlamaGuard {
    /// A guard over `model`, whose variant its name tells (`...-1B`: 13 categories).
    pub fn new(model: Arc<dyn ChatModel>, name: &str) -> Self {
        let variant = Variant::of(&model.model_name().unwrap_or_else(|| name.to_owned()));
        Self { model, variant }
    }

    /// Sets the variant.
    pub fn with_variant(mut self, variant: Variant) -> Self {
        self.variant = variant;
        self
    }

    /// The request the backend gets for `request`.
    pub fn chat_request(&self, request: &GuardRequest) -> ChatRequest {
        ChatRequest {
            messages: prompt::messages(request),
            sampling: Sampling {
                temperature: Some(0.0),
                max_tokens: Some(20),
                ..Sampling::default()
            },
            raw_prompt: Some(prompt::raw_prompt(request, self.variant)),
            logprobs: Some(TOP_LOGPROBS),
            template_arguments: prompt::template_arguments(&request.policy, self.variant),
            ..ChatRequest::default()
        }
    }
}

impl Guard for LlamaGuard {
    fn classify(&self, request: GuardRequest) -> GuardFuture {
        let chat = self.chat_request(&request);
        let model = self.model.clone();
        async move {
            let mut stream = model.chat(chat);
            let mut reply = ReplyBuilder::new();
            while let Some(event) = stream.next().await {
                let event = event.map_err(|error| {
                    GuardError::new(error.kind, format!("the Llama Guard model failed: {error}"))
                })?;
                reply.push(event);
            }
            let reply = reply.finish();
            let assessment = parse::assessment(&reply.text);
            if !assessment.well_formed && reply.text.trim().is_empty() {
                return Err(GuardError::new(
                    ErrorKind::Upstream,
                    "the Llama Guard model gave an empty reply",
                ));
            }
            let unsafe_score = parse::unsafe_probability(&reply.logprobs)
                .unwrap_or(if assessment.unsafe_content { 1.0 } else { 0.0 });
            Ok(Verdict {
                scores: vec![
                    LabelScore {
                        label: "safe".into(),
                        score: 1.0 - unsafe_score,
                        harmful: false,
                    },
                    LabelScore {
                        label: "unsafe".into(),
                        score: unsafe_score,
                        harmful: true,
                    },
                ],
                categories: assessment.categories,
                threshold: DEFAULT_THRESHOLD,
            })
        }
        .boxed()
    }
}
