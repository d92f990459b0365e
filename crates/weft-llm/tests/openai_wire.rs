//! The OpenAI-compatible backend against a real HTTP server on 127.0.0.1: an axum server
//! that replays TGI-, vLLM- and llama.cpp-style traffic (tests/fixtures/openai), rate limits,
//! server errors, silences and connections dropped mid-reply.

// Test helpers outside `#[test]` functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use futures::StreamExt;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weft_core::{
    ChatEvent, ChatModel, ChatRequest, ErrorKind, FinishReason, Message, ModelError, ModelReply,
    ReplyBuilder, ToolCall, ToolSpec, Usage,
};
use weft_llm::openai::{ApiKey, Flavor, OpenAiConfig, OpenAiModel};

/// What the server does on one try of a scenario.
#[derive(Clone)]
enum Answer {
    /// A streamed body, parts sent as separate writes.
    Stream(Vec<String>),
    /// Some parts, then the connection is dropped.
    StreamThenDrop(Vec<String>),
    /// Some parts, then silence (never ends).
    StreamThenSilence(Vec<String>),
    /// A status with a JSON body and headers.
    Status(u16, Value, Vec<(&'static str, String)>),
    /// A non-streamed JSON completion.
    Json(String),
}

#[derive(Default)]
struct Server {
    /// Scenario (the request's `model`) -> answers, one per try (the last repeats).
    scenarios: HashMap<String, Vec<Answer>>,
    /// Tries per scenario.
    tries: Mutex<HashMap<String, usize>>,
    /// Requests received: body and authorization header.
    requests: Mutex<Vec<(Value, Option<String>)>>,
}

fn fixture(name: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/openai")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    text.split("#split\n").map(str::to_owned).collect()
}

async fn answer(State(server): State<Arc<Server>>, headers: HeaderMap, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap();
    let authorization = headers
        .get("authorization")
        .map(|value| value.to_str().unwrap().to_owned());
    server
        .requests
        .lock()
        .unwrap()
        .push((request.clone(), authorization));
    let scenario = request["model"].as_str().unwrap().to_owned();
    let answers = &server.scenarios[&scenario];
    let try_index = {
        let mut tries = server.tries.lock().unwrap();
        let count = tries.entry(scenario).or_default();
        *count += 1;
        *count - 1
    };
    let answer = answers[try_index.min(answers.len() - 1)].clone();
    let sse = |parts: Vec<String>, end: Option<bool>| {
        let stream = async_parts(parts, end);
        Response::builder()
            .header("content-type", "text/event-stream")
            .body(Body::from_stream(stream))
            .unwrap()
    };
    match answer {
        Answer::Stream(parts) => sse(parts, None),
        Answer::StreamThenDrop(parts) => sse(parts, Some(true)),
        Answer::StreamThenSilence(parts) => sse(parts, Some(false)),
        Answer::Status(status, body, headers) => {
            let mut response = Response::builder().status(status);
            for (name, value) in headers {
                response = response.header(name, value);
            }
            response
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap()
        }
        Answer::Json(body) => Response::builder()
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap(),
    }
}

/// The parts, each a separate write; then nothing (`None`), an error that drops the
/// connection (`Some(true)`) or silence (`Some(false)`).
fn async_parts(
    parts: Vec<String>,
    end: Option<bool>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    futures::stream::unfold((parts.into_iter(), end), |(mut parts, end)| async move {
        if let Some(part) = parts.next() {
            tokio::time::sleep(Duration::from_millis(5)).await;
            return Some((Ok(Bytes::from(part)), (parts, end)));
        }
        match end {
            None => None,
            Some(true) => {
                // Let the client read what was sent before the connection goes.
                tokio::time::sleep(Duration::from_millis(100)).await;
                Some((
                    Err(std::io::Error::other("connection dropped")),
                    (parts, None),
                ))
            }
            Some(false) => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                None
            }
        }
    })
}

async fn serve(scenarios: Vec<(&str, Vec<Answer>)>) -> (String, Arc<Server>) {
    let server = Arc::new(Server {
        scenarios: scenarios
            .into_iter()
            .map(|(name, answers)| (name.to_owned(), answers))
            .collect(),
        ..Server::default()
    });
    let app = axum::Router::new()
        .route("/v1/chat/completions", post(answer))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/v1"), server)
}

fn model(url: &str, scenario: &str, flavor: Flavor) -> OpenAiModel {
    let mut config = OpenAiConfig::new(url, scenario, flavor);
    config.retry.initial_backoff = Duration::from_millis(20);
    config.retry.max_backoff = Duration::from_millis(100);
    config.retry.max_retries = 3;
    config.idle_timeout = Duration::from_millis(500);
    config.request_timeout = Duration::from_secs(5);
    OpenAiModel::new(config).unwrap()
}

fn weather_request() -> ChatRequest {
    ChatRequest {
        messages: vec![
            Message::system("You answer about the weather."),
            Message::user("What is the weather in Paris?"),
        ],
        tools: vec![ToolSpec {
            name: "get_weather".into(),
            description: "The weather in a city".into(),
            parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
        }],
        ..ChatRequest::default()
    }
}

async fn events(model: &OpenAiModel, request: ChatRequest) -> Vec<Result<ChatEvent, ModelError>> {
    model.chat(request).collect().await
}

async fn reply(model: &OpenAiModel, request: ChatRequest) -> Result<ModelReply, ModelError> {
    let mut builder = ReplyBuilder::new();
    for event in events(model, request).await {
        builder.push(event?);
    }
    Ok(builder.finish())
}

#[tokio::test]
async fn vllm_tool_call_split_across_chunks() {
    let (url, server) = serve(vec![(
        "vllm",
        vec![Answer::Stream(fixture("vllm_tool_call.sse"))],
    )])
    .await;
    let reply = reply(&model(&url, "vllm", Flavor::OpenAi), weather_request())
        .await
        .unwrap();
    assert_eq!(reply.text, "");
    assert_eq!(
        reply.tool_calls,
        [ToolCall::new(
            "chatcmpl-tool-91c2",
            "get_weather",
            json!({"city": "Paris", "unit": "celsius"})
        )]
    );
    assert_eq!(reply.finish, Some(FinishReason::ToolCalls));
    assert_eq!(
        reply.usage,
        Some(Usage {
            prompt_tokens: 231,
            completion_tokens: 20
        })
    );
    let (sent, authorization) = server.requests.lock().unwrap()[0].clone();
    assert_eq!(authorization, None);
    assert_eq!(sent["stream"], json!(true));
    assert_eq!(sent["stream_options"], json!({"include_usage": true}));
    assert_eq!(sent["tool_choice"], json!("auto"));
    assert_eq!(sent["tools"][0]["function"]["name"], json!("get_weather"));
    assert_eq!(
        sent["messages"][1],
        json!({"role": "user", "content": "What is the weather in Paris?"})
    );
}

#[tokio::test]
async fn vllm_without_a_tool_parser_still_gives_a_call() {
    let (url, _server) = serve(vec![(
        "plain",
        vec![Answer::Stream(fixture("vllm_no_parser.sse"))],
    )])
    .await;
    let all = events(&model(&url, "plain", Flavor::OpenAi), weather_request()).await;
    let all: Vec<ChatEvent> = all.into_iter().map(Result::unwrap).collect();
    // The call's JSON was held back, never streamed as text.
    assert!(
        all.iter()
            .all(|event| !matches!(event, ChatEvent::TextDelta(_))),
        "{all:?}"
    );
    assert_eq!(
        all,
        [
            ChatEvent::ToolCall(ToolCall::new(
                "call_0",
                "get_weather",
                json!({"city": "Lyon"})
            )),
            ChatEvent::Finished(FinishReason::ToolCalls),
        ]
    );
}

#[tokio::test]
async fn tgi_tool_call_as_one_object_with_finish_stop() {
    let (url, server) = serve(vec![(
        "tgi",
        vec![Answer::Stream(fixture("tgi_tool_call.sse"))],
    )])
    .await;
    let reply = reply(&model(&url, "tgi", Flavor::Tgi), weather_request())
        .await
        .unwrap();
    assert_eq!(
        reply.tool_calls,
        [ToolCall::new(
            "call_0",
            "get_weather",
            json!({"city": "Oslo"})
        )]
    );
    assert_eq!(reply.finish, Some(FinishReason::ToolCalls));
    let (sent, _) = server.requests.lock().unwrap()[0].clone();
    assert!(
        sent.get("stream_options").is_none(),
        "TGI gets no stream_options"
    );
}

#[tokio::test]
async fn tgi_keep_alives_and_a_stream_without_done() {
    let (url, _server) = serve(vec![(
        "tgi",
        vec![Answer::Stream(fixture("tgi_text_keepalive.sse"))],
    )])
    .await;
    let all: Vec<ChatEvent> = events(
        &model(&url, "tgi", Flavor::Tgi),
        ChatRequest {
            messages: vec![Message::user("Say hello in French.")],
            ..ChatRequest::default()
        },
    )
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect();
    assert_eq!(
        all,
        [
            ChatEvent::TextDelta("Bonjour".into()),
            ChatEvent::TextDelta(" à tous".into()),
            ChatEvent::TextDelta(".".into()),
            ChatEvent::Usage(Usage {
                prompt_tokens: 12,
                completion_tokens: 4
            }),
            ChatEvent::Finished(FinishReason::Stop),
        ]
    );
}

#[tokio::test]
async fn llama_cpp_crlf_lines_and_a_length_stop() {
    let (url, _server) = serve(vec![(
        "llamacpp",
        vec![Answer::Stream(fixture("llamacpp_text.sse"))],
    )])
    .await;
    let reply = reply(
        &model(&url, "llamacpp", Flavor::OpenAi),
        ChatRequest {
            messages: vec![Message::user("Hi")],
            ..ChatRequest::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(reply.text, "Hello");
    assert_eq!(reply.finish, Some(FinishReason::Length));
}

#[tokio::test]
async fn a_non_streamed_tgi_completion_with_object_arguments() {
    let body = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openai/tgi_completion.json"),
    )
    .unwrap();
    let (url, _server) = serve(vec![("json", vec![Answer::Json(body)])]).await;
    let reply = reply(&model(&url, "json", Flavor::Tgi), weather_request())
        .await
        .unwrap();
    assert_eq!(
        reply.tool_calls,
        [ToolCall::new(
            "0",
            "get_weather",
            json!({"city": "Rome", "unit": "celsius"})
        )]
    );
    assert_eq!(reply.finish, Some(FinishReason::ToolCalls));
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after() {
    let (url, server) = serve(vec![(
        "busy",
        vec![
            Answer::Status(
                429,
                json!({"error": {"message": "Rate limit reached", "type": "rate_limit"}}),
                vec![("retry-after", "1".into())],
            ),
            Answer::Stream(fixture("tgi_text_keepalive.sse")),
        ],
    )])
    .await;
    let started = Instant::now();
    let reply = reply(
        &model(&url, "busy", Flavor::OpenAi),
        ChatRequest {
            messages: vec![Message::user("Hi")],
            ..ChatRequest::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(reply.text, "Bonjour à tous.");
    assert_eq!(server.tries.lock().unwrap()["busy"], 2);
    // The server asked for one second; the backoff alone would have been 20 ms at most.
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_retry_after_beyond_the_limit_fails_at_once() {
    let (url, server) = serve(vec![(
        "busy",
        vec![Answer::Status(
            429,
            json!({"error": "slow down"}),
            vec![("retry-after", "3600".into())],
        )],
    )])
    .await;
    let error = reply(&model(&url, "busy", Flavor::OpenAi), weather_request())
        .await
        .unwrap_err();
    assert!(error.message.contains("429"), "{}", error.message);
    assert!(error.message.contains("wait 3600 s"), "{}", error.message);
    assert_eq!(server.tries.lock().unwrap()["busy"], 1);
}

#[tokio::test]
async fn server_errors_are_retried_then_reported() {
    let (url, server) = serve(vec![
        (
            "flaky",
            vec![
                Answer::Status(503, json!({"error": "loading model"}), vec![]),
                Answer::Status(502, json!({}), vec![]),
                Answer::Stream(fixture("llamacpp_text.sse")),
            ],
        ),
        (
            "down",
            vec![Answer::Status(
                500,
                json!({"object": "error", "message": "CUDA out of memory", "code": 500}),
                vec![],
            )],
        ),
    ])
    .await;
    let request = ChatRequest {
        messages: vec![Message::user("Hi")],
        ..ChatRequest::default()
    };
    let flaky = reply(&model(&url, "flaky", Flavor::OpenAi), request.clone())
        .await
        .unwrap();
    assert_eq!(flaky.text, "Hello");
    assert_eq!(server.tries.lock().unwrap()["flaky"], 3);
    let error = reply(&model(&url, "down", Flavor::OpenAi), request)
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::RetryableUpstream);
    assert!(error.message.contains("500"), "{}", error.message);
    assert!(
        error.message.contains("CUDA out of memory"),
        "{}",
        error.message
    );
    assert!(error.message.contains("tried 4 times"), "{}", error.message);
    assert_eq!(server.tries.lock().unwrap()["down"], 4);
}

#[tokio::test]
async fn a_stream_dropped_mid_reply_restarts_and_the_reply_is_whole() {
    let parts = fixture("tgi_text_keepalive.sse");
    let (url, server) = serve(vec![(
        "drop",
        vec![
            Answer::StreamThenDrop(parts[..1].to_vec()),
            Answer::Stream(parts.clone()),
        ],
    )])
    .await;
    let all: Vec<ChatEvent> = events(
        &model(&url, "drop", Flavor::Tgi),
        ChatRequest {
            messages: vec![Message::user("Hi")],
            ..ChatRequest::default()
        },
    )
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect();
    assert_eq!(all[0], ChatEvent::TextDelta("Bonjour".into()));
    assert!(
        matches!(&all[1], ChatEvent::Restarted { reason } if reason.contains("broke off")),
        "{all:?}"
    );
    let mut builder = ReplyBuilder::new();
    for event in all {
        builder.push(event);
    }
    assert_eq!(builder.finish().text, "Bonjour à tous.");
    assert_eq!(server.tries.lock().unwrap()["drop"], 2);
}

#[tokio::test]
async fn a_stream_that_always_breaks_is_an_error_not_a_short_reply() {
    let parts = fixture("vllm_tool_call.sse");
    let (url, _server) = serve(vec![(
        "drop",
        vec![Answer::StreamThenDrop(parts[..1].to_vec())],
    )])
    .await;
    let error = reply(&model(&url, "drop", Flavor::OpenAi), weather_request())
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::RetryableUpstream);
    assert!(
        error.message.contains("broke off its reply"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn a_silent_stream_times_out() {
    let parts = fixture("tgi_text_keepalive.sse");
    let (url, server) = serve(vec![(
        "quiet",
        vec![Answer::StreamThenSilence(parts[..1].to_vec())],
    )])
    .await;
    let mut model_config = model(&url, "quiet", Flavor::Tgi).config().clone();
    model_config.retry.max_retries = 1;
    let quiet = OpenAiModel::new(model_config).unwrap();
    let error = reply(
        &quiet,
        ChatRequest {
            messages: vec![Message::user("Hi")],
            ..ChatRequest::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Timeout);
    assert!(error.message.contains("went silent"), "{}", error.message);
    assert_eq!(server.tries.lock().unwrap()["quiet"], 2);
}

#[tokio::test]
async fn a_401_names_the_key_variable_never_the_key() {
    let (url, server) = serve(vec![(
        "auth",
        vec![Answer::Status(
            401,
            json!({"error": {"message": "Invalid API key"}}),
            vec![],
        )],
    )])
    .await;
    let mut config = model(&url, "auth", Flavor::OpenAi).config().clone();
    config.api_key = Some(ApiKey::new("WEFT_TEST_WIRE_KEY", "sk-very-secret-1234"));
    let keyed = OpenAiModel::new(config.clone()).unwrap();
    let error = reply(&keyed, weather_request()).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Upstream);
    assert!(error.message.contains("401"), "{}", error.message);
    assert!(
        error.message.contains("Invalid API key"),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("$WEFT_TEST_WIRE_KEY"),
        "{}",
        error.message
    );
    assert!(
        !error.message.contains("sk-very-secret"),
        "{}",
        error.message
    );
    assert!(!format!("{config:?}").contains("sk-very-secret"));
    assert_eq!(
        server.tries.lock().unwrap()["auth"],
        1,
        "a 401 is not retried"
    );
    let (_, authorization) = server.requests.lock().unwrap()[0].clone();
    assert_eq!(authorization.as_deref(), Some("Bearer sk-very-secret-1234"));
}

#[tokio::test]
async fn a_context_overflow_is_a_limit_error() {
    let (url, _server) = serve(vec![(
        "long",
        vec![Answer::Status(
            400,
            json!({"object": "error", "message": "This model's maximum context length is 131072 tokens. However, you requested 140000 tokens.", "code": 400}),
            vec![],
        )],
    )])
    .await;
    let error = reply(&model(&url, "long", Flavor::OpenAi), weather_request())
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::LimitExceeded);
    assert!(
        error.message.contains("maximum context length"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn an_unreachable_server_is_retried_then_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("http://{address}/v1");
    let error = reply(&model(&url, "none", Flavor::OpenAi), weather_request())
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::RetryableUpstream);
    assert!(error.message.contains("cannot reach"), "{}", error.message);
    assert!(error.message.contains("tried 4 times"), "{}", error.message);
}

#[tokio::test]
async fn a_bad_chunk_is_an_error_that_shows_it() {
    let (url, _server) = serve(vec![(
        "junk",
        vec![Answer::Stream(vec![
            "data: <html>502 Bad Gateway</html>\n\n".into(),
        ])],
    )])
    .await;
    let error = reply(&model(&url, "junk", Flavor::OpenAi), weather_request())
        .await
        .unwrap_err();
    assert!(
        error.message.contains("not a chat-completion chunk"),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("502 Bad Gateway"),
        "{}",
        error.message
    );
}
