//! The `shell` tool: only allowed programs, no shell in between, output capped, and the
//! process group killed when a call is stopped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use weft_core::{ErrorKind, ToolBox, ToolError};
use weft_tools::Registry;
use weft_tools::builtin::{SHELL_MAX_OUTPUT_BYTES, Shell, Workspace};

mod support;
use support::assert_ends;

fn shell(folder: &std::path::Path, allow: &[&str]) -> Registry {
    let workspace = Arc::new(Workspace::new(folder).unwrap());
    let mut registry = Registry::new();
    registry
        .register(Shell::new(
            allow.iter().map(|program| (*program).to_owned()).collect(),
            workspace,
        ))
        .unwrap();
    registry
}

async fn call(registry: &Registry, arguments: Value) -> Result<Value, ToolError> {
    support::call(registry, "shell", arguments).await
}

#[tokio::test]
async fn an_allowed_program_runs_in_the_workspace_with_its_arguments_as_they_are() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("notes.txt"), "one two three\n").unwrap();
    let registry = shell(folder.path(), &["wc", "echo", "cat"]);

    let output = call(
        &registry,
        json!({"program": "wc", "arguments": ["-w", "notes.txt"]}),
    )
    .await
    .unwrap();
    assert_eq!(output["exit_code"], json!(0));
    assert_eq!(output["stdout"], json!("3 notes.txt\n"));
    assert_eq!(output["truncated"], json!(false));

    // No shell: `;`, `$HOME` and globs are plain text.
    let output = call(
        &registry,
        json!({"program": "echo", "arguments": ["$HOME; rm -rf *", "`id`"]}),
    )
    .await
    .unwrap();
    assert_eq!(output["stdout"], json!("$HOME; rm -rf * `id`\n"));

    let output = call(&registry, json!({"program": "cat", "stdin": "from stdin"}))
        .await
        .unwrap();
    assert_eq!(output["stdout"], json!("from stdin"));

    // A failing program is a result the model reads, not an error.
    let output = call(
        &registry,
        json!({"program": "cat", "arguments": ["missing.txt"]}),
    )
    .await
    .unwrap();
    assert_eq!(output["exit_code"], json!(1));
    assert!(
        output["stderr"].as_str().unwrap().contains("missing.txt"),
        "{output}"
    );
}

#[tokio::test]
async fn a_program_off_the_list_is_refused_before_anything_runs() {
    let folder = tempfile::tempdir().unwrap();
    let registry = shell(folder.path(), &["wc"]);
    let spec = registry.spec("shell").unwrap();
    assert_eq!(
        spec.parameters["properties"]["program"]["enum"],
        json!(["wc"])
    );
    assert!(spec.description.contains("Allowed programs: wc."));
    for program in ["rm", "/bin/wc", "sh"] {
        let error = call(
            &registry,
            json!({"program": program, "arguments": ["-c", "touch x"]}),
        )
        .await
        .unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidInput, "{program}");
        let report: Value = serde_json::from_str(&error.message).unwrap();
        assert_eq!(
            report["problems"][0]["path"],
            json!("/program"),
            "{program}"
        );
    }
    assert!(!folder.path().join("x").exists());
}

#[tokio::test]
async fn output_past_the_limit_is_cut_and_flagged() {
    let folder = tempfile::tempdir().unwrap();
    let registry = shell(folder.path(), &["head"]);
    let bytes = SHELL_MAX_OUTPUT_BYTES * 3;
    let output = call(
        &registry,
        json!({"program": "head", "arguments": ["-c", bytes.to_string(), "/dev/zero"]}),
    )
    .await
    .unwrap();
    assert_eq!(output["exit_code"], json!(0));
    assert_eq!(output["truncated"], json!(true));
    assert_eq!(
        output["stdout"].as_str().unwrap().len() as u64,
        SHELL_MAX_OUTPUT_BYTES
    );
}

#[tokio::test]
async fn a_call_stopped_early_kills_what_the_program_started() {
    let folder = tempfile::tempdir().unwrap();
    let registry = shell(folder.path(), &["sh"]);
    let stopped = tokio::time::timeout(
        Duration::from_millis(500),
        call(
            &registry,
            json!({"program": "sh", "arguments": ["-c", "sleep 30 & echo $! > child.pid; wait"]}),
        ),
    )
    .await;
    assert!(stopped.is_err(), "the call was still running");
    assert_ends(&folder.path().join("child.pid"));
}
