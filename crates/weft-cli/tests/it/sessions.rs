//! Sessions through the command line: the support agent remembers a customer across runs
//! (a pinned fact in every later context, an earlier conversation found by memory_search),
//! the memory tools refuse a run without a session, and `weft sessions` lists, shows,
//! searches, exports and deletes.

use super::command_line::{stderr, stdout, weft_in};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A copy of the example workflows in a fresh folder, so each test has its own database.
fn examples() -> (tempfile::TempDir, PathBuf) {
    let folder = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../workflows");
    let workflows = folder.path().join("workflows");
    std::fs::create_dir_all(workflows.join("replies")).unwrap();
    for name in ["support.yaml", "replies/support.yaml"] {
        std::fs::copy(source.join(name), workflows.join(name)).unwrap();
    }
    (folder, workflows.join("support.yaml"))
}

fn run(folder: &Path, file: &Path, message: &str, extra: &[&str]) -> std::process::Output {
    let input = serde_json::json!({ "message": message }).to_string();
    let file = file.to_str().unwrap();
    weft_in(
        folder,
        &[&["run", file, "--input", &input, "--json"], extra].concat(),
    )
}

/// The events of `output` (JSON lines) of one type.
fn events(output: &std::process::Output, kind: &str) -> Vec<Value> {
    stdout(output)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["event"]["type"] == kind || event["type"] == kind)
        .collect()
}

#[test]
fn the_support_agent_remembers_a_customer_across_runs() {
    let (folder, file) = examples();
    let first = run(
        folder.path(),
        &file,
        "Hi, I'm Ana Souza. My order 4471 of a brass desk lamp has not arrived.",
        &["--session", "ana"],
    );
    assert!(first.status.success(), "{}", stderr(&first));
    let second = run(
        folder.path(),
        &file,
        "Any news about my order?",
        &["--session", "ana"],
    );
    assert!(second.status.success(), "{}", stderr(&second));
    let output = stdout(&second);
    assert!(
        output.contains("Yes, Ana: order 4471, your brass desk lamp, is out for delivery today."),
        "{output}"
    );
    // The second run's first call was given the pinned fact and the first run's messages.
    let replies = events(&second, "model_replied");
    let context = &replies[0]["event"]["context"];
    assert_eq!(context["pins"]["count"], 1, "{context}");
    assert!(
        context["history_part"]["count"].as_u64().unwrap() >= 4,
        "{context}"
    );
    assert!(context["used"].as_u64().unwrap() <= context["budget"].as_u64().unwrap());
    // `weft runs show` says how full the window was and what filled it.
    let run_id = replies[0]["run"].as_str().unwrap().to_owned();
    let shown = weft_in(folder.path(), &["runs", "show", &run_id]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let text = stdout(&shown);
    let last = &replies.last().unwrap()["event"];
    let expected = format!(
        "the last, at step 1 `answer`, call {}: {} of {} prompt tokens",
        last["turn"].as_u64().unwrap() + 1,
        last["context"]["used"],
        last["context"]["budget"]
    );
    assert!(text.contains(&expected), "{text}");
    assert!(text.contains("1 pin(s)"), "{text}");
    assert!(text.contains("history "), "{text}");
    // The session holds both runs' messages and the pin.
    let shown = weft_in(folder.path(), &["sessions", "show", "ana", "--json"]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let shown: Value = serde_json::from_str(&stdout(&shown)).unwrap();
    assert_eq!(
        shown["pins"][0]["text"],
        "The customer is Ana Souza; she is waiting for order 4471."
    );
    assert!(
        shown["session"]["messages"].as_u64().unwrap() >= 8,
        "{shown}"
    );
    assert!(
        shown["session"]["locked_by"].is_null(),
        "finished runs hold no lock"
    );
}

#[test]
fn the_memory_tools_refuse_a_run_without_a_session() {
    let (folder, file) = examples();
    let output = run(folder.path(), &file, "Any news about my order?", &[]);
    let finished = events(&output, "tool_call_finished");
    let error = finished[0]["event"]["outcome"]["error"]["message"]
        .as_str()
        .unwrap();
    assert!(error.contains("--session NAME"), "{error}");
}

#[test]
fn sessions_are_listed_searched_exported_and_deleted() {
    let (folder, file) = examples();
    let first = run(
        folder.path(),
        &file,
        "Hi, I'm Ana Souza. My order 4471 of a brass desk lamp has not arrived.",
        &["--session", "ana"],
    );
    assert!(first.status.success(), "{}", stderr(&first));
    let list = weft_in(folder.path(), &["sessions", "list"]);
    assert!(stdout(&list).contains("ana"), "{}", stdout(&list));
    let search = weft_in(folder.path(), &["sessions", "search", "ana", "brass lamp"]);
    assert!(
        stdout(&search).contains("[m1] Hi, I'm Ana Souza"),
        "{}",
        stdout(&search)
    );
    let export = weft_in(folder.path(), &["sessions", "export", "ana"]);
    let lines: Vec<Value> = stdout(&export)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines[0]["role"], "user");
    let call = lines
        .iter()
        .find(|line| line.get("tool_calls").is_some())
        .unwrap();
    assert_eq!(call["tool_calls"][0]["type"], "function");
    assert_eq!(call["tool_calls"][0]["function"]["name"], "memory_pin");
    assert!(call["tool_calls"][0]["function"]["arguments"].is_string());
    let result = lines.iter().find(|line| line["role"] == "tool").unwrap();
    assert_eq!(result["tool_call_id"], call["tool_calls"][0]["id"]);
    let deleted = weft_in(folder.path(), &["sessions", "delete", "ana"]);
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    let missing = weft_in(folder.path(), &["sessions", "show", "ana"]);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("has no session `ana`"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn a_tokenizer_named_in_weft_toml_counts_a_model_served_elsewhere() {
    let (folder, file) = examples();
    let tokenizer = weft_fixtures::tokenizer::tokenizer_json(512, 256);
    std::fs::write(
        folder.path().join("tokenizer.json"),
        serde_json::to_vec(&tokenizer).unwrap(),
    )
    .unwrap();
    std::fs::write(
        folder.path().join("weft.toml"),
        "[models.counted]\nspec = \"scripted:workflows/replies/support.yaml\"\ntokenizer = \"tokenizer.json\"\n\n[models.missing]\nspec = \"scripted:workflows/replies/support.yaml\"\ntokenizer = \"nosuch.json\"\n\n[models.local]\nspec = \"mistralrs:./tiny\"\ntokenizer = \"tokenizer.json\"\n",
    )
    .unwrap();
    let output = run(
        folder.path(),
        &file,
        "Hi, I'm Ana Souza. My order 4471 of a brass desk lamp has not arrived.",
        &["--session", "ana", "--model", "counted"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let replies = events(&output, "model_replied");
    let context = &replies[0]["event"]["context"];
    assert!(
        context["tokenizer"]
            .as_str()
            .unwrap()
            .starts_with("tokenizer.json:"),
        "{context}"
    );
    assert_eq!(context["accuracy"], "exact", "{context}");

    let output = run(folder.path(), &file, "Hello", &["--model", "missing"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("cannot read the tokenizer")
            && stderr(&output).contains("nosuch.json"),
        "{}",
        stderr(&output)
    );
    let output = run(folder.path(), &file, "Hello", &["--model", "local"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("`[models.local]`: `tokenizer` is for models served elsewhere"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn running_another_workflow_in_a_session_says_so() {
    let (folder, file) = examples();
    let first = run(folder.path(), &file, "Hello", &["--session", "ana"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let other = folder.path().join("workflows/other.yaml");
    std::fs::write(&other, "name: other\nmodel: scripted:replies/other.yaml\nstate:\n  message: { type: string }\n  said: { type: string }\nentry: say\nnodes:\n  say:\n    kind: llm\n    prompt: \"{{ state.message }}\"\n    writes: { said: \"{{ reply }}\" }\n    next: end\n").unwrap();
    std::fs::write(
        folder.path().join("workflows/replies/other.yaml"),
        "replies:\n  - text: from the other workflow\n",
    )
    .unwrap();
    let second = run(folder.path(), &other, "Hello again", &["--session", "ana"]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("note: session `ana` was made for workflow `support`")
            && stderr(&second).contains("running `other` in it"),
        "{}",
        stderr(&second)
    );
    // The other workflow's call was given the session's history all the same.
    let replies = events(&second, "model_replied");
    assert!(
        replies[0]["event"]["context"]["history_part"]["count"]
            .as_u64()
            .unwrap()
            >= 2
    );
    assert!(!stderr(&first).contains("note: session"));
}
