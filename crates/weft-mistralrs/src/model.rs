//! The in-process backend: weft renders the Llama-3.1 prompt and counts its tokens, mistralrs
//! generates, and the reply streams back through the chat-model port.

use crate::error::LocalError;
use crate::load::{LoadPlan, builder, plan};
use futures::StreamExt;
use mistralrs::core::RequestMessage;
use mistralrs::{
    Constraint, CustomLogitsProcessor, Model, NormalRequest, Request, Response, SamplingParams,
    Tensor,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokenizers::Tokenizer;
use tokio::sync::mpsc;
use weft_core::{
    ChatEvent, ChatModel, ChatRequest, ChatStream, ErrorKind, FinishReason, ModelError, ToolChoice,
    Usage,
};
use weft_llm::llama3::{self, RenderOptions, StreamingReply};
use weft_llm::spec::LocalSpec;
use weft_llm::tokens::HuggingFaceTokenizer;

/// A Llama-3.1 model running in this process.
pub struct LocalModel {
    model: Arc<Model>,
    tokenizer: Arc<Tokenizer>,
    /// Counts with the same tokenizer, message by message, for context assembly.
    counter: Arc<dyn weft_core::TokenCounter>,
    plan: LoadPlan,
    stop_ids: Vec<u32>,
    ignore_stop_tokens: bool,
    /// At most `max_sequences` replies at once: mistralrs 0.8.1's own limit lets requests
    /// that arrive together run together, which FP8 ISQ cannot.
    sequences: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for LocalModel {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LocalModel")
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

impl LocalModel {
    /// Loads the model a spec names. The build runs on a thread of its own: mistralrs 0.8.1
    /// keeps the ISQ choice in a thread-local that a second model on the same thread would
    /// inherit.
    pub async fn load(spec: &LocalSpec) -> Result<Self, LocalError> {
        let plan = plan(spec)?;
        for note in &plan.notes {
            eprintln!("weft: {}: {note}", plan.model);
        }
        let builder = builder(spec, &plan)?;
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let name = plan.model.clone();
        std::thread::Builder::new()
            .name("weft-model-load".into())
            .spawn(move || {
                let result = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .map_err(|error| error.to_string())
                    .and_then(|runtime| {
                        runtime
                            .block_on(builder.build())
                            .map_err(|error| format!("{error:#}"))
                    });
                let _ = sender.send(result);
            })
            .map_err(|error| LocalError::Load {
                model: name.clone(),
                message: format!("cannot start the loading thread: {error}"),
            })?;
        let model = match receiver.await {
            Ok(Ok(model)) => model,
            Ok(Err(message)) => {
                let message = match &spec.source {
                    weft_llm::spec::LocalSource::Hub(id) => format!(
                        "{message} (`{id}` is not a folder here, so it was taken for a Hugging Face hub id and fetched from the hub)"
                    ),
                    weft_llm::spec::LocalSource::Directory(_) => message,
                };
                return Err(LocalError::Load {
                    model: name,
                    message,
                });
            }
            Err(_) => {
                return Err(LocalError::Load {
                    model: name,
                    message: "mistralrs stopped while loading (its message is above)".into(),
                });
            }
        };
        let tokenizer_path = match crate::load::directory(&plan) {
            Some(directory) => directory.join("tokenizer.json"),
            None => hub_tokenizer(&plan.model).ok_or_else(|| LocalError::MissingFile {
                directory: mistralrs::core::hf_hub_cache_dir().unwrap_or_default(),
                file: "tokenizer.json".into(),
                why: "the tokenizer of the hub model mistralrs fetched",
            })?,
        };
        let (tokenizer, counter) = tokenizer(&tokenizer_path)?;
        let stop_ids = llama3::STOP_TOKENS
            .iter()
            .filter_map(|token| tokenizer.token_to_id(token))
            .collect();
        let sequences = Arc::new(tokio::sync::Semaphore::new(plan.max_sequences.max(1)));
        Ok(Self {
            model: Arc::new(model),
            tokenizer: Arc::new(tokenizer),
            counter,
            plan,
            stop_ids,
            ignore_stop_tokens: false,
            sequences,
        })
    }

    /// Generates until `max_tokens` whatever the model writes, never stopping at its end
    /// tokens: benchmarks measure a fixed number of decode steps this way.
    pub fn ignoring_stop_tokens(mut self) -> Self {
        self.ignore_stop_tokens = true;
        self
    }

    /// How the model was loaded.
    pub fn plan(&self) -> &LoadPlan {
        &self.plan
    }

    /// The prompt's tokens, exactly as the model will see them.
    /// A request's raw prompt, when it has one (a guard's), is the whole prompt.
    pub fn prompt_tokens(&self, request: &ChatRequest) -> Result<Vec<u32>, ModelError> {
        let prompt = match &request.raw_prompt {
            Some(raw) => raw.clone(),
            None => llama3::render(&request.messages, &request.tools, &RenderOptions::default()),
        };
        let encoding = self.tokenizer.encode(prompt, false).map_err(|error| {
            ModelError::new(
                ErrorKind::Internal,
                format!("tokenizing the prompt: {error}"),
            )
        })?;
        Ok(encoding.get_ids().to_vec())
    }
}

/// The model's tokenizer, and a counter over it for context assembly.
fn tokenizer(
    path: &std::path::Path,
) -> Result<(Tokenizer, Arc<dyn weft_core::TokenCounter>), LocalError> {
    let tokenizer = Tokenizer::from_file(path).map_err(|error| LocalError::BadFile {
        path: path.to_owned(),
        message: error.to_string(),
    })?;
    let counter = HuggingFaceTokenizer::open(path).map_err(|error| LocalError::BadFile {
        path: path.to_owned(),
        message: error.reason,
    })?;
    Ok((tokenizer, Arc::new(counter)))
}

/// The tokenizer of a hub model in the Hugging Face cache, where mistralrs put it.
fn hub_tokenizer(id: &str) -> Option<std::path::PathBuf> {
    let folder = mistralrs::core::hf_hub_cache_dir()?
        .join(format!("models--{}", id.replace('/', "--")))
        .join("snapshots");
    std::fs::read_dir(folder)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("tokenizer.json"))
        .find(|path| path.is_file())
}

/// Counts generated tokens: mistralrs calls it once per sampled token with the sequence so
/// far (the streamed completion chunks carry no usage).
struct TokenCounter {
    prompt: usize,
    generated: AtomicUsize,
    banned: Vec<u32>,
}

impl CustomLogitsProcessor for TokenCounter {
    fn apply(&self, logits: &Tensor, context: &[u32]) -> mistralrs::Result<Tensor> {
        self.generated.store(
            context.len().saturating_sub(self.prompt) + 1,
            Ordering::Relaxed,
        );
        if self.banned.is_empty() {
            return Ok(logits.clone());
        }
        let vocab = logits.dims().last().copied().unwrap_or(0);
        let mut mask = vec![0f32; vocab];
        for id in &self.banned {
            if let Some(slot) = mask.get_mut(*id as usize) {
                *slot = f32::NEG_INFINITY;
            }
        }
        let mask = Tensor::from_vec(mask, vocab, logits.device())?.to_dtype(logits.dtype())?;
        logits.broadcast_add(&mask)
    }
}

impl ChatModel for LocalModel {
    fn context_window(&self) -> u32 {
        self.plan.window
    }

    fn model_name(&self) -> Option<String> {
        Some(self.plan.model.clone())
    }

    fn token_counter(&self) -> Option<Arc<dyn weft_core::TokenCounter>> {
        Some(self.counter.clone())
    }

    fn chat(&self, request: ChatRequest) -> ChatStream {
        let prepared = self.prepare(&request);
        let model = self.model.clone();
        let tokenizer = self.tokenizer.clone();
        let sequences = self.sequences.clone();
        futures::stream::once(async move {
            let (tokens, counter, normal, receiver) = match prepared {
                Ok(prepared) => prepared,
                Err(error) => return futures::stream::iter(vec![Err(error)]).boxed(),
            };
            // Held until the reply is over (or dropped): the next request waits its turn.
            let Ok(permit) = sequences.acquire_owned().await else {
                return futures::stream::iter(vec![Err(ModelError::new(
                    ErrorKind::Internal,
                    "the model was closed",
                ))])
                .boxed();
            };
            let sender = match model.inner().get_sender(None) {
                Ok(sender) => sender,
                Err(error) => {
                    return futures::stream::iter(vec![Err(ModelError::new(
                        ErrorKind::Internal,
                        format!("the model's engine is gone: {error}"),
                    ))])
                    .boxed();
                }
            };
            if sender
                .send(Request::Normal(Box::new(normal)))
                .await
                .is_err()
            {
                return futures::stream::iter(vec![Err(ModelError::new(
                    ErrorKind::Internal,
                    "the model's engine stopped",
                ))])
                .boxed();
            }
            let offered = request.tools.iter().map(|tool| tool.name.clone()).collect();
            let max_tokens = request.sampling.max_tokens.map(|max| max as usize);
            replies(
                receiver,
                StreamingReply::new(offered),
                tokens,
                max_tokens,
                (counter, tokenizer),
            )
            .map(move |item| {
                let _turn = &permit;
                item
            })
            .boxed()
        })
        .flatten()
        .boxed()
    }
}

type Prepared = (
    usize,
    Arc<TokenCounter>,
    NormalRequest,
    mpsc::Receiver<Response>,
);

impl LocalModel {
    fn prepare(&self, request: &ChatRequest) -> Result<Prepared, ModelError> {
        let tokens = self.prompt_tokens(request)?;
        let window = self.plan.window as usize;
        let wanted = request.sampling.max_tokens.map_or(1, |max| max as usize);
        if tokens.len() + wanted > window {
            return Err(ModelError::new(
                ErrorKind::LimitExceeded,
                format!(
                    "the prompt is {} tokens and {} more are asked for, but the model's window is {window} tokens",
                    tokens.len(),
                    wanted
                ),
            ));
        }
        let mut sampling = match request.sampling.temperature {
            Some(temperature) if temperature > 0.0 => SamplingParams {
                temperature: Some(temperature),
                top_p: request.sampling.top_p,
                ..SamplingParams::neutral()
            },
            _ => SamplingParams::deterministic(),
        };
        sampling.max_len = request.sampling.max_tokens.map(|max| max as usize);
        sampling.top_n_logprobs = request.logprobs.map_or(0, usize::from);
        let counter = Arc::new(TokenCounter {
            prompt: tokens.len(),
            generated: AtomicUsize::new(0),
            banned: if self.ignore_stop_tokens {
                self.stop_ids.clone()
            } else {
                Vec::new()
            },
        });
        let constraint = match (&request.output_schema, tool_call_schema(request)) {
            (Some(schema), _) => Constraint::JsonSchema(compact(schema)),
            (None, Some(call)) if request.tool_choice == ToolChoice::Auto => {
                Constraint::Lark(text_or_call(&compact(&call)))
            }
            (None, Some(call)) => Constraint::JsonSchema(compact(&call)),
            (None, None) => Constraint::None,
        };
        let (sender, receiver) = mpsc::channel(64);
        let processor: Arc<dyn CustomLogitsProcessor> = counter.clone();
        let normal = NormalRequest {
            messages: RequestMessage::CompletionTokens(tokens.clone()),
            sampling_params: sampling,
            response: sender,
            return_logprobs: request.logprobs.is_some(),
            is_streaming: true,
            id: 0,
            constraint,
            suffix: None,
            tools: None,
            tool_choice: None,
            logits_processors: Some(vec![processor]),
            return_raw_logits: false,
            web_search_options: None,
            model_id: None,
            truncate_sequence: false,
        };
        Ok((tokens.len(), counter, normal, receiver))
    }
}

/// What a call must be when the request offers tools (and does not say `none`): a
/// Llama-3.1 JSON call, `{"name": ..., "parameters": ...}`, of one of the tools its tool
/// choice allows, its parameters matching that tool's schema, which weft's own parser
/// reads back as a call. `None` when no call is allowed.
fn tool_call_schema(request: &ChatRequest) -> Option<serde_json::Value> {
    let mut calls: Vec<serde_json::Value> = request
        .tools
        .iter()
        .filter(|tool| match &request.tool_choice {
            ToolChoice::Auto | ToolChoice::Required => true,
            ToolChoice::Tool(name) => tool.name == *name,
            ToolChoice::None => false,
        })
        .map(|tool| {
            let mut parameters = tool.parameters.clone();
            // A draft marker inside a schema is not a constraint; llguidance need not see it.
            if let Some(object) = parameters.as_object_mut() {
                object.remove("$schema");
            }
            serde_json::json!({
                "type": "object",
                "properties": {
                    "name": { "const": tool.name },
                    "parameters": parameters,
                },
                "required": ["name", "parameters"],
                "additionalProperties": false,
            })
        })
        .collect();
    match calls.len() {
        0 => None,
        1 => calls.pop(),
        _ => Some(serde_json::json!({ "anyOf": calls })),
    }
}

/// The grammar of a reply that is either text or one call matching `call` (a JSON
/// Schema): text may not start with `{`, so a reply that starts a call finishes one, nor
/// hold `<function=`, which weft's parser would read as the start of a call.
fn text_or_call(call: &serde_json::Value) -> String {
    format!(
        "start: call | text\ncall: %json {call}\ntext: TEXT\nTEXT: /[^{{][\\s\\S]*/ & ~/(?s:.*)<function=(?s:.*)/\n"
    )
}

/// A schema whose JSON is written without free whitespace (`{"a": 1, "b": 2}`): with
/// whitespace allowed anywhere, a model can pad a reply with blanks up to its token limit.
/// A schema that sets its own `x-guidance` options (llguidance's) keeps them.
fn compact(schema: &serde_json::Value) -> serde_json::Value {
    let mut schema = schema.clone();
    if let Some(object) = schema.as_object_mut()
        && !object.contains_key("x-guidance")
    {
        object.insert(
            "x-guidance".into(),
            serde_json::json!({
                "whitespace_flexible": false,
                "item_separator": ", ",
                "key_separator": ": "
            }),
        );
    }
    schema
}

/// The events that end a reply: what was held back (text or tool calls), usage, the end.
fn finish_events(
    reply: &mut Option<StreamingReply>,
    prompt: usize,
    generated: usize,
    finish: &str,
) -> Vec<Result<ChatEvent, ModelError>> {
    let parsed = reply.take().map(StreamingReply::finish).unwrap_or_default();
    let mut events = Vec::new();
    if !parsed.text.is_empty() {
        events.push(Ok(ChatEvent::TextDelta(parsed.text)));
    }
    let has_calls = !parsed.tool_calls.is_empty();
    events.extend(
        parsed
            .tool_calls
            .into_iter()
            .map(|call| Ok(ChatEvent::ToolCall(call))),
    );
    events.push(Ok(ChatEvent::Usage(Usage {
        prompt_tokens: u32::try_from(prompt).unwrap_or(u32::MAX),
        completion_tokens: u32::try_from(generated).unwrap_or(u32::MAX),
    })));
    let reason = if has_calls {
        FinishReason::ToolCalls
    } else if matches!(finish, "length" | "model_length") {
        FinishReason::Length
    } else {
        FinishReason::Stop
    };
    events.push(Ok(ChatEvent::Finished(reason)));
    events
}

/// The port's events from mistralrs's responses.
fn replies(
    receiver: mpsc::Receiver<Response>,
    reply: StreamingReply,
    prompt: usize,
    max_tokens: Option<usize>,
    (counter, tokenizer): (Arc<TokenCounter>, Arc<Tokenizer>),
) -> impl futures::Stream<Item = Result<ChatEvent, ModelError>> {
    let state = (
        receiver,
        Some(reply),
        Vec::<Result<ChatEvent, ModelError>>::new(),
    );
    futures::stream::unfold(state, move |(mut receiver, mut reply, mut queue)| {
        let counter = counter.clone();
        let tokenizer = tokenizer.clone();
        async move {
            loop {
                if !queue.is_empty() {
                    let item = queue.remove(0);
                    return Some((item, (receiver, reply, queue)));
                }
                let streaming = reply.as_mut()?;
                let Some(response) = receiver.recv().await else {
                    // mistralrs 0.8.1 sends no last chunk when a reply ends inside a UTF-8
                    // character (the incomplete bytes are dropped): the reply ended all the
                    // same, at the token limit or at an end token.
                    let generated = counter.generated.load(Ordering::Relaxed);
                    let reason = match max_tokens {
                        Some(limit) if generated >= limit => "length",
                        _ => "stop",
                    };
                    queue.extend(finish_events(&mut reply, prompt, generated, reason));
                    continue;
                };
                let (text, finish) = match response {
                    Response::CompletionChunk(chunk) => match chunk.choices.into_iter().next() {
                        Some(choice) => {
                            if let Some(logprob) = &choice.logprobs {
                                let token = token_logprob(logprob, &tokenizer);
                                queue.push(Ok(ChatEvent::Logprobs(vec![token])));
                            }
                            (choice.text, choice.finish_reason)
                        }
                        None => continue,
                    },
                    Response::CompletionDone(done) => match done.choices.into_iter().next() {
                        Some(choice) => (String::new(), Some(choice.finish_reason)),
                        None => (String::new(), Some("stop".to_owned())),
                    },
                    Response::InternalError(error) | Response::ValidationError(error) => {
                        reply = None;
                        queue.push(Err(ModelError::new(ErrorKind::Upstream, error.to_string())));
                        continue;
                    }
                    Response::CompletionModelError(message, _)
                    | Response::ModelError(message, _) => {
                        reply = None;
                        queue.push(Err(ModelError::new(ErrorKind::Upstream, message)));
                        continue;
                    }
                    _ => continue,
                };
                if let Some(shown) = streaming.push(&text) {
                    queue.push(Ok(ChatEvent::TextDelta(shown)));
                }
                let Some(finish) = finish else {
                    continue;
                };
                let generated = counter.generated.load(Ordering::Relaxed);
                queue.extend(finish_events(&mut reply, prompt, generated, &finish));
            }
        }
    })
}

/// A token's log-probability as the port has it, its alternatives' text decoded with the
/// model's tokenizer where mistralrs gives only their ids.
fn token_logprob(
    logprob: &mistralrs::core::ResponseLogprob,
    tokenizer: &Tokenizer,
) -> weft_core::TokenLogprob {
    weft_core::TokenLogprob {
        token: logprob.token.clone(),
        logprob: f64::from(logprob.logprob),
        top: logprob
            .top_logprobs
            .iter()
            .map(|top| weft_core::TopLogprob {
                token: top
                    .bytes
                    .clone()
                    .or_else(|| tokenizer.decode(&[top.token], false).ok())
                    .unwrap_or_default(),
                logprob: f64::from(top.logprob),
            })
            .collect(),
    }
}
