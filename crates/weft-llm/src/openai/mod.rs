//! The OpenAI-compatible backend: chat completions over HTTP, streamed as server-sent
//! events, from OpenAI, vLLM, TGI, llama.cpp server, `mistralrs serve` or Hugging Face
//! Inference endpoints.
//!
//! A call is tried again, after a backoff with jitter, when the server cannot be reached,
//! answers 429 (after its `Retry-After`) or 5xx, goes silent past the idle timeout, or ends
//! its stream before the reply ends; a retry after text was streamed first sends
//! [`ChatEvent::Restarted`], so nothing is counted twice. Other failures are errors that say
//! what the server answered.

mod assemble;
mod config;
mod sse;
mod wire;

pub use assemble::{Assembler, CutOff};
pub use config::{ApiKey, Flavor, OpenAiConfig, RetryPolicy};
pub use sse::{SseDecoder, SseEvent};
pub use wire::request_body;

use futures::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use weft_core::{ChatEvent, ChatModel, ChatRequest, ChatStream, ErrorKind, ModelError};

/// A model behind an OpenAI-compatible server.
#[derive(Debug, Clone)]
pub struct OpenAiModel {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: reqwest::Client,
    config: OpenAiConfig,
}

impl OpenAiModel {
    /// A backend for the server `config` describes. Nothing is sent until the first call.
    pub fn new(config: OpenAiConfig) -> Result<Self, ModelError> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.request_timeout.min(Duration::from_secs(30)))
            .build()
            .map_err(|error| {
                ModelError::new(
                    ErrorKind::Internal,
                    format!("cannot build an HTTP client: {error}"),
                )
            })?;
        Ok(Self {
            inner: Arc::new(Inner { client, config }),
        })
    }

    /// Its settings.
    pub fn config(&self) -> &OpenAiConfig {
        &self.inner.config
    }
}

impl ChatModel for OpenAiModel {
    fn context_window(&self) -> u32 {
        self.inner.config.context_window
    }

    fn model_name(&self) -> Option<String> {
        Some(self.inner.config.model.clone())
    }

    fn chat(&self, request: ChatRequest) -> ChatStream {
        let inner = self.inner.clone();
        let body = wire::request_body(&request, &inner.config.model, inner.config.flavor);
        let offered = request.tools.iter().map(|tool| tool.name.clone()).collect();
        let call = Call {
            inner,
            body: body.to_string(),
            offered,
            phase: Phase::Connect,
            queue: VecDeque::new(),
            tries: 0,
            streamed: false,
        };
        futures::stream::unfold(call, |mut call| async move {
            let item = call.next().await?;
            Some((item, call))
        })
        .boxed()
    }
}

/// One call in progress.
struct Call {
    inner: Arc<Inner>,
    body: String,
    offered: Vec<String>,
    phase: Phase,
    queue: VecDeque<Result<ChatEvent, ModelError>>,
    /// Requests sent so far.
    tries: u32,
    /// Whether any event of the current try was handed on.
    streamed: bool,
}

enum Phase {
    Connect,
    Streaming(Box<Streaming>),
    Done,
}

/// A response being read.
struct Streaming {
    response: reqwest::Response,
    decoder: SseDecoder,
    assembler: Assembler,
}

/// Why a try failed, and whether (and when) to try again.
struct Failure {
    error: ModelError,
    retry_after: Option<Duration>,
    retryable: bool,
}

impl Failure {
    fn retryable(kind: ErrorKind, message: String) -> Self {
        Self {
            error: ModelError::new(kind, message),
            retry_after: None,
            retryable: true,
        }
    }

    fn fatal(kind: ErrorKind, message: String) -> Self {
        Self {
            error: ModelError::new(kind, message),
            retry_after: None,
            retryable: false,
        }
    }
}

impl Call {
    async fn next(&mut self) -> Option<Result<ChatEvent, ModelError>> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                if item.is_ok() {
                    self.streamed = true;
                }
                return Some(item);
            }
            let phase = std::mem::replace(&mut self.phase, Phase::Done);
            let outcome = match phase {
                Phase::Done => return None,
                Phase::Connect => self.connect().await,
                Phase::Streaming(streaming) => self.read(*streaming).await,
            };
            if let Err(failure) = outcome {
                self.on_failure(failure).await;
            }
        }
    }

    /// Sends the request; on success the phase becomes `Streaming` (or the whole reply is
    /// queued, for a server that answered with plain JSON).
    async fn connect(&mut self) -> Result<(), Failure> {
        self.tries += 1;
        let config = &self.inner.config;
        let mut builder = self
            .inner
            .client
            .post(&config.endpoint)
            .header(CONTENT_TYPE, "application/json")
            .body(self.body.clone());
        if let Some(key) = &config.api_key {
            builder = builder.header(AUTHORIZATION, key.bearer());
        }
        let shown = config.shown_endpoint();
        let response = match tokio::time::timeout(config.request_timeout, builder.send()).await {
            Err(_) => {
                return Err(Failure::retryable(
                    ErrorKind::Timeout,
                    format!(
                        "{shown} did not answer within {} s",
                        config.request_timeout.as_secs_f64()
                    ),
                ));
            }
            Ok(Err(error)) => {
                return Err(Failure::retryable(
                    ErrorKind::RetryableUpstream,
                    format!("cannot reach {shown}: {}", describe(&error)),
                ));
            }
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if !status.is_success() {
            return Err(self.refused(response).await);
        }
        let is_json = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/json"));
        let mut assembler = Assembler::new(self.offered.clone());
        if is_json {
            let body = tokio::time::timeout(config.request_timeout, response.bytes())
                .await
                .map_err(|_| {
                    Failure::retryable(
                        ErrorKind::Timeout,
                        format!("{shown} did not send its reply within the request timeout"),
                    )
                })?
                .map_err(|error| {
                    Failure::retryable(
                        ErrorKind::RetryableUpstream,
                        format!("{shown} broke off its reply: {}", describe(&error)),
                    )
                })?;
            let events = assembler
                .on_body(&body)
                .map_err(|error| Failure::fatal(error.kind, error.message))?;
            self.queue.extend(events.into_iter().map(Ok));
            self.phase = Phase::Done;
            return Ok(());
        }
        self.phase = Phase::Streaming(Box::new(Streaming {
            response,
            decoder: SseDecoder::new(),
            assembler,
        }));
        Ok(())
    }

    /// Reads the next piece of the stream.
    async fn read(&mut self, streaming: Streaming) -> Result<(), Failure> {
        let Streaming {
            mut response,
            mut decoder,
            mut assembler,
        } = streaming;
        let config = &self.inner.config;
        let shown = config.shown_endpoint();
        let chunk = match tokio::time::timeout(config.idle_timeout, response.chunk()).await {
            Err(_) => {
                return Err(Failure::retryable(
                    ErrorKind::Timeout,
                    format!(
                        "{shown} went silent for {} s in the middle of its reply",
                        config.idle_timeout.as_secs_f64()
                    ),
                ));
            }
            Ok(Err(error)) => {
                return Err(Failure::retryable(
                    ErrorKind::RetryableUpstream,
                    format!(
                        "{shown} broke off its reply after {} chunks: {}",
                        assembler.chunks(),
                        describe(&error)
                    ),
                ));
            }
            Ok(Ok(chunk)) => chunk,
        };
        let mut events = Vec::new();
        let mut out = Vec::new();
        let ended = match &chunk {
            Some(bytes) => {
                decoder.feed(bytes, &mut events).map_err(|error| {
                    Failure::fatal(ErrorKind::Upstream, format!("{shown}: {error}"))
                })?;
                false
            }
            None => {
                decoder.finish(&mut events);
                true
            }
        };
        for event in &events {
            assembler
                .on_event(event, &mut out)
                .map_err(|error| Failure::fatal(error.kind, error.message))?;
        }
        self.queue.extend(out.into_iter().map(Ok));
        if ended || assembler.is_done() {
            match assembler.complete() {
                Ok(last) => {
                    self.queue.extend(last.into_iter().map(Ok));
                    self.phase = Phase::Done;
                }
                Err(cut) => {
                    return Err(Failure::retryable(
                        ErrorKind::RetryableUpstream,
                        format!(
                            "{shown} ended its stream before the reply was finished (after {} chunks, without a finish reason or [DONE])",
                            cut.chunks
                        ),
                    ));
                }
            }
        } else {
            self.phase = Phase::Streaming(Box::new(Streaming {
                response,
                decoder,
                assembler,
            }));
        }
        Ok(())
    }

    /// A response with an error status, as a failure that says what the server answered.
    async fn refused(&self, response: reqwest::Response) -> Failure {
        let config = &self.inner.config;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = tokio::time::timeout(Duration::from_secs(10), response.bytes())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let said = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|value| wire::error_message(&value))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_owned());
        let said: String = said.chars().take(1000).collect();
        let said = if said.is_empty() {
            String::new()
        } else {
            format!(": {said}")
        };
        let shown = config.shown_endpoint();
        match status {
            StatusCode::TOO_MANY_REQUESTS => Failure {
                error: ModelError::new(
                    ErrorKind::RetryableUpstream,
                    format!("{shown} is rate-limiting weft (429 Too Many Requests){said}"),
                ),
                retry_after,
                retryable: true,
            },
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                let hint = match &config.api_key {
                    Some(key) => format!("check {key}"),
                    None => "no API key was sent; set one in the environment (`api_key_env` in weft.toml names the variable)".to_owned(),
                };
                Failure::fatal(
                    ErrorKind::Upstream,
                    format!("{shown} refused the request ({status}){said}; {hint}"),
                )
            }
            status if status.is_server_error() => Failure {
                error: ModelError::new(
                    ErrorKind::RetryableUpstream,
                    format!("{shown} failed ({status}){said}"),
                ),
                retry_after,
                retryable: true,
            },
            StatusCode::NOT_FOUND => Failure::fatal(
                ErrorKind::NotFound,
                format!(
                    "{shown} answered 404 Not Found{said}; check the URL (it should end in /v1) and the model name `{}`",
                    config.model
                ),
            ),
            status => {
                let lowered = said.to_lowercase();
                let kind = if lowered.contains("context")
                    || lowered.contains("too long")
                    || lowered.contains("maximum") && lowered.contains("token")
                {
                    ErrorKind::LimitExceeded
                } else {
                    ErrorKind::InvalidInput
                };
                Failure::fatal(
                    kind,
                    format!("{shown} rejected the request ({status}){said}"),
                )
            }
        }
    }

    /// Retries after a wait, or ends the call with the error.
    async fn on_failure(&mut self, failure: Failure) {
        let policy = &self.inner.config.retry;
        let retries_done = self.tries.saturating_sub(1);
        if !failure.retryable || retries_done >= policy.max_retries {
            let mut error = failure.error;
            if failure.retryable && self.tries > 1 {
                error.message = format!("{} (tried {} times)", error.message, self.tries);
            }
            self.queue.push_back(Err(error));
            self.phase = Phase::Done;
            return;
        }
        let wait = match failure.retry_after {
            Some(wait) if wait > policy.max_retry_after => {
                let mut error = failure.error;
                error.message = format!(
                    "{}; it asks weft to wait {} s, longer than the {} s weft waits",
                    error.message,
                    wait.as_secs(),
                    policy.max_retry_after.as_secs()
                );
                self.queue.push_back(Err(error));
                self.phase = Phase::Done;
                return;
            }
            Some(wait) => wait,
            None => {
                let backoff = policy.backoff(self.tries);
                // Jitter: between half and all of the backoff.
                backoff.mul_f64(0.5 + fastrand::f64() * 0.5)
            }
        };
        tokio::time::sleep(wait).await;
        if self.streamed || !self.queue.is_empty() {
            self.streamed = false;
            self.queue.push_back(Ok(ChatEvent::Restarted {
                reason: failure.error.message,
            }));
        }
        self.phase = Phase::Connect;
    }
}

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// A reqwest error with its causes, which say what actually went wrong.
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
