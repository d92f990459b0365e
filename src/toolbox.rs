//! The tools a run gets: weft's built-in tools, the command tools of the workspace's
//! `tools/` folder (feature `process`), what its workflow turns on (`shell` with `process`,
//! `http_get` with `http`), the tools of the MCP servers named by the workflow, its
//! sub-workflows and `weft.toml` (feature `mcp`), and an application's own tools. A
//! project's tool may take a built-in's name: it wins (see [`weft_tool::Origin`]).
//!
//! The workflow is read once to learn what it asks for, then validated against the tools
//! that exist.

use crate::config::Settings;
use indexmap::IndexMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use weft_core::{McpServer, ToolBox};
use weft_tools::Registry;
use weft_tools::builtin::Workspace;
use weft_workflow::{
    Diagnostic, LoadError, Loader, ModelOverrides, ToolSettings, Workflow, WorkflowTexts,
};

/// Where a run's tools come from.
#[derive(Debug)]
pub struct Toolbox {
    /// The folder the file tools (and `shell`) work in, whose `tools/` folder holds command
    /// tool manifests.
    pub workspace: PathBuf,
    /// `weft.toml`, for its MCP servers.
    pub settings: Arc<Settings>,
    /// Whether to start and connect to MCP servers. Without, their tools are missing, and
    /// [`Toolbox::load_workflow`] accepts any tool name under a server's prefix unchecked.
    pub connect_mcp: bool,
    /// Models that replace what the workflow files name.
    pub models: ModelOverrides,
}

/// The tools could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum ToolboxError {
    /// The workspace folder is not usable.
    #[error("{} cannot be the tools' workspace: {source}", folder.display())]
    Workspace {
        /// The folder.
        folder: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The workflow's tool sections (combined with its sub-workflows') do not agree.
    #[error(transparent)]
    Settings(#[from] weft_workflow::error::McpServerConflict),
    /// A command-tool manifest is invalid.
    #[cfg(feature = "process")]
    #[error("command tool manifest {0}")]
    Manifest(#[from] weft_tools::command::ManifestError),
    /// Two tools with one name, or a tool whose schema does not compile.
    #[error(transparent)]
    Registry(#[from] weft_tools::RegistryError),
    /// `weft.toml`'s `[mcp.NAME]` table is invalid.
    #[error("{file}: `[mcp.{name}]`{field}: {message}")]
    ConfiguredServer {
        /// The settings file.
        file: String,
        /// The server.
        name: String,
        /// ` `field``, when one field is at fault.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// An MCP server is defined in weft.toml and in the workflow, differently.
    #[error(
        "MCP server `{0}` is defined both in weft.toml and in the workflow, differently; keep one"
    )]
    ServerDefinedTwice(String),
    /// MCP servers could not be started or reached, each with why.
    #[error("{}", ServerFailure::list(.0))]
    Servers(Vec<ServerFailure>),
    /// An MCP server's tools could not be registered.
    #[cfg(feature = "mcp")]
    #[error(transparent)]
    Mcp(#[from] weft_tools::mcp::McpError),
    /// `http_get`'s HTTP client could not be set up.
    #[cfg(feature = "http")]
    #[error(transparent)]
    HttpClient(#[from] weft_tools::builtin::HttpClientError),
    /// The workflow turns on a tool this build leaves out.
    #[error("{what} needs weft's `{feature}` feature, which this build does not have")]
    FeatureMissing {
        /// What needed it.
        what: String,
        /// The cargo feature.
        feature: &'static str,
    },
}

/// An MCP server that could not be started or reached.
#[derive(Debug)]
pub struct ServerFailure {
    /// The server's name.
    pub server: String,
    /// Why.
    #[cfg(feature = "mcp")]
    pub error: weft_tools::mcp::McpError,
    /// Why.
    #[cfg(not(feature = "mcp"))]
    pub error: ToolboxError,
}

impl ServerFailure {
    fn list(failures: &[ServerFailure]) -> String {
        failures
            .iter()
            .map(|failure| failure.error.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Why a workflow could not be loaded with its tools.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowProblem {
    /// The file is invalid (every diagnostic).
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Its tools could not be set up.
    #[error(transparent)]
    Tools(#[from] ToolboxError),
}

impl WorkflowProblem {
    /// How many errors it counts for.
    pub fn count(&self) -> usize {
        match self {
            Self::Load(LoadError::Invalid { diagnostics }) => diagnostics.len(),
            Self::Load(_) | Self::Tools(_) => 1,
        }
    }
}

impl Toolbox {
    /// The tools of a workspace with its settings, connecting to MCP servers.
    pub fn new(workspace: impl Into<PathBuf>, settings: Arc<Settings>) -> Self {
        Self {
            workspace: workspace.into(),
            settings,
            connect_mcp: true,
            models: ModelOverrides::default(),
        }
    }

    /// Every tool `tool_settings` asks for, with the built-in and command tools and
    /// `own` (an application's tools, which win over built-ins of the same name).
    pub async fn assemble(
        &self,
        tool_settings: &ToolSettings,
        own: Registry,
    ) -> Result<Registry, ToolboxError> {
        let workspace =
            Workspace::new(&self.workspace).map_err(|source| ToolboxError::Workspace {
                folder: self.workspace.clone(),
                source,
            })?;
        let mut registry = own;
        weft_tools::builtin::add_to(&mut registry, &workspace);
        self.add_command_tools(&mut registry)?;
        add_enabled(&mut registry, tool_settings, &workspace)?;
        if self.connect_mcp {
            let servers = self.servers(tool_settings)?;
            let failures = connect_servers(&mut registry, &servers).await?;
            if !failures.is_empty() {
                return Err(ToolboxError::Servers(failures));
            }
        }
        Ok(registry)
    }

    /// Loads the workflow at `path` with the tools it asks for (and `own`), and validates it
    /// against them.
    pub async fn load_workflow(
        &self,
        path: &Path,
        own: Registry,
    ) -> Result<(Arc<Workflow>, Registry), WorkflowProblem> {
        self.load_kept_workflow(path, None, own).await
    }

    /// [`Toolbox::load_workflow`], reading the texts a run kept (see
    /// `Runtime::workflow_texts`) instead of the files when `texts` is given: a run goes on
    /// with the workflow it started with, whatever happened to the files since.
    pub async fn load_kept_workflow(
        &self,
        path: &Path,
        texts: Option<&WorkflowTexts>,
        own: Registry,
    ) -> Result<(Arc<Workflow>, Registry), WorkflowProblem> {
        let load = |loader: Loader| match texts {
            Some(texts) => loader.load_stored(path, texts),
            None => loader.load(path),
        };
        // First without tool checks, to learn which tools the workflow turns on or brings.
        let unchecked = load(Loader::new())?;
        let tool_settings = unchecked.all_tool_settings().map_err(ToolboxError::from)?;
        let registry = match self.assemble(&tool_settings, own).await {
            Err(ToolboxError::Servers(failures)) => {
                return Err(WorkflowProblem::Load(LoadError::Invalid {
                    diagnostics: self.locate(&failures, &tool_settings),
                }));
            }
            other => other?,
        };
        let mut names = registry.names();
        if !self.connect_mcp {
            let servers = self.servers(&tool_settings)?;
            names.extend(servers.keys().map(|server| format!("{server}.*")));
        }
        let workflow = load(Loader::with_tools(names).with_models(self.models.clone()))?;
        Ok((workflow, registry))
    }

    /// Each server that could not start, as an error at its `mcp:` entry: in the workflow
    /// file that defines it, or in weft.toml.
    fn locate(&self, failures: &[ServerFailure], tool_settings: &ToolSettings) -> Vec<Diagnostic> {
        failures
            .iter()
            .map(|failure| {
                let (file, position) = match tool_settings.mcp_files.get(&failure.server) {
                    Some(file) => {
                        let source = std::fs::read_to_string(file).unwrap_or_default();
                        let index = weft_workflow::load::LocationIndex::build(&source);
                        let key = ["mcp".to_owned(), failure.server.clone()];
                        (file.clone(), index.key(&key))
                    }
                    None => self.settings_position(&failure.server),
                };
                Diagnostic {
                    file,
                    line: position.line,
                    column: position.column,
                    message: failure.error.to_string(),
                    help: Some("check the server's command or URL".to_owned()),
                }
            })
            .collect()
    }

    /// Where weft.toml's `[mcp.NAME]` table starts.
    fn settings_position(&self, server: &str) -> (PathBuf, weft_workflow::load::Position) {
        let file = self
            .settings
            .path
            .clone()
            .unwrap_or_else(|| PathBuf::from(crate::config::FILE_NAME));
        let header = format!("[mcp.{server}]");
        let line = std::fs::read_to_string(&file)
            .ok()
            .and_then(|text| {
                text.lines()
                    .position(|line| line.trim() == header)
                    .map(|index| index + 1)
            })
            .unwrap_or(1);
        (file, weft_workflow::load::Position { line, column: 1 })
    }

    /// The command tools of the workspace's `tools/` folder.
    #[cfg(feature = "process")]
    fn add_command_tools(&self, registry: &mut Registry) -> Result<(), ToolboxError> {
        if self.workspace.join("tools").is_dir() {
            weft_tools::command::register_workspace(registry, &self.workspace)?;
        }
        Ok(())
    }

    #[cfg(not(feature = "process"))]
    fn add_command_tools(&self, _registry: &mut Registry) -> Result<(), ToolboxError> {
        Ok(())
    }

    /// The MCP servers of `weft.toml` and of the workflow, each once.
    fn servers(
        &self,
        tool_settings: &ToolSettings,
    ) -> Result<IndexMap<String, McpServer>, ToolboxError> {
        let mut servers = configured_servers(&self.settings)?;
        for (name, server) in &tool_settings.mcp {
            match servers.get(name) {
                Some(configured) if configured != server => {
                    return Err(ToolboxError::ServerDefinedTwice(name.clone()));
                }
                Some(_) => {}
                None => {
                    servers.insert(name.clone(), server.clone());
                }
            }
        }
        Ok(servers)
    }
}

/// The MCP servers `weft.toml` defines.
pub fn configured_servers(
    settings: &Settings,
) -> Result<IndexMap<String, McpServer>, ToolboxError> {
    let invalid = |name: &str, field: String, message: String| ToolboxError::ConfiguredServer {
        file: settings.shown(),
        name: name.to_owned(),
        field,
        message,
    };
    let mut servers = IndexMap::new();
    for (name, spec) in &settings.config.mcp {
        if !weft_workflow::tooling::valid_server_name(name) {
            return Err(invalid(
                name,
                String::new(),
                "a server's name uses letters, digits, `_` and `-`".to_owned(),
            ));
        }
        let server = spec.compile().map_err(|errors| {
            let first = errors.into_iter().next();
            let field = first
                .as_ref()
                .filter(|error| !error.field.is_empty())
                .map(|error| format!(" `{}`", error.field.join(".")))
                .unwrap_or_default();
            let message = first.map_or_else(String::new, |error| {
                let help = error
                    .help
                    .map(|help| format!(" ({help})"))
                    .unwrap_or_default();
                format!("{}{help}", error.message)
            });
            invalid(name, field, message)
        })?;
        servers.insert(name.clone(), server);
    }
    Ok(servers)
}

/// `shell` and `http_get`, when the workflow turns them on.
fn add_enabled(
    registry: &mut Registry,
    tool_settings: &ToolSettings,
    workspace: &Workspace,
) -> Result<(), ToolboxError> {
    if let Some(allow) = &tool_settings.shell {
        add_shell(registry, allow, workspace)?;
    }
    if let Some(http) = &tool_settings.http_get {
        add_http_get(registry, http)?;
    }
    Ok(())
}

#[cfg(feature = "process")]
fn add_shell(
    registry: &mut Registry,
    allow: &[String],
    workspace: &Workspace,
) -> Result<(), ToolboxError> {
    let shell = weft_tools::builtin::Shell::new(allow.to_vec(), Arc::new(workspace.clone()));
    registry.register(shell)?;
    Ok(())
}

#[cfg(not(feature = "process"))]
fn add_shell(
    _registry: &mut Registry,
    _allow: &[String],
    _workspace: &Workspace,
) -> Result<(), ToolboxError> {
    Err(ToolboxError::FeatureMissing {
        what: "the `shell` tool".to_owned(),
        feature: "process",
    })
}

#[cfg(feature = "http")]
fn add_http_get(
    registry: &mut Registry,
    http: &weft_workflow::tooling::HttpGetSettings,
) -> Result<(), ToolboxError> {
    let tool = weft_tools::builtin::HttpGet::new(weft_tools::builtin::HttpPolicy {
        allow_hosts: http.allow_hosts.clone(),
        max_bytes: http.max_bytes,
        timeout: http.timeout,
    })?;
    registry.register(tool)?;
    Ok(())
}

#[cfg(not(feature = "http"))]
fn add_http_get(
    _registry: &mut Registry,
    _http: &weft_workflow::tooling::HttpGetSettings,
) -> Result<(), ToolboxError> {
    Err(ToolboxError::FeatureMissing {
        what: "the `http_get` tool".to_owned(),
        feature: "http",
    })
}

/// Starts or reaches every server at once and registers their tools; the servers that
/// could not be reached come back, each with why.
#[cfg(feature = "mcp")]
async fn connect_servers(
    registry: &mut Registry,
    servers: &IndexMap<String, McpServer>,
) -> Result<Vec<ServerFailure>, ToolboxError> {
    let connections = futures::future::join_all(
        servers
            .iter()
            .map(|(name, server)| weft_tools::mcp::connect(name, server)),
    )
    .await;
    let mut failures = Vec::new();
    for ((name, _), connection) in servers.iter().zip(connections) {
        match connection {
            Ok(connection) => {
                connection.register(registry)?;
            }
            Err(error) => failures.push(ServerFailure {
                server: name.clone(),
                error,
            }),
        }
    }
    Ok(failures)
}

#[cfg(not(feature = "mcp"))]
async fn connect_servers(
    _registry: &mut Registry,
    servers: &IndexMap<String, McpServer>,
) -> Result<Vec<ServerFailure>, ToolboxError> {
    Ok(servers
        .keys()
        .map(|name| ServerFailure {
            server: name.clone(),
            error: ToolboxError::FeatureMissing {
                what: format!("MCP server `{name}`"),
                feature: "mcp",
            },
        })
        .collect())
}
