//! A small MCP server, for trying weft's MCP client and for its tests. It keeps notes in
//! memory and offers three tools: `add_note`, `list_notes` (read-only) and `fail`.
//!
//! - `cargo run -p weft-tools --example mcp_server` serves over standard input and output
//!   (what `mcp: { notes: { command: [...] } }` starts);
//! - `... --example mcp_server -- --http 127.0.0.1:0` serves streamable HTTP at `/mcp` and
//!   prints its URL on the first line of standard output.

// An example: a broken setup should stop it loudly.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Notes {
    notes: Arc<Mutex<Vec<String>>>,
}

fn schema(value: Value) -> Arc<serde_json::Map<String, Value>> {
    match value {
        Value::Object(object) => Arc::new(object),
        _ => unreachable!("schemas here are objects"),
    }
}

impl ServerHandler for Notes {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(vec![
            Tool::new(
                "add_note",
                "Adds a note and returns how many there are.",
                schema(json!({
                    "type": "object",
                    "properties": { "text": { "type": "string", "minLength": 1 } },
                    "required": ["text"],
                    "additionalProperties": false
                })),
            ),
            Tool::new(
                "list_notes",
                "Lists the notes.",
                schema(json!({ "type": "object", "properties": {} })),
            )
            .with_annotations(ToolAnnotations::new().read_only(true)),
            Tool::new(
                "fail",
                "Always fails.",
                schema(json!({ "type": "object", "properties": {} })),
            ),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arguments = request.arguments.unwrap_or_default();
        let result = match request.name.as_ref() {
            "add_note" => {
                let Some(text) = arguments.get("text").and_then(Value::as_str) else {
                    return Err(ErrorData::invalid_params("`text` is missing", None));
                };
                let mut notes = self.notes.lock().unwrap();
                notes.push(text.to_owned());
                CallToolResult::structured(json!({ "count": notes.len() }))
            }
            "list_notes" => {
                let notes = self.notes.lock().unwrap();
                CallToolResult::success(vec![ContentBlock::text(notes.join("\n"))])
            }
            "fail" => CallToolResult::error(vec![ContentBlock::text("the disk is on fire")]),
            other => {
                return Err(ErrorData::invalid_params(
                    format!("no tool `{other}`"),
                    None,
                ));
            }
        };
        Ok(result.into())
    }
}

#[tokio::main]
async fn main() {
    let arguments: Vec<String> = std::env::args().collect();
    match arguments.iter().position(|argument| argument == "--http") {
        Some(index) => {
            let address = arguments
                .get(index + 1)
                .map_or("127.0.0.1:0", String::as_str);
            serve_http(address).await;
        }
        None => {
            let server = Notes::default()
                .serve(rmcp::transport::stdio())
                .await
                .expect("the MCP handshake");
            server.waiting().await.expect("serving");
        }
    }
}

async fn serve_http(address: &str) {
    use rmcp::transport::streamable_http_server::{
        StreamableHttpService, session::local::LocalSessionManager,
    };
    let notes = Notes::default();
    let service: StreamableHttpService<Notes, LocalSessionManager> = StreamableHttpService::new(
        move || Ok(notes.clone()),
        Default::default(),
        Default::default(),
    );
    let router = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .expect("binds the address");
    let bound = listener.local_addr().expect("a local address");
    println!("http://{bound}/mcp");
    axum::serve(listener, router).await.expect("serving");
}
