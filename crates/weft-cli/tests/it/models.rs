//! Model specs end to end through the `weft` binary: an OpenAI-compatible server on
//! 127.0.0.1, models named in weft.toml, and a tiny Llama-3.1 model run in-process.

use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn weft_in(folder: &Path, arguments: &[&str], environment: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weft"));
    command
        .args(arguments)
        .current_dir(folder)
        .stdin(Stdio::null())
        .env_remove("WEFT_MODEL")
        .env_remove("WEFT_CONFIG")
        .env_remove("OPENAI_API_KEY")
        .env("WEFT_DB", folder.join("weft.db"));
    for (name, value) in environment {
        command.env(name, value);
    }
    command.output().expect("weft runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn final_output(output: &Output) -> Value {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|event| event["event"]["type"] == "run_finished")
        .map(|event| event["event"]["output"].clone())
        .unwrap_or_else(|| panic!("no run_finished event: {}", stderr(output)))
}

const ONE_LLM_NODE: &str = "name: w\nstate: { said: { type: string } }\nentry: a\nnodes:\n  a: { kind: llm, prompt: 'Say hello.', writes: { said: '{{ reply }}' }, next: end }\n";

/// Serves `app` on 127.0.0.1 from a thread of its own; the base URL (`http://ADDRESS/v1`).
pub fn serve(app: axum::Router) -> String {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            sender.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{}/v1", receiver.recv().unwrap())
}

/// A chat-completions server that streams one reply and records the authorization header.
fn serve_openai() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::routing::post;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = seen.clone();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(move |headers: axum::http::HeaderMap| {
            let recorded = recorded.clone();
            async move {
                if let Some(value) = headers.get("authorization") {
                    recorded.lock().unwrap().push(value.to_str().unwrap().to_owned());
                }
                let body = [
                    r#"data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}"#,
                    r#"data: {"choices":[{"index":0,"delta":{"content":" from the server"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":4}}"#,
                    "data: [DONE]",
                ]
                .join("\n\n")
                    + "\n\n";
                axum::response::Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(axum::body::Body::from(body))
                    .unwrap()
            }
        }),
    );
    (serve(app), seen)
}

#[test]
fn an_openai_compatible_server_answers_a_workflow_and_its_key_stays_secret() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("w.yaml"), ONE_LLM_NODE).unwrap();
    let (url, seen) = serve_openai();
    let spec = format!("openai:{url}#llama");
    let output = weft_in(
        folder.path(),
        &["run", "--json", "w.yaml", "--model", &spec],
        &[("OPENAI_API_KEY", "sk-test-secret-0042")],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        final_output(&output)["said"],
        json!("Hello from the server")
    );
    assert_eq!(*seen.lock().unwrap(), ["Bearer sk-test-secret-0042"]);
    // Never printed, never stored: not in the output, not in the database files.
    assert!(!String::from_utf8_lossy(&output.stdout).contains("sk-test-secret"));
    assert!(!stderr(&output).contains("sk-test-secret"));
    // The benchmark works with any backend: a server's counts come from its usage.
    let output = weft_in(
        folder.path(),
        &[
            "bench",
            "model",
            "--model",
            &spec,
            "--prompt-tokens",
            "20",
            "--decode-tokens",
            "4",
            "--batch",
            "1,3",
        ],
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        printed.contains("prompt: 20 tokens (approximate)"),
        "{printed}"
    );
    assert!(
        printed.contains("| 1 |") && printed.contains("| 3 |"),
        "{printed}"
    );
    for entry in std::fs::read_dir(folder.path()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(14).any(|window| window == b"sk-test-secret"),
            "{} holds the key",
            path.display()
        );
    }
}

#[test]
fn models_named_in_weft_toml_and_their_errors() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("w.yaml"), ONE_LLM_NODE).unwrap();
    std::fs::write(
        folder.path().join("replies.yaml"),
        "replies:\n  - text: named in the config\n",
    )
    .unwrap();
    std::fs::write(
        folder.path().join("weft.toml"),
        "model = \"fast\"\n\n[models.fast]\nspec = \"scripted:replies.yaml\"\n\n[models.wrong]\nspec = \"openai:http://127.0.0.1:9/v1\"\nisq = \"fp8\"\n",
    )
    .unwrap();
    // The default model comes from weft.toml; a relative path in it reads from its folder.
    let output = weft_in(folder.path(), &["run", "--json", "w.yaml"], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(final_output(&output)["said"], json!("named in the config"));

    let output = weft_in(folder.path(), &["run", "w.yaml", "--model", "wrong"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("`[models.wrong]`: `isq` is for mistralrs: models"),
        "{}",
        stderr(&output)
    );

    let output = weft_in(folder.path(), &["run", "w.yaml", "--model", "nosuch"], &[]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("unknown model `nosuch`"), "{message}");
    assert!(message.contains("defines: fast, wrong"), "{message}");
    assert!(message.contains("`openai:URL[#model]`"), "{message}");

    let output = weft_in(
        folder.path(),
        &["run", "w.yaml", "--model", "vllm:http://x"],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("`vllm:` is not a kind of model"),
        "{message}"
    );
    assert!(message.contains("`mistralrs:PATH_OR_HUB_ID"), "{message}");
}

// The in-process backend is the `mistralrs` feature (on by default); without it the binary
// says it cannot run `mistralrs:` models, which `a_mistralrs_spec_needs_the_feature` checks.
#[cfg(feature = "mistralrs")]
#[test]
fn a_tiny_llama_runs_a_workflow_in_process_and_is_benchmarked() {
    let folder = tempfile::tempdir().unwrap();
    let model = folder.path().join("tiny");
    let output = weft_in(
        folder.path(),
        &["dev", "tiny-llama", model.to_str().unwrap()],
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(model.join("model.safetensors").is_file());

    // Structured output keeps a random-weight model's reply to valid JSON.
    std::fs::write(
        folder.path().join("w.yaml"),
        "name: w\nstate: { word: { type: string } }\nentry: a\nnodes:\n  a:\n    kind: llm\n    prompt: 'Answer in JSON.'\n    sampling: { max_tokens: 64 }\n    output_schema:\n      type: object\n      properties: { word: { type: string, maxLength: 4 } }\n      required: [word]\n      additionalProperties: false\n    writes: { word: '{{ output.word }}' }\n    next: end\n",
    )
    .unwrap();
    let spec = format!("mistralrs:{}?devices=cpu&isq=fp8", model.display());
    let output = weft_in(
        folder.path(),
        &["run", "--json", "w.yaml", "--model", &spec],
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("FP8 ISQ runs one sequence at a time"),
        "{}",
        stderr(&output)
    );
    assert!(final_output(&output)["word"].is_string());

    let output = weft_in(
        folder.path(),
        &[
            "bench",
            "model",
            "--model",
            &spec,
            "--prompt-tokens",
            "120",
            "--decode-tokens",
            "6",
            "--batch",
            "1,2",
        ],
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("prompt: 120 tokens"), "{printed}");
    assert!(
        printed.contains("| 1 |") && printed.contains("| 2 |"),
        "{printed}"
    );
    assert!(printed.contains("one sequence at a time"), "{printed}");
    assert!(printed.contains("peak resident memory"), "{printed}");
}

#[cfg(feature = "mistralrs")]
#[test]
fn bench_linear_times_each_weight_format_and_refuses_unknown_ones() {
    let folder = tempfile::tempdir().unwrap();
    let output = weft_in(
        folder.path(),
        &[
            "dev",
            "bench-linear",
            "--shape",
            "tiny",
            "--batch",
            "1,4",
            "--prefill",
            "6",
            "--samples",
            "2",
            "--iterations",
            "2",
        ],
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = String::from_utf8_lossy(&output.stdout);
    for route in [
        "unquantized",
        "fp8-isq",
        "fp8-isq-folded",
        "fp8-blockwise",
        "q8_0",
    ] {
        for rows in ["decode, batch 1", "decode, batch 4", "prefill 6"] {
            let line = printed
                .lines()
                .find(|line| line.starts_with(&format!("| {route} | {rows} |")))
                .unwrap_or_else(|| panic!("no {route} {rows} in {printed}"));
            assert!(line.ends_with("% |"), "{line}");
        }
    }
    // Not on the CPU, where FP8Linear has no GEMM of its own.
    assert!(!printed.contains("fp8-isq-gemm"), "{printed}");

    let output = weft_in(
        folder.path(),
        &["dev", "bench-linear", "--routes", "fp9"],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("unknown route `fp9`; the routes are unquantized, fp8-isq"),
        "{}",
        stderr(&output)
    );
}

#[cfg(not(feature = "mistralrs"))]
#[test]
fn a_mistralrs_spec_needs_the_feature() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(
        folder.path().join("flow.yaml"),
        "name: f\nentry: a\nnodes:\n  a: { kind: llm, prompt: hi, next: end }\n",
    )
    .unwrap();
    let output = weft_in(
        folder.path(),
        &[
            "run",
            "flow.yaml",
            "--model",
            "mistralrs:./model?devices=cpu",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("built without the `mistralrs` feature"),
        "{}",
        stderr(&output)
    );
    let output = weft_in(folder.path(), &["dev", "bench-linear"], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("the `mistralrs` feature"),
        "{}",
        stderr(&output)
    );
}
