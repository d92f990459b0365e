//! `weft.toml`: settings for every command started from its folder (or `$WEFT_CONFIG`).
//!
//! ```toml
//! model = "llama"                # the default model, unless --model or WEFT_MODEL says
//!
//! [models.llama]                 # a model by name: `--model llama`, `model: llama`
//! spec = "mistralrs:./models/llama-3.1-8b-instruct"
//! isq = "fp8"                    # options of the spec's kind (see `weft run --help`)
//! devices = "0:16,1:16"
//!
//! [models.vllm]
//! spec = "openai:http://127.0.0.1:8000/v1#meta-llama/Llama-3.1-8B-Instruct"
//! api_key_env = "VLLM_KEY"
//! timeout = "120s"
//!
//! [mcp.files]                    # MCP servers, as in a workflow's `mcp:` section
//! command = ["npx", "@modelcontextprotocol/server-filesystem", "."]
//! ```

use crate::environment;
use indexmap::IndexMap;
use std::path::{Path, PathBuf};
use weft_workflow::spec::McpServerSpec;

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
}

/// A model defined by name: its spec and options for its kind.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelDefinition {
    /// `openai:URL[#model]`, `tgi:URL[#model]`, `mistralrs:PATH_OR_HUB_ID`, `scripted:FILE`.
    pub spec: String,
    /// openai, tgi: the environment variable holding the API key.
    pub api_key_env: Option<String>,
    /// openai, tgi: the window in tokens (default 131072); mistralrs: see `window`.
    pub context_window: Option<u32>,
    /// openai, tgi: the longest wait for an answer to start (`120s`).
    pub timeout: Option<String>,
    /// openai, tgi: the longest silence inside a streamed answer (`60s`).
    pub idle_timeout: Option<String>,
    /// openai, tgi: retries after the first try.
    pub max_retries: Option<u32>,
    /// mistralrs: in-situ quantization (`fp8`, `q8_0`, `q4k`, ...).
    pub isq: Option<String>,
    /// mistralrs: `all` (default) or `ffn` (only the feed-forward projections of the inner
    /// layers).
    pub isq_scope: Option<String>,
    /// mistralrs: `auto`, `cpu`, `0,1` or `0:16,1:16`.
    pub devices: Option<String>,
    /// mistralrs: paged attention (default: on with CUDA).
    pub paged: Option<bool>,
    /// mistralrs: the paged KV cache's memory: a fraction (`0.9`) or MiB (`8192mb`).
    pub paged_memory: Option<String>,
    /// mistralrs: paged attention's block size.
    pub block_size: Option<usize>,
    /// mistralrs: `auto`, `bf16`, `f16` or `f32`.
    pub dtype: Option<String>,
    /// mistralrs: the most sequences decoded together.
    pub max_seqs: Option<usize>,
    /// mistralrs: a smaller window than the model's.
    pub window: Option<u32>,
}

/// `weft.toml` as read, with where it was.
#[derive(Debug, Default)]
pub struct Settings {
    /// The file, when there is one.
    pub path: Option<PathBuf>,
    /// Its contents (empty without a file).
    pub config: Config,
}

impl Settings {
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
            .map_or_else(|| "weft.toml".to_owned(), |path| path.display().to_string())
    }
}

/// The configuration file: `$WEFT_CONFIG`, else `./weft.toml` when there is one.
fn config_path() -> Option<PathBuf> {
    match std::env::var_os(environment::CONFIG) {
        Some(path) => Some(PathBuf::from(path)),
        None => {
            let path = PathBuf::from("weft.toml");
            path.is_file().then_some(path)
        }
    }
}

/// Reads `weft.toml`; errors carry file:line:column.
pub fn load() -> Result<Settings, String> {
    let Some(path) = config_path() else {
        return Ok(Settings::default());
    };
    let shown = path.display();
    let text = std::fs::read_to_string(&path).map_err(|error| format!("{shown}: {error}"))?;
    let config: Config = toml::from_str(&text).map_err(|error| {
        let at = error
            .span()
            .and_then(|span| text.get(..span.start))
            .map(|before| {
                let line = before.matches('\n').count() + 1;
                let line_start = before.rfind('\n').map_or(0, |index| index + 1);
                let column = before[line_start..].chars().count() + 1;
                format!(":{line}:{column}")
            })
            .unwrap_or_default();
        format!("{shown}{at}: {}", error.message())
    })?;
    Ok(Settings {
        path: Some(path),
        config,
    })
}
