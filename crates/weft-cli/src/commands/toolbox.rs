//! The tools a run gets: the built-in ones, the command tools of `./tools`, what its
//! workflow turns on (`shell`, `http_get`) and the tools of the MCP servers named by the
//! workflow, its sub-workflows and `weft.toml`. The workflow is read once to learn what it
//! asks for, then validated against the tools that exist.

use super::{exit, fail};
use crate::config;
use indexmap::IndexMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use weft_core::{McpServer, ToolBox};
use weft_tools::Registry;
use weft_tools::builtin::{HttpGet, HttpPolicy, Shell, Workspace};
use weft_workflow::{LoadError, Loader, ToolSettings, Workflow};

/// The MCP servers `weft.toml` defines.
fn configured_servers() -> Result<IndexMap<String, McpServer>, String> {
    let settings = config::load()?;
    let shown = settings.shown();
    let mut servers = IndexMap::new();
    for (name, spec) in settings.config.mcp {
        if !weft_workflow::tooling::valid_server_name(&name) {
            return Err(format!(
                "{shown}: `[mcp.{name}]`: a server's name uses letters, digits, `_` and `-`"
            ));
        }
        let server = spec.compile().map_err(|errors| {
            let problems: Vec<String> = errors
                .into_iter()
                .map(|error| {
                    let field = if error.field.is_empty() {
                        String::new()
                    } else {
                        format!(" `{}`", error.field.join("."))
                    };
                    let help = error
                        .help
                        .map(|help| format!(" ({help})"))
                        .unwrap_or_default();
                    format!("{shown}: `[mcp.{name}]`{field}: {}{help}", error.message)
                })
                .collect();
            problems.join("\n")
        })?;
        servers.insert(name, server);
    }
    Ok(servers)
}

/// Every tool `settings` asks for, with the built-in and command tools.
pub async fn registry(settings: &ToolSettings) -> Result<Registry, String> {
    let workspace = Workspace::new(Path::new("."))
        .map_err(|error| format!("the current folder cannot be the tools' workspace: {error}"))?;
    let mut registry = weft_tools::builtin::registry(&workspace);
    let folder = Path::new("tools");
    if folder.is_dir() {
        weft_tools::command::register_folder(&mut registry, folder)
            .map_err(|error| format!("command tool manifest {error}"))?;
    }
    if let Some(allow) = &settings.shell {
        registry
            .register(Shell::new(allow.clone(), Arc::new(workspace.clone())))
            .map_err(|error| error.to_string())?;
    }
    if let Some(http) = &settings.http_get {
        let tool = HttpGet::new(HttpPolicy {
            allow_hosts: http.allow_hosts.clone(),
            max_bytes: http.max_bytes,
            timeout: http.timeout,
        })?;
        registry.register(tool).map_err(|error| error.to_string())?;
    }
    let mut servers = configured_servers()?;
    for (name, server) in &settings.mcp {
        match servers.get(name) {
            Some(configured) if configured != server => {
                return Err(format!(
                    "MCP server `{name}` is defined both in weft.toml and in the workflow, differently; keep one"
                ));
            }
            Some(_) => {}
            None => {
                servers.insert(name.clone(), server.clone());
            }
        }
    }
    let connections = futures::future::join_all(
        servers
            .iter()
            .map(|(name, server)| weft_tools::mcp::connect(name, server)),
    )
    .await;
    for connection in connections {
        let connection = connection.map_err(|error| error.to_string())?;
        connection
            .register(&mut registry)
            .map_err(|error| error.to_string())?;
    }
    Ok(registry)
}

/// Loads the workflow at `path` with the tools it asks for, and validates it against them.
/// Problems are printed; the error is the exit code.
pub async fn load_workflow(path: &Path) -> Result<(Arc<Workflow>, Registry), ExitCode> {
    let (workflow, registry) = load_checked(path).await.map_err(|problem| {
        problem.print();
        ExitCode::from(exit::INVALID)
    })?;
    Ok((workflow, registry))
}

/// Why a workflow could not be loaded with its tools.
pub enum Problem {
    /// The file is invalid (every diagnostic).
    Load(LoadError),
    /// Its tools could not be set up.
    Tools(String),
}

impl Problem {
    /// How many errors it counts for.
    pub fn count(&self) -> usize {
        match self {
            Self::Load(LoadError::Invalid { diagnostics }) => diagnostics.len(),
            _ => 1,
        }
    }

    /// Prints it for a person.
    pub fn print(&self) {
        match self {
            Self::Load(LoadError::Invalid { diagnostics }) => {
                for diagnostic in diagnostics {
                    eprintln!("{diagnostic}");
                }
            }
            Self::Load(error) => eprintln!("error: {error}"),
            Self::Tools(message) => eprintln!("error: {message}"),
        }
    }
}

/// [`load_workflow`] without printing.
pub async fn load_checked(path: &Path) -> Result<(Arc<Workflow>, Registry), Problem> {
    // First without tool checks, to learn which tools the workflow turns on or brings.
    let unchecked = Loader::new().load(path).map_err(Problem::Load)?;
    let settings = unchecked.all_tool_settings().map_err(Problem::Tools)?;
    let registry = registry(&settings).await.map_err(Problem::Tools)?;
    let workflow = Loader::with_tools(registry.names())
        .load(path)
        .map_err(Problem::Load)?;
    Ok((workflow, registry))
}

/// The tools of a plain run (no workflow): for `weft tools list`.
pub async fn default_registry() -> Result<Registry, ExitCode> {
    registry(&ToolSettings::default())
        .await
        .map_err(|message| fail(exit::INVALID, message))
}
