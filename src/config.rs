//! `weft.toml`: settings for every run started in its folder (or the file a front end names,
//! such as the CLI's `$WEFT_CONFIG`).
//!
//! ```toml
//! model = "llama"                # the default model, unless --model or WEFT_MODEL says
//!
//! [models.llama]                 # a model by name: `--model llama`, `model: llama`
//! spec = "mistralrs:./models/llama-3.1-8b-instruct"
//! isq = "fp8"                    # options of the spec's kind (see weft_llm::options)
//! devices = "0:16,1:16"
//!
//! [models.vllm]
//! spec = "openai:http://127.0.0.1:8000/v1#meta-llama/Llama-3.1-8B-Instruct"
//! api_key_env = "VLLM_KEY"
//! timeout = "120s"
//!
//! [models.qwen]                  # another family: count with its own tokenizer
//! spec = "openai:http://127.0.0.1:8001/v1#Qwen/Qwen2.5-7B-Instruct"
//! tokenizer = "./models/qwen2.5/tokenizer.json"
//!
//! [guards.llama-guard]           # a guard by name: `guard: llama-guard` in `guards:`
//! spec = "llama-guard:vllm"      # Llama Guard 3 through a model spec or [models] name
//!
//! [mcp.files]                    # MCP servers, as in a workflow's `mcp:` section
//! command = ["npx", "@modelcontextprotocol/server-filesystem", "."]
//!
//! [serve]                        # `weft serve`: environment and flags win over these
//! listen = "127.0.0.1:8080"
//! workflows = "workflows"        # the served folder, from this file's folder
//! workers = 64                   # runs executed at once
//! model_calls = 64               # model calls at once
//! lease = "30s"                  # a dead daemon's runs go to another after this
//! heartbeat = "10s"
//! shutdown_deadline = "10s"      # on SIGTERM, how long running steps may take
//! body_limit = 1048576           # bytes
//! ```

use indexmap::IndexMap;
use serde::de::IgnoredAny;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use weft_llm::{LocalOptions, RemoteOptions};
use weft_workflow::spec::McpServerSpec;

/// The file's name in a folder.
pub const FILE_NAME: &str = "weft.toml";

/// The file's contents.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The default model: a spec or the name of one of `models`.
    #[serde(default)]
    pub model: Option<String>,
    /// Models by name.
    #[serde(default)]
    pub models: IndexMap<String, ModelDefinition>,
    /// MCP servers by name, as in a workflow's `mcp:` section.
    #[serde(default)]
    pub mcp: IndexMap<String, McpServerSpec>,
    /// Guards by name, as a workflow's `guards:` rules name them.
    #[serde(default)]
    pub guards: IndexMap<String, GuardDefinition>,
    /// `weft serve`'s settings (the environment and flags win over them).
    #[serde(default)]
    pub serve: ServeConfig,
}

/// The `[serve]` section: a daemon's settings, each optional.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// The address to listen on.
    #[serde(default)]
    pub listen: Option<String>,
    /// The served workflows' folder, relative to the file's folder.
    #[serde(default)]
    pub workflows: Option<PathBuf>,
    /// Runs executed at once.
    #[serde(default)]
    pub workers: Option<usize>,
    /// Model calls at once.
    #[serde(default)]
    pub model_calls: Option<usize>,
    /// How long a lease lasts without a heartbeat.
    #[serde(default, deserialize_with = "weft_core::duration::optional")]
    pub lease: Option<std::time::Duration>,
    /// How often leases are renewed.
    #[serde(default, deserialize_with = "weft_core::duration::optional")]
    pub heartbeat: Option<std::time::Duration>,
    /// On SIGTERM, how long running steps may take to finish.
    #[serde(default, deserialize_with = "weft_core::duration::optional")]
    pub shutdown_deadline: Option<std::time::Duration>,
    /// The largest request body, in bytes.
    #[serde(default)]
    pub body_limit: Option<usize>,
}

/// A model defined by name: its spec and the options of its kind, typed as the backend
/// takes them.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ModelDefinition {
    /// `openai:URL[#model]`, `tgi:URL[#model]`, `mistralrs:PATH_OR_HUB_ID`, `scripted:FILE`.
    pub spec: String,
    /// A `tokenizer.json` that counts the tokens of a model served elsewhere (`openai:`,
    /// `tgi:`, `scripted:`), for families whose vocabulary weft does not embed; relative to
    /// the file's folder. Llama-3.x needs none, and `mistralrs:` models count with their own.
    #[serde(default)]
    pub tokenizer: Option<PathBuf>,
    /// Options of `mistralrs:` models (`isq`, `devices`, ...).
    #[serde(flatten)]
    pub local: LocalOptions,
    /// Options of `openai:` and `tgi:` models (`api_key_env`, `timeout`, ...).
    #[serde(flatten)]
    pub remote: RemoteOptions,
    /// Keys neither kind has, reported by name (serde cannot deny unknown fields next to
    /// flattened ones).
    #[serde(flatten)]
    pub unknown: BTreeMap<String, IgnoredAny>,
}

/// A guard defined by name.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardDefinition {
    /// `llama-guard:MODEL` (a model spec or a `[models]` name), `prompt-guard:DIR`,
    /// `prompt-guard:http://HOST/predict` or `scripted:FILE`.
    pub spec: String,
}

/// `weft.toml` as read, with where it was.
#[derive(Debug, Default)]
pub struct Settings {
    /// The file, when there is one.
    pub path: Option<PathBuf>,
    /// Its contents (empty without a file).
    pub config: Config,
}

/// `weft.toml` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("{}{location}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// `:line:column`, when known.
        location: String,
        /// What is wrong.
        message: String,
    },
}

impl Settings {
    /// Reads the settings of `folder`: the file `explicit` names when given (it must exist),
    /// else `folder/weft.toml` when there is one, else none. Errors carry file:line:column.
    pub fn load(folder: &Path, explicit: Option<&Path>) -> Result<Self, ConfigError> {
        let path = match explicit {
            Some(path) => path.to_owned(),
            None => {
                let path = folder.join(FILE_NAME);
                if !path.is_file() {
                    return Ok(Self::default());
                }
                path
            }
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Io {
            path: path.clone(),
            source,
        })?;
        let config = parse(&text).map_err(|(location, message)| ConfigError::Invalid {
            path: path.clone(),
            location,
            message,
        })?;
        Ok(Self {
            path: Some(path),
            config,
        })
    }

    /// The folder relative paths in the file are read from.
    pub fn directory(&self) -> PathBuf {
        self.path
            .as_deref()
            .and_then(Path::parent)
            .filter(|parent| !parent.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_owned)
    }

    /// The file's name for messages.
    pub fn shown(&self) -> String {
        self.path
            .as_deref()
            .map_or_else(|| FILE_NAME.to_owned(), |path| path.display().to_string())
    }
}

/// Parses the file's text; an error is its `:line:column` (or nothing) and message.
fn parse(text: &str) -> Result<Config, (String, String)> {
    let config: Config = toml::from_str(text).map_err(|error| {
        let location = error
            .span()
            .and_then(|span| text.get(..span.start))
            .map(|before| {
                let line = before.matches('\n').count() + 1;
                let line_start = before.rfind('\n').map_or(0, |index| index + 1);
                let column = before[line_start..].chars().count() + 1;
                format!(":{line}:{column}")
            })
            .unwrap_or_default();
        (location, error.message().to_owned())
    })?;
    for (name, definition) in &config.models {
        if let Some(key) = definition.unknown.keys().next() {
            return Err((
                String::new(),
                format!(
                    "`[models.{name}]`: unknown field `{key}`; a model takes `spec`, `tokenizer`, the options of `mistralrs:` ({}) or those of `openai:`/`tgi:` (api_key_env, context_window, timeout, idle_timeout, max_retries)",
                    weft_llm::options::LOCAL_OPTIONS
                ),
            ));
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_llm::options::{Devices, Isq};

    #[test]
    fn model_options_arrive_typed() {
        let config = parse(
            "[models.llama]\nspec = \"mistralrs:./m\"\nisq = \"fp8\"\ndevices = \"0:16,1:16\"\npaged = false\nmax_seqs = 4\n\n[models.vllm]\nspec = \"openai:http://h/v1\"\ntimeout = \"2m\"\n",
        )
        .unwrap();
        let llama = &config.models["llama"];
        assert_eq!(llama.local.isq, Some(Isq::Fp8));
        assert_eq!(
            llama.local.devices,
            Some(Devices::Gpus(vec![(0, Some(16)), (1, Some(16))]))
        );
        assert_eq!(llama.local.paged_attention, Some(false));
        assert_eq!(llama.local.max_sequences, Some(4));
        assert_eq!(llama.remote.first_set(), None);
        let vllm = &config.models["vllm"];
        assert_eq!(
            vllm.remote.timeout,
            Some(std::time::Duration::from_secs(120))
        );
        assert_eq!(vllm.local.first_set(), None);
    }

    #[test]
    fn unknown_and_bad_fields_are_named() {
        let (_, message) =
            parse("[models.x]\nspec = \"scripted:r.yaml\"\nquant = \"fp8\"\n").unwrap_err();
        assert!(message.contains("unknown field `quant`"), "{message}");
        let (location, message) =
            parse("model = \"x\"\n[models.x]\nspec = \"mistralrs:m\"\nisq = \"q9\"\n").unwrap_err();
        assert!(message.contains("`isq=q9`: not an ISQ type"), "{message}");
        assert!(location.starts_with(":2:"), "{location}");
        let (location, message) = parse("modle = \"x\"\n").unwrap_err();
        assert!(message.contains("unknown field `modle`"), "{message}");
        assert_eq!(location, ":1:1");
    }
}
