//! MCP servers as tools: weft connects as a client (a child process over standard input and
//! output, or a streamable HTTP endpoint), lists the server's tools and registers each as
//! `<server>.<tool>`, checked against the schema the server gives like any other tool.

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, ContentBlock};
use rmcp::service::{RoleClient, RunningService, ServiceError};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use serde_json::Value;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use weft_core::{ErrorKind, McpServer, McpTransport, ToolError, ToolPolicy, ToolSpec};
use weft_tool::{Registry, RegistryError};

/// How long connecting and listing a server's tools may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of a server's standard error an error quotes.
const STDERR_TAIL: usize = 2_000;
/// How long a failed connection waits for the rest of a server's standard error.
const STDERR_GRACE: Duration = Duration::from_millis(500);
/// The JSON-RPC code for invalid parameters.
const INVALID_PARAMS: i32 = -32602;

/// An MCP server that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// Starting it, the handshake or listing its tools failed.
    #[error("MCP server `{server}`: {message}")]
    Connect {
        /// The server's name.
        server: String,
        /// What went wrong (with the end of its standard error, for a child process).
        message: String,
    },
    /// One of its tools could not be registered.
    #[error("MCP server `{server}`: {source}")]
    Register {
        /// The server's name.
        server: String,
        /// Why.
        source: RegistryError,
    },
}

type Client = RunningService<RoleClient, ()>;

/// A live connection to an MCP server, with the tools it offered. The server (a child
/// process) is stopped when the connection and every tool registered from it are dropped.
pub struct McpConnection {
    name: String,
    client: Arc<Client>,
    tools: Vec<rmcp::model::Tool>,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for McpConnection {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("McpConnection")
            .field("name", &self.name)
            .field("tools", &self.tool_names())
            .finish()
    }
}

/// Connects to `server`, known as `name`, and lists its tools.
pub async fn connect(name: &str, server: &McpServer) -> Result<McpConnection, McpError> {
    let failed = |message: String| McpError::Connect {
        server: name.to_owned(),
        message,
    };
    let stderr = Arc::new(Mutex::new(String::new()));
    let reader: StderrReader = Mutex::new(None);
    let connecting = async {
        let client = match &server.transport {
            McpTransport::Stdio {
                program,
                arguments,
                environment,
            } => start_child(program, arguments, environment, &stderr, &reader).await?,
            McpTransport::Http { url } => {
                let transport = StreamableHttpClientTransport::from_uri(url.as_str());
                ().serve(transport)
                    .await
                    .map_err(|error| ConnectProblem::Http {
                        url: url.clone(),
                        source: Box::new(error),
                    })?
            }
        };
        let tools = client
            .list_all_tools()
            .await
            .map_err(|error| ConnectProblem::ListTools(Box::new(error)))?;
        Ok::<_, ConnectProblem>((client, tools))
    };
    let outcome = tokio::time::timeout(CONNECT_TIMEOUT, connecting).await;
    if !matches!(outcome, Ok(Ok(_))) {
        // A server that failed to start has usually said why on its standard error, which
        // ends when it exits: wait a moment for the last of it.
        let handle = reader.lock().ok().and_then(|mut slot| slot.take());
        if let Some(handle) = handle {
            let _ = tokio::time::timeout(STDERR_GRACE, handle).await;
        }
    }
    let (client, tools) = match outcome {
        Ok(Ok(connected)) => connected,
        Ok(Err(problem)) => return Err(failed(with_stderr(problem.to_string(), &stderr))),
        Err(_) => {
            return Err(failed(with_stderr(
                format!("no answer within {CONNECT_TIMEOUT:?}"),
                &stderr,
            )));
        }
    };
    Ok(McpConnection {
        name: name.to_owned(),
        client: Arc::new(client),
        tools,
        timeout: server.timeout,
    })
}

/// The task that keeps a child server's standard error, once it is started: a failed
/// connection waits for it to finish so that the error quotes all the server said.
type StderrReader = Mutex<Option<tokio::task::JoinHandle<()>>>;

/// Starts `program` as a child server, keeps its standard error in `stderr` (the task that
/// reads it goes into `reader`) and does the MCP handshake over its standard input and
/// output.
async fn start_child(
    program: &str,
    arguments: &[String],
    environment: &[(String, String)],
    stderr: &Arc<Mutex<String>>,
    reader: &StderrReader,
) -> Result<Client, ConnectProblem> {
    let mut command = tokio::process::Command::new(program);
    command.args(arguments);
    for (variable, value) in environment {
        command.env(variable, value);
    }
    let (transport, error_output) = TokioChildProcess::builder(command)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| ConnectProblem::Start {
            program: program.to_owned(),
            source,
        })?;
    if let Some(error_output) = error_output {
        let handle = tokio::spawn(keep_stderr(error_output, stderr.clone()));
        if let Ok(mut slot) = reader.lock() {
            *slot = Some(handle);
        }
    }
    ().serve(transport)
        .await
        .map_err(|error| ConnectProblem::Handshake(Box::new(error)))
}

/// What went wrong while connecting to a server (its standard error is added after).
#[derive(Debug, thiserror::Error)]
enum ConnectProblem {
    /// The program could not be started.
    #[error("cannot start `{program}`: {source}")]
    Start {
        program: String,
        source: std::io::Error,
    },
    /// The MCP handshake over the child's standard input and output failed.
    #[error("the MCP handshake failed: {0}")]
    Handshake(Box<dyn std::error::Error + Send + Sync>),
    /// The streamable HTTP endpoint could not be reached.
    #[error("cannot connect to {url}: {source}")]
    Http {
        url: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The server did not list its tools.
    #[error("listing its tools failed: {0}")]
    ListTools(Box<dyn std::error::Error + Send + Sync>),
}

/// Reads a child server's standard error until it ends, keeping the last
/// `4 × STDERR_TAIL` bytes or so in `stderr` (cut at a character boundary).
async fn keep_stderr(mut error_output: tokio::process::ChildStderr, stderr: Arc<Mutex<String>>) {
    let mut buffer = [0u8; 4096];
    while let Ok(read) = error_output.read(&mut buffer).await {
        if read == 0 {
            break;
        }
        if let Ok(mut kept) = stderr.lock() {
            kept.push_str(&String::from_utf8_lossy(&buffer[..read]));
            let excess = kept.len().saturating_sub(STDERR_TAIL * 4);
            if excess > 0 {
                let cut = (excess..kept.len())
                    .find(|index| kept.is_char_boundary(*index))
                    .unwrap_or(kept.len());
                kept.drain(..cut);
            }
        }
    }
}

fn with_stderr(message: String, stderr: &Mutex<String>) -> String {
    let kept = stderr.lock().map(|kept| kept.clone()).unwrap_or_default();
    match crate::stderr::stderr_tail(kept.as_bytes(), STDERR_TAIL) {
        tail if tail.is_empty() => message,
        tail => format!("{message}; its standard error ends{tail}"),
    }
}

impl McpConnection {
    /// The server's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The names its tools are registered under: `<server>.<tool>`.
    pub fn tool_names(&self) -> Vec<String> {
        self.tools
            .iter()
            .map(|tool| format!("{}.{}", self.name, tool.name))
            .collect()
    }

    /// Registers every tool of the server in `registry`, as `<server>.<tool>`. A tool whose
    /// annotations say it only reads, or that calling it again changes nothing, is
    /// idempotent.
    pub fn register(&self, registry: &mut Registry) -> Result<usize, McpError> {
        for tool in &self.tools {
            let full_name = format!("{}.{}", self.name, tool.name);
            let annotations = tool.annotations.as_ref();
            let idempotent = annotations.is_some_and(|annotations| {
                annotations.read_only_hint == Some(true)
                    || annotations.idempotent_hint == Some(true)
            });
            let spec = ToolSpec {
                name: full_name.clone(),
                description: tool.description.as_deref().map_or_else(
                    || format!("`{}` of MCP server `{}`", tool.name, self.name),
                    str::to_owned,
                ),
                parameters: Value::Object(tool.input_schema.as_ref().clone()),
            };
            let policy = ToolPolicy {
                timeout: self.timeout,
                max_attempts: 1,
            };
            let client = self.client.clone();
            let remote_name = tool.name.to_string();
            registry
                .register_untyped(spec, idempotent, policy, move |arguments, _context| {
                    let client = client.clone();
                    let remote_name = remote_name.clone();
                    let full_name = full_name.clone();
                    Box::pin(async move { call(&client, remote_name, &full_name, arguments).await })
                })
                .map_err(|source| McpError::Register {
                    server: self.name.clone(),
                    source,
                })?;
        }
        Ok(self.tools.len())
    }
}

async fn call(
    client: &Client,
    remote_name: String,
    full_name: &str,
    arguments: Value,
) -> Result<Value, ToolError> {
    let mut request = CallToolRequestParams::new(remote_name);
    request.arguments = match arguments {
        Value::Object(object) => Some(object),
        Value::Null => None,
        other => {
            return Err(ToolError::new(
                ErrorKind::InvalidInput,
                format!("tool `{full_name}` takes an object of arguments, not {other}"),
            ));
        }
    };
    let result = client.call_tool(request).await.map_err(|error| {
        let kind = match &error {
            ServiceError::McpError(data) if data.code.0 == INVALID_PARAMS => {
                ErrorKind::InvalidInput
            }
            _ => ErrorKind::Upstream,
        };
        ToolError::new(kind, format!("tool `{full_name}`: {error}"))
    })?;
    let failed = result.is_error == Some(true);
    let output = output(result);
    if failed {
        let message = match &output {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        return Err(ToolError::new(
            ErrorKind::Upstream,
            format!("tool `{full_name}` failed: {message}"),
        ));
    }
    Ok(output)
}

/// A tool result as one JSON value: its structured content when it has some, else its
/// text (one block as it is, several joined by new lines), other blocks described.
fn output(result: CallToolResult) -> Value {
    if let Some(structured) = result.structured_content {
        return structured;
    }
    let parts: Vec<String> = result
        .content
        .iter()
        .map(|block| match block {
            ContentBlock::Text(text) => text.text.clone(),
            ContentBlock::Image(image) => format!("[image: {}]", image.mime_type),
            ContentBlock::Audio(audio) => format!("[audio: {}]", audio.mime_type),
            ContentBlock::Resource(_) => "[embedded resource]".to_owned(),
            ContentBlock::ResourceLink(link) => format!("[resource: {}]", link.uri),
            _ => "[content of a kind weft does not read]".to_owned(),
        })
        .collect();
    Value::String(parts.join("\n"))
}
