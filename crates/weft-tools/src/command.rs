//! Command tools: a program described by a YAML manifest. weft writes the call's arguments
//! as JSON to the program's standard input and reads its JSON result from standard output.
//!
//! ```yaml
//! name: word_count
//! description: Counts the words of a text.
//! command: [python3, word_count.py]   # a relative program path is the manifest's folder's
//! parameters:                          # the arguments' JSON Schema
//!   type: object
//!   properties: { text: { type: string } }
//!   required: [text]
//! timeout: 10s                         # optional; else the node's or the runtime's default
//! idempotent: false                    # optional
//! ```
//!
//! Exit status 0 with JSON on standard output is a result; 75 (`EX_TEMPFAIL`) is a failure
//! worth retrying; any other status is a failure, reported with the end of standard error.
//! The program runs in its own process group, which is killed when the call is cancelled
//! or times out.

use crate::process::{self, Program};
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use weft_core::{ErrorKind, ToolContext, ToolError, ToolPolicy, ToolSpec};
use weft_tool::{Registry, RegistryError};

/// The most bytes read from a program's standard output.
const MAX_OUTPUT_BYTES: u64 = 4 * 1024 * 1024;
/// How much of standard error a failure quotes.
const STDERR_TAIL: usize = 2_000;
/// The exit status that asks for a retry.
const RETRY_STATUS: i32 = 75;

/// A command tool's manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandManifest {
    /// The name models call it by.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// The program and its fixed arguments.
    pub command: Vec<String>,
    /// The JSON Schema of the call's arguments.
    pub parameters: Value,
    /// How long a call may take (`30s`, `500ms`).
    #[serde(default)]
    pub timeout: Option<String>,
    /// Whether calling it twice with the same arguments does what calling it once does.
    #[serde(default)]
    pub idempotent: bool,
}

/// A manifest that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Unreadable or not the manifest format.
    #[error("{path}: {message}")]
    Invalid {
        /// The file (and where in it, when known).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// It could not be registered.
    #[error("{path}: {source}")]
    Registry {
        /// The file.
        path: String,
        /// Why.
        source: RegistryError,
    },
}

/// Registers every `*.yaml` manifest of `folder` (sorted by name) as a command tool, run in
/// the current folder.
pub fn register_folder(registry: &mut Registry, folder: &Path) -> Result<usize, ManifestError> {
    register_manifests(registry, folder, None)
}

/// Registers every manifest of a workspace's `tools/` folder, each run in the workspace
/// folder (as the file tools work there), whatever the current folder is.
pub fn register_workspace(
    registry: &mut Registry,
    workspace: &Path,
) -> Result<usize, ManifestError> {
    register_manifests(registry, &workspace.join("tools"), Some(workspace))
}

fn register_manifests(
    registry: &mut Registry,
    folder: &Path,
    working_folder: Option<&Path>,
) -> Result<usize, ManifestError> {
    let entries = std::fs::read_dir(folder).map_err(|error| ManifestError::Invalid {
        path: folder.display().to_string(),
        message: error.to_string(),
    })?;
    let mut manifests: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "yaml")
        })
        .collect();
    manifests.sort();
    for path in &manifests {
        register(registry, path, working_folder)?;
    }
    Ok(manifests.len())
}

/// Registers one manifest file, its program run in the current folder.
pub fn register_file(registry: &mut Registry, path: &Path) -> Result<(), ManifestError> {
    register(registry, path, None)
}

fn register(
    registry: &mut Registry,
    path: &Path,
    working_folder: Option<&Path>,
) -> Result<(), ManifestError> {
    let shown = path.display().to_string();
    let invalid = |message: String| ManifestError::Invalid {
        path: shown.clone(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|error| invalid(error.to_string()))?;
    // YAML 1.2: only `true` and `false` are booleans, so a schema property named `y` or
    // `on` (in `required: [x, y]`, say) stays the name it is rather than becoming `true`.
    let options = serde_saphyr::options! { strict_booleans: true };
    let parsed: Result<CommandManifest, _> = serde_saphyr::from_str_with_options(&text, options);
    let manifest = parsed.map_err(|error| {
        let at = error
            .location()
            .map(|location| format!("{}:{}: ", location.line(), location.column()))
            .unwrap_or_default();
        let message = error.without_snippet().to_string();
        let message = message.lines().next().unwrap_or_default().to_owned();
        ManifestError::Invalid {
            path: format!("{shown}:{}", at.trim_end_matches(": ")),
            message: message.trim_start_matches("error: ").to_owned(),
        }
    })?;
    let timeout = match manifest.timeout.as_deref() {
        Some(text) => Some(
            weft_core::duration::parse_duration(text)
                .map_err(|error| invalid(format!("`timeout`: {error}")))?,
        ),
        None => None,
    };
    let Some((program, fixed)) = manifest.command.split_first() else {
        return Err(invalid("`command` needs at least the program".into()));
    };
    // A program given as a relative path lives beside its manifest; a bare name is looked
    // up on PATH.
    let program = if program.contains('/') && Path::new(program).is_relative() {
        path.parent()
            .unwrap_or(Path::new("."))
            .join(program)
            .display()
            .to_string()
    } else {
        program.clone()
    };
    let command = Command {
        name: manifest.name.clone(),
        program,
        arguments: fixed.to_vec(),
        working_folder: working_folder.map(Path::to_owned),
    };
    let spec = ToolSpec {
        name: manifest.name,
        description: manifest.description,
        parameters: manifest.parameters,
    };
    let policy = ToolPolicy {
        timeout,
        ..ToolPolicy::default()
    };
    registry
        .register_untyped(
            spec,
            manifest.idempotent,
            policy,
            move |arguments, context| {
                let command = command.clone();
                Box::pin(async move { command.run(arguments, context).await })
            },
        )
        .map_err(|source| ManifestError::Registry {
            path: shown.clone(),
            source,
        })?;
    Ok(())
}

/// How to run one command tool.
#[derive(Debug, Clone)]
struct Command {
    name: String,
    program: String,
    arguments: Vec<String>,
    /// Where the program runs; `None`: the current folder.
    working_folder: Option<PathBuf>,
}

impl Command {
    async fn run(&self, arguments: Value, context: ToolContext) -> Result<Value, ToolError> {
        let failed = |message: String| {
            ToolError::new(
                ErrorKind::Upstream,
                format!("tool `{}`: {message}", self.name),
            )
        };
        let finished = process::run(Program {
            program: &self.program,
            arguments: &self.arguments,
            environment: &[
                ("WEFT_IDEMPOTENCY_KEY", context.idempotency_key.clone()),
                ("WEFT_RUN", context.run.to_string()),
            ],
            clear_environment: false,
            folder: self.working_folder.as_deref(),
            input: serde_json::to_vec(&arguments).unwrap_or_default(),
            max_output: MAX_OUTPUT_BYTES,
        })
        .await
        .map_err(|error| failed(error.to_string()))?;
        let tail = crate::stderr::stderr_tail(&finished.stderr, STDERR_TAIL);
        match finished.status.code() {
            Some(0) => {}
            Some(RETRY_STATUS) => {
                return Err(ToolError::new(
                    ErrorKind::RetryableUpstream,
                    format!(
                        "tool `{}` asked to be retried (exit status 75){tail}",
                        self.name
                    ),
                ));
            }
            Some(code) => return Err(failed(format!("exited with status {code}{tail}"))),
            None => return Err(failed(format!("was killed by a signal{tail}"))),
        }
        if finished.stdout_truncated {
            return Err(failed(format!(
                "printed more than {MAX_OUTPUT_BYTES} bytes"
            )));
        }
        serde_json::from_slice(&finished.stdout).map_err(|error| {
            failed(format!(
                "did not print one JSON value on standard output ({error})"
            ))
        })
    }
}
