//! Tools a workflow turns on or brings with it: the `shell` and `http_get` settings and
//! MCP servers, checked and ready for whoever builds the run's tool box. The same MCP
//! server settings are read from `weft.toml`.

use crate::spec::{HttpGetSpec, McpServerSpec, ShellSpec};
use indexmap::IndexMap;
use std::time::Duration;
use weft_core::duration::parse_duration;
pub use weft_core::{McpServer, McpTransport};

/// The default for `http_get.max_bytes`.
pub const DEFAULT_HTTP_MAX_BYTES: u64 = 1024 * 1024;
/// The default for `http_get.timeout`.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// What a workflow asks of the tool box.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolSettings {
    /// The programs `shell` may run; `None`: no `shell` tool.
    pub shell: Option<Vec<String>>,
    /// `http_get`'s limits; `None`: no `http_get` tool.
    pub http_get: Option<HttpGetSettings>,
    /// MCP servers by name.
    pub mcp: IndexMap<String, McpServer>,
    /// The workflow file that defines each server in `mcp` (filled in for a workflow and its
    /// sub-workflows together, by `Workflow::all_tool_settings`).
    pub mcp_files: IndexMap<String, std::path::PathBuf>,
}

/// `http_get`'s limits.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpGetSettings {
    /// Hosts it may fetch from (`*.example.com` for subdomains).
    pub allow_hosts: Vec<String>,
    /// The most body bytes read.
    pub max_bytes: u64,
    /// How long a fetch may take.
    pub timeout: Duration,
}

/// A setting that cannot be used: the field it is in (relative to the section) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    /// The field, such as `["command"]`; empty for the section itself.
    pub field: Vec<&'static str>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

impl SettingError {
    fn new(field: &[&'static str], message: String, help: Option<&str>) -> Self {
        Self {
            field: field.to_vec(),
            message,
            help: help.map(str::to_owned),
        }
    }
}

/// The letters, digits, `_` and `-` an MCP server's name may use (it prefixes tool names).
pub fn valid_server_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || matches!(character, '_' | '-'))
}

impl ShellSpec {
    /// The allowlist, checked.
    pub fn compile(&self) -> Result<Vec<String>, Vec<SettingError>> {
        let mut errors = Vec::new();
        if self.allow.is_empty() {
            errors.push(SettingError::new(
                &["allow"],
                "`shell.allow` is empty, so the shell could run nothing".into(),
                Some("list the programs it may run, such as `allow: [git, wc]`, or remove `shell`"),
            ));
        }
        for program in &self.allow {
            if program.trim().is_empty() || program.chars().any(char::is_whitespace) {
                errors.push(SettingError::new(
                    &["allow"],
                    format!("`{program}` is not a program name"),
                    Some("name one program per entry, without arguments"),
                ));
            }
        }
        if errors.is_empty() {
            Ok(self.allow.clone())
        } else {
            Err(errors)
        }
    }
}

impl HttpGetSpec {
    /// The limits, checked, with defaults filled in.
    pub fn compile(&self) -> Result<HttpGetSettings, Vec<SettingError>> {
        let mut errors = Vec::new();
        if self.allow_hosts.is_empty() {
            errors.push(SettingError::new(
                &["allow_hosts"],
                "`http_get.allow_hosts` is empty, so it could fetch nothing".into(),
                Some("list hosts such as `allow_hosts: [api.example.com, \"*.wikipedia.org\"]`"),
            ));
        }
        for host in &self.allow_hosts {
            let bare = host.strip_prefix("*.").unwrap_or(host);
            if bare.is_empty() || bare.contains(['/', ':', '*', ' ']) {
                errors.push(SettingError::new(
                    &["allow_hosts"],
                    format!("`{host}` is not a host name"),
                    Some(
                        "give a host without scheme, port or path: `example.com`, `*.example.com`",
                    ),
                ));
            }
        }
        if self.max_bytes == Some(0) {
            errors.push(SettingError::new(
                &["max_bytes"],
                "`max_bytes` must be at least 1".into(),
                None,
            ));
        }
        let timeout = match self.timeout.as_deref().map(parse_duration) {
            Some(Ok(timeout)) => timeout,
            Some(Err(error)) => {
                errors.push(SettingError::new(&["timeout"], error.to_string(), None));
                DEFAULT_HTTP_TIMEOUT
            }
            None => DEFAULT_HTTP_TIMEOUT,
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(HttpGetSettings {
            allow_hosts: self
                .allow_hosts
                .iter()
                .map(|host| host.to_ascii_lowercase())
                .collect(),
            max_bytes: self.max_bytes.unwrap_or(DEFAULT_HTTP_MAX_BYTES),
            timeout,
        })
    }
}

impl McpServerSpec {
    /// The server's settings, checked: exactly one of `command` and `url`.
    pub fn compile(&self) -> Result<McpServer, Vec<SettingError>> {
        let mut errors = Vec::new();
        let timeout = match self.timeout.as_deref().map(parse_duration) {
            Some(Ok(timeout)) => Some(timeout),
            Some(Err(error)) => {
                errors.push(SettingError::new(&["timeout"], error.to_string(), None));
                None
            }
            None => None,
        };
        let transport = match (&self.command, &self.url) {
            (Some(command), None) => match command.split_first() {
                Some((program, arguments)) if !program.trim().is_empty() => {
                    Some(McpTransport::Stdio {
                        program: program.clone(),
                        arguments: arguments.to_vec(),
                        environment: self
                            .env
                            .iter()
                            .map(|(name, value)| (name.clone(), value.clone()))
                            .collect(),
                    })
                }
                _ => {
                    errors.push(SettingError::new(
                        &["command"],
                        "`command` needs at least the program".into(),
                        Some("for example `command: [python3, server.py]`"),
                    ));
                    None
                }
            },
            (None, Some(url)) => {
                if !self.env.is_empty() {
                    errors.push(SettingError::new(
                        &["env"],
                        "`env` is for a server weft starts (`command`), not one at a `url`".into(),
                        None,
                    ));
                }
                if url.starts_with("http://") || url.starts_with("https://") {
                    Some(McpTransport::Http { url: url.clone() })
                } else {
                    errors.push(SettingError::new(
                        &["url"],
                        format!("`{url}` is not an http:// or https:// URL"),
                        None,
                    ));
                    None
                }
            }
            (Some(_), Some(_)) => {
                errors.push(SettingError::new(
                    &[],
                    "an MCP server has either `command` or `url`, not both".into(),
                    None,
                ));
                None
            }
            (None, None) => {
                errors.push(SettingError::new(
                    &[],
                    "an MCP server needs `command` (a program weft starts) or `url` (a streamable HTTP endpoint)".into(),
                    Some("for example `command: [python3, server.py]` or `url: http://127.0.0.1:8000/mcp`"),
                ));
                None
            }
        };
        match transport {
            Some(transport) if errors.is_empty() => Ok(McpServer { transport, timeout }),
            _ => Err(errors),
        }
    }
}
