//! MCP servers as tools, against a real server: the `mcp_server` example of this crate,
//! started as a child process (stdio) and as a streamable HTTP server on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::AsyncBufReadExt;
use weft_core::{ErrorKind, McpServer, McpTransport, ToolBox};
use weft_tools::Registry;
use weft_tools::mcp::connect;

mod support;
use support::call;

/// The example server, which `cargo test` builds beside the tests.
fn server_program() -> String {
    let deps = std::env::current_exe().unwrap();
    let program: PathBuf = deps
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples")
        .join("mcp_server");
    assert!(
        program.exists(),
        "{} is missing: build it with `cargo build -p weft-tools --example mcp_server`",
        program.display()
    );
    program.display().to_string()
}

fn stdio(program: String, arguments: &[&str]) -> McpServer {
    McpServer {
        transport: McpTransport::Stdio {
            program,
            arguments: arguments
                .iter()
                .map(|argument| (*argument).to_owned())
                .collect(),
            environment: Vec::new(),
        },
        timeout: Some(Duration::from_secs(10)),
    }
}

/// What every transport must do: tools under `<server>.<tool>`, arguments checked by weft
/// against the server's schema, results and failures passed on.
async fn exercise(registry: &Registry) {
    assert_eq!(
        registry.names(),
        ["notes.add_note", "notes.list_notes", "notes.fail"]
    );
    let spec = registry.spec("notes.add_note").unwrap();
    assert_eq!(
        spec.description,
        "Adds a note and returns how many there are."
    );
    assert_eq!(spec.parameters["required"], json!(["text"]));
    assert!(registry.is_idempotent("notes.list_notes"));
    assert!(!registry.is_idempotent("notes.add_note"));

    assert_eq!(
        call(registry, "notes.add_note", json!({"text": "milk"}))
            .await
            .unwrap(),
        json!({"count": 1})
    );
    call(registry, "notes.add_note", json!({"text": "eggs"}))
        .await
        .unwrap();
    assert_eq!(
        call(registry, "notes.list_notes", json!({})).await.unwrap(),
        json!("milk\neggs")
    );
    // Checked by weft before the server sees it.
    let error = call(registry, "notes.add_note", json!({"text": ""}))
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidInput);
    assert!(error.message.contains("invalid_arguments"), "{error}");
    // The server's own failure reaches the model.
    let error = call(registry, "notes.fail", json!({})).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Upstream);
    assert!(error.message.contains("the disk is on fire"), "{error}");
}

#[tokio::test]
async fn a_stdio_server_s_tools_are_registered_and_called() {
    let connection = connect("notes", &stdio(server_program(), &[]))
        .await
        .unwrap();
    assert_eq!(connection.name(), "notes");
    let mut registry = Registry::new();
    assert_eq!(connection.register(&mut registry).unwrap(), 3);
    exercise(&registry).await;
}

#[tokio::test]
async fn a_streamable_http_server_s_tools_are_registered_and_called() {
    let mut server = tokio::process::Command::new(server_program())
        .args(["--http", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(server.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let http = McpServer {
        transport: McpTransport::Http { url },
        timeout: None,
    };
    let connection = connect("notes", &http).await.unwrap();
    let mut registry = Registry::new();
    connection.register(&mut registry).unwrap();
    exercise(&registry).await;
}

#[tokio::test]
async fn servers_that_cannot_be_reached_are_errors_that_say_why() {
    let error = connect("gone", &stdio("/nonexistent/server".into(), &[]))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("MCP server `gone`: cannot start"),
        "{error}"
    );

    let error = connect(
        "broken",
        &stdio(
            "sh".into(),
            &["-c", "echo 'config file missing' >&2; exit 3"],
        ),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(error.contains("MCP server `broken`"), "{error}");
    assert!(error.contains("config file missing"), "{error}");

    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let http = McpServer {
        transport: McpTransport::Http {
            url: format!("http://127.0.0.1:{closed}/mcp"),
        },
        timeout: None,
    };
    let error = connect("away", &http).await.unwrap_err().to_string();
    assert!(
        error.contains("MCP server `away`: cannot connect"),
        "{error}"
    );
}
