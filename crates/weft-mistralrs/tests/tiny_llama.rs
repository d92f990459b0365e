//! The mistralrs backend on the CPU with a tiny random-weight Llama-3.1 model made on the
//! spot (weft-fixtures), quantized to FP8 in situ: loading, exact token counts, stopping at
//! `<|eot_id|>`, streaming order, tool calls (constrained by a required tool choice), and
//! the errors a bad directory gives.

// Test helpers outside `#[test]` functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures::StreamExt;
use serde_json::{Value, json};
use std::path::Path;
use weft_core::{
    ChatEvent, ChatModel, ChatRequest, ErrorKind, FinishReason, Message, ModelError, Sampling,
    ToolSpec,
};
use weft_fixtures::{Shape, write_model};
use weft_llm::ModelSpec;
use weft_llm::spec::LocalSpec;
use weft_mistralrs::{LocalError, LocalModel};

fn spec(directory: &Path, query: &str) -> LocalSpec {
    let text = format!("mistralrs:{}?{query}", directory.display());
    match ModelSpec::parse(&text, Path::new("/")).unwrap() {
        ModelSpec::Local(spec) => spec,
        other => panic!("not a local spec: {other:?}"),
    }
}

async fn events(model: &LocalModel, request: ChatRequest) -> Vec<ChatEvent> {
    model
        .chat(request)
        .collect::<Vec<Result<ChatEvent, ModelError>>>()
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

/// A request for at most `max_tokens` new tokens.
fn asking(messages: Vec<Message>, max_tokens: u32) -> ChatRequest {
    ChatRequest {
        messages,
        sampling: Sampling {
            max_tokens: Some(max_tokens),
            ..Sampling::default()
        },
        ..ChatRequest::default()
    }
}

fn text_of(events: &[ChatEvent]) -> String {
    events
        .iter()
        .filter_map(|event| match event {
            ChatEvent::TextDelta(text) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// One test, so the model loads once: each step checks one part of the pipeline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_llama_runs_with_fp8_on_the_cpu() {
    let directory = tempfile::tempdir().unwrap();
    write_model(directory.path(), Shape::TINY, 7).unwrap();
    let model = LocalModel::load(&spec(directory.path(), "isq=fp8&devices=cpu"))
        .await
        .unwrap();
    assert_eq!(
        model.context_window(),
        131_072,
        "the window comes from config.json"
    );
    assert_eq!(
        model.plan().max_sequences,
        1,
        "FP8 keeps to one sequence at a time"
    );
    assert!(
        model
            .plan()
            .notes
            .iter()
            .any(|note| note.contains("one sequence"))
    );

    // Exactly 12 tokens when the end tokens are banned; counts are the tokenizer's.
    let request = asking(
        vec![
            Message::system("Be brief."),
            Message::user("Say something."),
        ],
        12,
    );
    let prompt_tokens = model.prompt_tokens(&request).unwrap().len() as u32;
    let fixed = LocalModel::load(&spec(directory.path(), "isq=fp8&devices=cpu"))
        .await
        .unwrap()
        .ignoring_stop_tokens();
    let all = events(&fixed, request.clone()).await;
    let (last, rest) = all.split_last().unwrap();
    assert_eq!(*last, ChatEvent::Finished(FinishReason::Length));
    let ChatEvent::Usage(usage) = rest.last().unwrap() else {
        panic!("usage comes just before the end: {all:?}")
    };
    assert_eq!(usage.prompt_tokens, prompt_tokens);
    assert_eq!(usage.completion_tokens, 12);
    assert!(
        rest[..rest.len() - 1]
            .iter()
            .all(|event| matches!(event, ChatEvent::TextDelta(_))),
        "text first, then usage, then the end: {all:?}"
    );

    // FP8 ISQ: requests that arrive together are answered one after the other (mistralrs's
    // own limit lets them run together, which FP8 ISQ cannot on CUDA).
    let fixed = std::sync::Arc::new(fixed);
    let started = std::time::Instant::now();
    let together = (0..3).map(|_| {
        let model = fixed.clone();
        let request = request.clone();
        async move {
            let mut stream = model.chat(request);
            let mut first = None;
            while let Some(event) = stream.next().await {
                event.unwrap();
                first.get_or_insert_with(|| started.elapsed());
            }
            (first.unwrap(), started.elapsed())
        }
    });
    let mut spans = futures::future::join_all(together).await;
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[1].0 >= pair[0].1, "replies overlapped: {spans:?}");
    }

    // A reply cut inside a UTF-8 character (random bytes often are) still ends properly:
    // mistralrs 0.8.1 sends no last chunk then, and weft ends the reply itself.
    for text in ["", "x", "The quick brown", "Ünïcödé ठीक है สวัสดี"] {
        let all = events(&fixed, asking(vec![Message::user(text)], 6)).await;
        assert_eq!(
            all.last(),
            Some(&ChatEvent::Finished(FinishReason::Length)),
            "{text:?}: {all:?}"
        );
        assert!(
            all.iter().any(
                |event| matches!(event, ChatEvent::Usage(usage) if usage.completion_tokens == 6)
            ),
            "{text:?}: {all:?}"
        );
    }

    // Structured output: the grammar ends the JSON, then only <|eot_id|> may follow, and
    // the model stops there. Every byte is one token of this tokenizer, plus the end token.
    let schema = json!({
        "type": "object",
        "properties": {"answer": {"type": "string", "maxLength": 6}},
        "required": ["answer"],
        "additionalProperties": false
    });
    let all = events(
        &model,
        ChatRequest {
            output_schema: Some(schema),
            ..asking(vec![Message::user("Answer in JSON.")], 200)
        },
    )
    .await;
    let text = text_of(&all);
    let value: Value =
        serde_json::from_str(&text).unwrap_or_else(|error| panic!("{error}: {text}"));
    assert!(value["answer"].is_string(), "{text}");
    assert!(!text.contains("<|"), "no special token in the text: {text}");
    assert_eq!(all.last(), Some(&ChatEvent::Finished(FinishReason::Stop)));
    let usage = all
        .iter()
        .find_map(|event| match event {
            ChatEvent::Usage(usage) => Some(*usage),
            _ => None,
        })
        .unwrap();
    assert_eq!(usage.completion_tokens as usize, text.len() + 1, "{text}");

    // A tool call the model writes comes back as a tool call, not as text.
    let call_schema = json!({
        "type": "object",
        "properties": {
            "name": {"const": "get_weather"},
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "maxLength": 5}},
                "required": ["city"],
                "additionalProperties": false
            }
        },
        "required": ["name", "parameters"],
        "additionalProperties": false
    });
    let all = events(
        &model,
        ChatRequest {
            tools: vec![ToolSpec {
                name: "get_weather".into(),
                description: "The weather in a city.".into(),
                parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
            }],
            output_schema: Some(call_schema),
            ..asking(vec![Message::user("Weather in Paris?")], 200)
        },
    )
    .await;
    assert_eq!(
        text_of(&all),
        "",
        "the call was not streamed as text: {all:?}"
    );
    let calls: Vec<_> = all
        .iter()
        .filter_map(|event| match event {
            ChatEvent::ToolCall(call) => Some(call.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(calls.len(), 1, "{all:?}");
    assert_eq!(calls[0].name, "get_weather");
    assert!(calls[0].arguments["city"].is_string(), "{:?}", calls[0]);
    assert_eq!(
        all.last(),
        Some(&ChatEvent::Finished(FinishReason::ToolCalls))
    );

    // A raw prompt (a guard's) is the whole prompt, tokenized as it is: no system header is
    // added. The log-probabilities asked for come back, the chosen token the likeliest of
    // its alternatives (greedy decoding).
    let raw = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nIs this safe?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
    let raw_request = ChatRequest {
        raw_prompt: Some(raw.to_owned()),
        logprobs: Some(3),
        ..asking(vec![Message::user("not what the model reads")], 4)
    };
    let tokenizer =
        tokenizers::Tokenizer::from_file(directory.path().join("tokenizer.json")).unwrap();
    let expected = tokenizer.encode(raw, false).unwrap().get_ids().to_vec();
    assert_eq!(model.prompt_tokens(&raw_request).unwrap(), expected);
    let all = events(&fixed, raw_request).await;
    let logprobs: Vec<weft_core::TokenLogprob> = all
        .iter()
        .filter_map(|event| match event {
            ChatEvent::Logprobs(tokens) => Some(tokens.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    // mistralrs 0.8.1 sends a chunk (and its log-probability) per piece of whole text: the
    // random tiny model's tokens are often bytes of one character, which come together.
    assert!(!logprobs.is_empty() && logprobs.len() <= 4, "{all:?}");
    for token in &logprobs {
        assert!(token.logprob <= 0.0, "{token:?}");
        assert!(!token.top.is_empty() && token.top.len() <= 3, "{token:?}");
        assert!(
            (token.top[0].logprob - token.logprob).abs() < 1e-4,
            "{token:?}"
        );
    }

    // A prompt that does not fit the window is refused before any work, with the counts.
    let small = LocalModel::load(&spec(directory.path(), "devices=cpu&window=40"))
        .await
        .unwrap();
    let error = small
        .chat(ChatRequest {
            messages: vec![Message::user(
                "This prompt is far longer than forty tokens of one byte each.",
            )],
            ..ChatRequest::default()
        })
        .next()
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::LimitExceeded);
    assert!(
        error.message.contains("window is 40 tokens"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn a_bad_model_directory_is_a_clear_error() {
    let directory = tempfile::tempdir().unwrap();
    write_model(directory.path(), Shape::TINY, 1).unwrap();
    let load = |query: &'static str| {
        let spec = spec(directory.path(), query);
        async move { LocalModel::load(&spec).await.unwrap_err() }
    };

    std::fs::rename(
        directory.path().join("tokenizer.json"),
        directory.path().join("tokenizer.json.away"),
    )
    .unwrap();
    let error = load("devices=cpu").await;
    assert!(
        matches!(&error, LocalError::MissingFile { file, .. } if file == "tokenizer.json"),
        "{error}"
    );
    std::fs::rename(
        directory.path().join("tokenizer.json.away"),
        directory.path().join("tokenizer.json"),
    )
    .unwrap();

    let config_path = directory.path().join("config.json");
    let original = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(
        &config_path,
        original.replace("LlamaForCausalLM", "MixtralForCausalLM"),
    )
    .unwrap();
    let error = load("devices=cpu").await.to_string();
    assert!(
        error.contains("MixtralForCausalLM is not supported"),
        "{error}"
    );
    std::fs::write(&config_path, &original).unwrap();

    let settings_path = directory.path().join("tokenizer_config.json");
    let settings = std::fs::read_to_string(&settings_path).unwrap();
    std::fs::write(
        &settings_path,
        settings.replace("\"eos_token\": \"<|eot_id|>\"", "\"eos_token\": \"</s>\""),
    )
    .unwrap();
    let error = load("devices=cpu").await.to_string();
    assert!(
        error.contains("eos_token </s> is not in tokenizer.json"),
        "{error}"
    );
    std::fs::write(&settings_path, settings).unwrap();

    // An unknown ISQ type is refused when the spec is read, before any file is.
    let text = format!(
        "mistralrs:{}?devices=cpu&isq=q9",
        directory.path().display()
    );
    let error = ModelSpec::parse(&text, Path::new("/"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("`isq=q9`: not an ISQ type"), "{error}");
    let error = load("devices=cpu&dtype=bf16").await.to_string();
    assert!(error.contains("no CPU bf16 matmul"), "{error}");

    std::fs::remove_file(directory.path().join("model.safetensors")).unwrap();
    let error = load("devices=cpu").await;
    assert!(
        matches!(&error, LocalError::MissingFile { file, .. } if file == "model.safetensors"),
        "{error}"
    );

    let error = LocalModel::load(&spec(&directory.path().join("nowhere"), "devices=cpu"))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("does not exist"), "{error}");
}

/// The greedy text of 16 tokens, the end tokens banned.
async fn sixteen_tokens(directory: &Path, query: &str) -> (String, LocalModel) {
    let model = LocalModel::load(&spec(directory, query))
        .await
        .unwrap()
        .ignoring_stop_tokens();
    let all = events(
        &model,
        asking(vec![Message::user("Tell me about Paris.")], 16),
    )
    .await;
    assert_eq!(
        all.last(),
        Some(&ChatEvent::Finished(FinishReason::Length)),
        "{all:?}"
    );
    (text_of(&all), model)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_other_fp8_routes_load_and_generate() {
    // A prequantized block-scaled FP8 checkpoint (different kernels from FP8 ISQ on CUDA).
    let checkpoint = tempfile::tempdir().unwrap();
    weft_fixtures::write_model_with(
        checkpoint.path(),
        Shape::TINY,
        3,
        weft_fixtures::Weights::Fp8Blocks(32),
    )
    .unwrap();
    let (_, model) = sixteen_tokens(checkpoint.path(), "devices=cpu").await;
    let files = model.plan().files.as_ref().unwrap();
    assert_eq!(files.quantization.as_deref(), Some("fp8"));

    // FP8 ISQ on the feed-forward projections of the inner layers only.
    let four_layers = tempfile::tempdir().unwrap();
    let shape = Shape {
        layers: 4,
        ..Shape::TINY
    };
    write_model(four_layers.path(), shape, 5).unwrap();
    let (plain, _) = sixteen_tokens(four_layers.path(), "devices=cpu").await;
    let (everywhere, _) = sixteen_tokens(four_layers.path(), "devices=cpu&isq=fp8").await;
    assert_ne!(
        plain, everywhere,
        "FP8 everywhere changes this model's greedy text"
    );
    let (_, model) = sixteen_tokens(four_layers.path(), "devices=cpu&isq=fp8&isq_scope=ffn").await;
    assert_eq!(
        model.plan().max_sequences,
        1,
        "FP8 linears: one sequence at a time"
    );
    // Which weights it quantizes is checked against mistralrs's own topology matcher in
    // load.rs's tests; here the route loads and generates.
}

#[tokio::test]
async fn a_missing_folder_taken_for_a_hub_id_says_so() {
    let spec = match ModelSpec::parse(
        "mistralrs:no-such-owner/no-such-model?devices=cpu",
        Path::new("/nonexistent-base"),
    )
    .unwrap()
    {
        ModelSpec::Local(spec) => spec,
        other => panic!("not a local spec: {other:?}"),
    };
    // This machine has no network: the hub cannot be reached, and the error says why the
    // name was looked up there.
    let error = LocalModel::load(&spec).await.unwrap_err().to_string();
    assert!(
        error.contains("is not a folder here, so it was taken for a Hugging Face hub id"),
        "{error}"
    );
}

/// The forecast tool's arguments: an enum, an integer range and required fields.
fn forecast_tool() -> ToolSpec {
    ToolSpec {
        name: "forecast".into(),
        description: "The weather ahead in a city.".into(),
        parameters: json!({
            "type": "object",
            "properties": {
                "city": {"type": "string", "maxLength": 8},
                "unit": {"enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7}
            },
            "required": ["city", "unit", "days"],
            "additionalProperties": false
        }),
    }
}

/// Whether `events` hold exactly one call of `forecast` whose arguments fit its schema.
fn one_valid_forecast(events: &[ChatEvent]) -> Result<(), String> {
    let calls: Vec<_> = events
        .iter()
        .filter_map(|event| match event {
            ChatEvent::ToolCall(call) => Some(call),
            _ => None,
        })
        .collect();
    let [call] = calls.as_slice() else {
        return Err(format!("{} calls: {events:?}", calls.len()));
    };
    let arguments = call
        .arguments
        .as_object()
        .ok_or("arguments not an object")?;
    let city = arguments.get("city").and_then(Value::as_str);
    let unit = arguments.get("unit").and_then(Value::as_str);
    let days = arguments.get("days").and_then(Value::as_i64);
    let fits = call.name == "forecast"
        && arguments.len() == 3
        && city.is_some_and(|city| city.chars().count() <= 8)
        && unit.is_some_and(|unit| ["celsius", "fahrenheit"].contains(&unit))
        && days.is_some_and(|days| (1..=7).contains(&days));
    if fits {
        Ok(())
    } else {
        Err(format!("{call:?}"))
    }
}

/// With `tool_choice: required` decoding is constrained to a call of an offered tool whose
/// arguments fit its schema: every one of 50 replies of a random-weight model (50 prompts)
/// parses as such a call. With `auto`, a reply is text or such a call. Unconstrained, the
/// same model writes no such call.
#[tokio::test]
async fn a_required_tool_choice_constrains_every_reply_to_a_valid_call() {
    let directory = tempfile::tempdir().unwrap();
    write_model(directory.path(), Shape::TINY, 11).unwrap();
    let model = LocalModel::load(&spec(directory.path(), "devices=cpu"))
        .await
        .unwrap();
    for seed in 0..50 {
        let all = events(
            &model,
            ChatRequest {
                tools: vec![forecast_tool()],
                tool_choice: weft_core::ToolChoice::Required,
                ..asking(vec![Message::user(format!("Forecast number {seed}?"))], 200)
            },
        )
        .await;
        if let Err(problem) = one_valid_forecast(&all) {
            panic!("reply {seed} is not a valid call: {problem}");
        }
        assert_eq!(
            all.last(),
            Some(&ChatEvent::Finished(FinishReason::ToolCalls)),
            "reply {seed}"
        );
    }
    // `auto`: text that does not start a call, or one valid call.
    for seed in 0..10 {
        let all = events(
            &model,
            ChatRequest {
                tools: vec![forecast_tool()],
                ..asking(vec![Message::user(format!("Forecast number {seed}?"))], 60)
            },
        )
        .await;
        let text = text_of(&all);
        let calls = all
            .iter()
            .filter(|event| matches!(event, ChatEvent::ToolCall(_)))
            .count();
        match calls {
            0 => assert!(
                !text.starts_with('{') && !text.contains("<function="),
                "reply {seed}: {text:?}"
            ),
            _ => one_valid_forecast(&all).unwrap_or_else(|problem| panic!("{seed}: {problem}")),
        }
    }
    // Unconstrained (the tool offered, but the choice `none`), the same model writes no
    // valid call.
    let mut valid_unconstrained = 0;
    for seed in 0..10 {
        let all = events(
            &model,
            ChatRequest {
                tools: vec![forecast_tool()],
                tool_choice: weft_core::ToolChoice::None,
                ..asking(vec![Message::user(format!("Forecast number {seed}?"))], 100)
            },
        )
        .await;
        valid_unconstrained += usize::from(one_valid_forecast(&all).is_ok());
    }
    assert_eq!(
        valid_unconstrained, 0,
        "random weights write valid calls only when constrained"
    );
}
