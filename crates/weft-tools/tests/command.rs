//! Command tools: real child processes fed JSON on standard input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::json;
use std::path::Path;
use std::time::Duration;
use weft_core::{ErrorKind, ToolBox};
use weft_tools::Registry;
use weft_tools::command::{ManifestError, register_file, register_folder};

mod support;
use support::{assert_ends, call};

fn manifest(folder: &Path, name: &str, script: &str, extra: &str) {
    let text = format!(
        "name: {name}\ndescription: A test tool.\ncommand: [sh, -c, '{script}']\nparameters:\n  type: object\n  properties: {{ text: {{ type: string }} }}\n  required: [text]\n{extra}"
    );
    std::fs::write(folder.join(format!("{name}.yaml")), text).unwrap();
}

#[tokio::test]
async fn a_command_gets_its_arguments_as_json_and_returns_json() {
    let folder = tempfile::tempdir().unwrap();
    manifest(
        folder.path(),
        "echo_back",
        "cat",
        "idempotent: true\ntimeout: 5s\n",
    );
    manifest(
        folder.path(),
        "key",
        "printf \"\\\"%s\\\"\" \"$WEFT_IDEMPOTENCY_KEY\"",
        "",
    );
    let mut registry = Registry::new();
    assert_eq!(register_folder(&mut registry, folder.path()).unwrap(), 2);
    assert_eq!(
        call(&registry, "echo_back", json!({"text": "hi"}))
            .await
            .unwrap(),
        json!({"text": "hi"})
    );
    assert_eq!(
        call(&registry, "key", json!({"text": "x"})).await.unwrap(),
        json!("run/1/-/0/0")
    );
    assert!(registry.is_idempotent("echo_back") && !registry.is_idempotent("key"));
    assert_eq!(
        registry.policy("echo_back").timeout,
        Some(Duration::from_secs(5))
    );
    // Arguments are checked against the manifest's schema before the program starts.
    let error = call(&registry, "echo_back", json!({})).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidInput);
    assert!(
        error
            .message
            .contains("\\\"text\\\" is a required property"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn failures_say_what_the_program_did() {
    let folder = tempfile::tempdir().unwrap();
    manifest(
        folder.path(),
        "fails",
        "cat >/dev/null; echo oops >&2; exit 3",
        "",
    );
    manifest(folder.path(), "busy", "exit 75", "");
    manifest(folder.path(), "chatty", "echo hello there", "");
    let mut registry = Registry::new();
    register_folder(&mut registry, folder.path()).unwrap();
    let error = call(&registry, "fails", json!({"text": "x"}))
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Upstream);
    assert_eq!(error.message, "tool `fails`: exited with status 3: oops");
    let error = call(&registry, "busy", json!({"text": "x"}))
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::RetryableUpstream);
    let error = call(&registry, "chatty", json!({"text": "x"}))
        .await
        .unwrap_err();
    assert!(
        error.message.contains("did not print one JSON value"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn a_call_stopped_early_kills_the_whole_process_group() {
    let folder = tempfile::tempdir().unwrap();
    let pid_file = folder.path().join("grandchild.pid");
    manifest(
        folder.path(),
        "slow",
        &format!("sleep 30 & echo $! > {}; wait", pid_file.display()),
        "",
    );
    let mut registry = Registry::new();
    register_folder(&mut registry, folder.path()).unwrap();
    let stopped = tokio::time::timeout(
        Duration::from_millis(500),
        call(&registry, "slow", json!({"text": "x"})),
    )
    .await;
    assert!(stopped.is_err(), "the call was still running");
    assert_ends(&pid_file);
}

#[tokio::test]
async fn manifests_are_yaml_1_2_so_properties_named_y_or_no_stay_names() {
    // Under YAML 1.1 `y`, `no`, `n` and `off` would be booleans, and `required: [x, y]`
    // would be no schema at all.
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("math_hypot.yaml");
    std::fs::write(
        &path,
        "name: math_hypot\ndescription: The hypotenuse of a right triangle with legs x and y.\ncommand: [cat]\nparameters:\n  type: object\n  properties: { x: { type: number }, y: { type: number }, no: { enum: [n, off] } }\n  required: [x, y]\nidempotent: false\n",
    )
    .unwrap();
    let mut registry = Registry::new();
    register_file(&mut registry, &path).unwrap();
    let parameters = registry.spec("math_hypot").unwrap().parameters;
    assert_eq!(parameters["required"], json!(["x", "y"]));
    assert_eq!(parameters["properties"]["y"], json!({"type": "number"}));
    assert_eq!(
        parameters["properties"]["no"],
        json!({"enum": ["n", "off"]})
    );
    let arguments = json!({"x": 3, "y": 4, "no": "off"});
    assert_eq!(
        call(&registry, "math_hypot", arguments.clone())
            .await
            .unwrap(),
        arguments
    );
    let error = call(&registry, "math_hypot", json!({"x": 3}))
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidInput);
    assert!(
        error.message.contains("\\\"y\\\" is a required property"),
        "{}",
        error.message
    );
}

#[test]
fn bad_manifests_are_located_errors() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("bad.yaml");
    std::fs::write(
        &path,
        "name: bad\ndescription: x\ncommand: [sh]\nparameters: {}\ntimout: 5s\n",
    )
    .unwrap();
    let error = register_file(&mut Registry::new(), &path).unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, ManifestError::Invalid { .. }));
    assert!(
        text.starts_with(&format!("{}:5:", path.display())) && text.contains("timout"),
        "{text}"
    );
    std::fs::write(
        &path,
        "name: bad\ndescription: x\ncommand: []\nparameters: {}\n",
    )
    .unwrap();
    let text = register_file(&mut Registry::new(), &path)
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("`command` needs at least the program"),
        "{text}"
    );
    std::fs::write(
        &path,
        "name: bad\ndescription: x\ncommand: [sh]\nparameters: {}\ntimeout: soon\n",
    )
    .unwrap();
    let text = register_file(&mut Registry::new(), &path)
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("`timeout`: `soon` is not a duration"),
        "{text}"
    );
}

#[tokio::test]
async fn large_input_and_output_flow_both_ways_without_a_deadlock() {
    let folder = tempfile::tempdir().unwrap();
    // The program fills its error pipe before it reads a byte of its (large) input.
    manifest(
        folder.path(),
        "chatty_cat",
        "head -c 200000 /dev/zero >&2; cat",
        "",
    );
    let mut registry = Registry::new();
    register_folder(&mut registry, folder.path()).unwrap();
    let text = "word ".repeat(200_000);
    let output = tokio::time::timeout(
        Duration::from_secs(20),
        call(&registry, "chatty_cat", json!({"text": text})),
    )
    .await
    .expect("no deadlock")
    .unwrap();
    assert_eq!(output["text"].as_str().map(str::len), Some(1_000_000));
}
