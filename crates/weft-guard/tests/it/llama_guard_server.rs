//! Llama Guard 3 behind an OpenAI-compatible server on 127.0.0.1 (the way vLLM serves
//! `meta-llama/Llama-Guard-3-8B`): weft sends the conversation as chat messages with the
//! policy as template arguments and asks for log-probabilities; the probability of
//! `unsafe` is read from them.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use weft_core::{Guard, GuardPoint, GuardPolicy, GuardRequest, GuardTurn};
use weft_guard::LlamaGuard;
use weft_llm::openai::{Flavor, OpenAiConfig, OpenAiModel};

#[derive(Default)]
struct Server {
    requests: Mutex<Vec<Value>>,
}

fn chunk(content: &str, token: &str, top: &[(&str, f64)], finish: Option<&str>) -> String {
    let top: Vec<Value> = top
        .iter()
        .map(|(token, logprob)| json!({"token": token, "logprob": logprob}))
        .collect();
    let logprob = top
        .first()
        .and_then(|first| first["logprob"].as_f64())
        .unwrap_or(0.0);
    let body = json!({
        "choices": [{
            "index": 0,
            "delta": {"content": content},
            "logprobs": {"content": [{"token": token, "logprob": logprob, "top_logprobs": top}]},
            "finish_reason": finish,
        }]
    });
    format!("data: {body}\n\n")
}

async fn answer(State(server): State<Arc<Server>>, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap();
    server.requests.lock().unwrap().push(request);
    let unsafe_logprob = (0.83f64).ln();
    let safe_logprob = (0.17f64).ln();
    let stream = [
        chunk("\n\n", "\n\n", &[("\n\n", 0.0)], None),
        chunk(
            "unsafe",
            "unsafe",
            &[("unsafe", unsafe_logprob), ("safe", safe_logprob)],
            None,
        ),
        chunk("\n", "\n", &[("\n", 0.0)], None),
        chunk("S1", "S1", &[("S1", 0.0)], Some("stop")),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(axum::body::Body::from(stream))
        .unwrap()
}

#[tokio::test]
async fn the_probability_of_unsafe_comes_from_the_servers_log_probabilities() {
    let server = Arc::new(Server::default());
    let app = axum::Router::new()
        .route("/v1/chat/completions", post(answer))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let config = OpenAiConfig::new(
        &format!("http://{address}/v1"),
        "meta-llama/Llama-Guard-3-1B",
        Flavor::OpenAi,
    );
    let model = Arc::new(OpenAiModel::new(config).unwrap());
    let guard = LlamaGuard::new(model, "openai");
    let request = GuardRequest {
        point: GuardPoint::Output,
        conversation: vec![
            GuardTurn::user("How do I hurt him?"),
            GuardTurn::agent("Hit him with a brick."),
        ],
        policy: GuardPolicy {
            categories: Some(vec!["S1".into(), "S2".into()]),
            custom: Vec::new(),
        },
    };
    let verdict = guard.classify(request).await.unwrap();
    let worst = verdict.worst(&[]).unwrap();
    assert_eq!(worst.label, "unsafe");
    assert!((worst.score - 0.83).abs() < 1e-6, "{}", worst.score);
    assert_eq!(verdict.categories, ["S1"]);

    let sent = server.requests.lock().unwrap()[0].clone();
    assert_eq!(sent["model"], "meta-llama/Llama-Guard-3-1B");
    assert_eq!(
        sent["messages"][0],
        json!({"role": "user", "content": "How do I hurt him?"})
    );
    assert_eq!(sent["messages"][1]["role"], "assistant");
    assert_eq!(sent["logprobs"], true);
    assert_eq!(sent["top_logprobs"], 5);
    assert_eq!(sent["temperature"], 0.0);
    let excluded = sent["chat_template_kwargs"]["excluded_category_keys"]
        .as_array()
        .unwrap();
    assert_eq!(
        excluded.len(),
        11,
        "the 1B model's 13 categories less the 2 kept"
    );
    assert!(!excluded.contains(&json!("S1")));
    let categories = sent["chat_template_kwargs"]["categories"]
        .as_object()
        .unwrap();
    assert_eq!(categories.len(), 13, "the 1B model's categories");
    assert_eq!(categories["S1"], "Violent Crimes.");
}
