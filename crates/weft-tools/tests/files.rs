//! The file tools stay inside their workspace: `..`, absolute paths and symbolic links that
//! lead out are refused before anything is read or written.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use weft_core::{ErrorKind, RunId, ToolContext, ToolError};
use weft_tools::Registry;
use weft_tools::builtin::{Workspace, registry};

struct Setup {
    folder: tempfile::TempDir,
    outside: tempfile::TempDir,
    tools: Registry,
}

fn setup() -> Setup {
    let folder = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "do not read").unwrap();
    std::fs::create_dir(folder.path().join("notes")).unwrap();
    std::fs::write(folder.path().join("notes/a.txt"), "alpha").unwrap();
    std::os::unix::fs::symlink(outside.path(), folder.path().join("escape")).unwrap();
    let tools = registry(&Workspace::new(folder.path()).unwrap());
    Setup {
        folder,
        outside,
        tools,
    }
}

async fn call(setup: &Setup, name: &str, arguments: Value) -> Result<Value, ToolError> {
    let context = ToolContext {
        run: RunId::new(),
        idempotency_key: "run/1/-/0/0".into(),
        session: None,
    };
    setup.tools.invoke(name, arguments, context).await
}

#[tokio::test]
async fn files_are_written_read_and_listed_inside_the_workspace() {
    let setup = setup();
    let written = call(
        &setup,
        "write_file",
        json!({"path": "notes/b.txt", "content": "beta"}),
    )
    .await
    .unwrap();
    assert_eq!(written, json!("wrote 4 bytes to notes/b.txt"));
    assert_eq!(
        std::fs::read_to_string(setup.folder.path().join("notes/b.txt")).unwrap(),
        "beta"
    );
    assert_eq!(
        call(&setup, "read_file", json!({"path": "notes/b.txt"}))
            .await
            .unwrap(),
        json!("beta")
    );
    assert_eq!(
        call(&setup, "list_files", json!({"path": "notes"}))
            .await
            .unwrap(),
        json!([
            {"name": "a.txt", "kind": "file", "bytes": 5},
            {"name": "b.txt", "kind": "file", "bytes": 4}
        ])
    );
    let root = call(&setup, "list_files", json!({})).await.unwrap();
    let names: Vec<&str> = root
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["escape", "notes"]);
}

#[tokio::test]
async fn paths_that_leave_the_workspace_are_refused() {
    let setup = setup();
    let secret = setup.outside.path().join("secret.txt");
    for (name, arguments, expected) in [
        (
            "read_file",
            json!({"path": "../secret.txt"}),
            "leaves the workspace",
        ),
        (
            "read_file",
            json!({"path": secret.display().to_string()}),
            "is an absolute path",
        ),
        (
            "read_file",
            json!({"path": "escape/secret.txt"}),
            "leads outside the workspace",
        ),
        (
            "write_file",
            json!({"path": "escape/new.txt", "content": "x"}),
            "leads outside the workspace",
        ),
        (
            "list_files",
            json!({"path": "escape"}),
            "leads outside the workspace",
        ),
        (
            "append_line",
            json!({"path": "escape/log.txt", "line": "x"}),
            "leads outside the workspace",
        ),
        (
            "read_file",
            json!({"path": "notes/missing.txt"}),
            "No such file",
        ),
    ] {
        let error = call(&setup, name, arguments.clone()).await.unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidInput, "{name} {arguments}");
        assert!(
            error.message.contains(expected),
            "{name} {arguments}: {}",
            error.message
        );
    }
    assert!(!setup.outside.path().join("new.txt").exists());
    assert!(!setup.outside.path().join("log.txt").exists());
}

#[tokio::test]
async fn append_line_writes_each_key_once() {
    let setup = setup();
    for _ in 0..3 {
        call(
            &setup,
            "append_line",
            json!({"path": "log.txt", "line": "hello"}),
        )
        .await
        .unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(setup.folder.path().join("log.txt")).unwrap(),
        "run/1/-/0/0\thello\n"
    );
    let error = call(
        &setup,
        "append_line",
        json!({"path": "log.txt", "line": "two\nlines"}),
    )
    .await
    .unwrap_err();
    assert!(error.message.contains("single line"), "{}", error.message);
}
