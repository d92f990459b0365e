//! Checking a model directory before mistralrs reads it, so that a missing file or an
//! unsupported model is an error naming the problem (mistralrs 0.8.1 panics on some).

use crate::error::LocalError;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The architectures weft runs in-process.
pub const SUPPORTED: &str = "LlamaForCausalLM (Llama 3.1, 3.2 and 3.3 text models)";

/// What weft reads from a model directory.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFiles {
    /// The directory.
    pub directory: PathBuf,
    /// The window in tokens (`max_position_embeddings`).
    pub window: u32,
    /// Whether RoPE uses Llama-3's scaling (the long-context variant).
    pub llama3_rope: bool,
    /// Decoder layers.
    pub layers: usize,
    /// The weights' files.
    pub weights: Vec<PathBuf>,
    /// The checkpoint's own quantization (`fp8` for a prequantized FP8 checkpoint).
    pub quantization: Option<String>,
}

fn read_json(path: &Path) -> Result<Value, LocalError> {
    let text = std::fs::read_to_string(path).map_err(|error| LocalError::BadFile {
        path: path.to_owned(),
        message: error.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|error| LocalError::BadFile {
        path: path.to_owned(),
        message: format!("not valid JSON: {error}"),
    })
}

fn require(directory: &Path, file: &str, why: &'static str) -> Result<PathBuf, LocalError> {
    let path = directory.join(file);
    if path.is_file() {
        Ok(path)
    } else {
        Err(LocalError::MissingFile {
            directory: directory.to_owned(),
            file: file.to_owned(),
            why,
        })
    }
}

/// Checks `directory` and reads what weft needs from it.
pub fn inspect(directory: &Path) -> Result<ModelFiles, LocalError> {
    if !directory.is_dir() {
        return Err(LocalError::NoDirectory(directory.to_owned()));
    }
    let config_path = require(
        directory,
        "config.json",
        "the model's architecture and sizes",
    )?;
    let tokenizer_path = require(directory, "tokenizer.json", "the tokenizer")?;
    let config = read_config(&config_path)?;
    let tokenizer = read_tokenizer(&tokenizer_path)?;
    check_end_of_sequence(directory, &tokenizer)?;
    let weights = weights(directory)?;
    Ok(ModelFiles {
        directory: directory.to_owned(),
        window: u32::try_from(config.window).unwrap_or(u32::MAX),
        llama3_rope: config.llama3_rope,
        layers: config.layers,
        weights,
        quantization: config.quantization,
    })
}

/// What weft takes from `config.json`.
struct ModelConfig {
    /// `max_position_embeddings`.
    window: u64,
    /// `num_hidden_layers`.
    layers: usize,
    /// Whether `rope_scaling.rope_type` is `llama3`.
    llama3_rope: bool,
    /// `quantization_config.quant_method`.
    quantization: Option<String>,
}

/// Reads `config.json`, refusing an architecture weft does not run and sizes that are
/// missing or do not fit together.
fn read_config(config_path: &Path) -> Result<ModelConfig, LocalError> {
    let config = read_json(config_path)?;
    check_architecture(&config, config_path)?;
    let number = |key: &str| -> Result<u64, LocalError> {
        config
            .get(key)
            .and_then(Value::as_u64)
            .ok_or_else(|| LocalError::BadFile {
                path: config_path.to_owned(),
                message: format!("`{key}` is missing or not a whole number"),
            })
    };
    let window = number("max_position_embeddings")?;
    let layers = number("num_hidden_layers")? as usize;
    let hidden = number("hidden_size")?;
    let heads = number("num_attention_heads")?;
    if heads == 0 || hidden % heads != 0 {
        return Err(LocalError::BadFile {
            path: config_path.to_owned(),
            message: format!("hidden_size {hidden} does not divide into {heads} attention heads"),
        });
    }
    let llama3_rope = config
        .pointer("/rope_scaling/rope_type")
        .and_then(Value::as_str)
        == Some("llama3");
    let quantization = config
        .pointer("/quantization_config/quant_method")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(ModelConfig {
        window,
        layers,
        llama3_rope,
        quantization,
    })
}

/// Refuses a config whose `architectures` do not name `LlamaForCausalLM`, saying what it
/// names instead.
fn check_architecture(config: &Value, config_path: &Path) -> Result<(), LocalError> {
    let architectures: Vec<&str> = config
        .get("architectures")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if architectures.contains(&"LlamaForCausalLM") {
        return Ok(());
    }
    Err(LocalError::Unsupported {
        path: config_path.to_owned(),
        found: if architectures.is_empty() {
            "(none named)".to_owned()
        } else {
            architectures.join(", ")
        },
        supported: SUPPORTED,
    })
}

/// Reads `tokenizer.json`, refusing one without the Llama-3 special tokens the chat
/// format is written in.
fn read_tokenizer(tokenizer_path: &Path) -> Result<Value, LocalError> {
    let tokenizer = read_json(tokenizer_path)?;
    for token in [
        "<|begin_of_text|>",
        "<|eot_id|>",
        "<|start_header_id|>",
        "<|end_header_id|>",
    ] {
        if !has_token(&tokenizer, token) {
            return Err(LocalError::BadFile {
                path: tokenizer_path.to_owned(),
                message: format!("the tokenizer lacks the Llama-3 special token {token}"),
            });
        }
    }
    Ok(tokenizer)
}

/// Whether `token` is in the tokenizer's vocabulary or among its added tokens.
fn has_token(tokenizer: &Value, token: &str) -> bool {
    tokenizer
        .pointer("/model/vocab")
        .and_then(Value::as_object)
        .is_some_and(|vocab| vocab.contains_key(token))
        || tokenizer
            .get("added_tokens")
            .and_then(Value::as_array)
            .is_some_and(|added| {
                added
                    .iter()
                    .any(|entry| entry.get("content").and_then(Value::as_str) == Some(token))
            })
}

/// Refuses a `tokenizer_config.json` (when there is one) whose `eos_token` the tokenizer
/// does not have: generation would never stop on it.
fn check_end_of_sequence(directory: &Path, tokenizer: &Value) -> Result<(), LocalError> {
    let tokenizer_config = directory.join("tokenizer_config.json");
    if !tokenizer_config.is_file() {
        return Ok(());
    }
    let settings = read_json(&tokenizer_config)?;
    let end_of_sequence = match settings.get("eos_token") {
        Some(Value::String(token)) => Some(token.clone()),
        Some(Value::Object(token)) => token
            .get("content")
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => None,
    };
    if let Some(token) = end_of_sequence.filter(|token| !has_token(tokenizer, token)) {
        return Err(LocalError::BadFile {
            path: tokenizer_config,
            message: format!("eos_token {token} is not in tokenizer.json"),
        });
    }
    Ok(())
}

/// `model.safetensors`, or every shard an index names (each must be there).
fn weights(directory: &Path) -> Result<Vec<PathBuf>, LocalError> {
    let single = directory.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index_path = directory.join("model.safetensors.index.json");
    if index_path.is_file() {
        let index = read_json(&index_path)?;
        let mut files: Vec<String> = index
            .get("weight_map")
            .and_then(Value::as_object)
            .map(|map| {
                map.values()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files.dedup();
        if files.is_empty() {
            return Err(LocalError::BadFile {
                path: index_path,
                message: "the index names no weight files".into(),
            });
        }
        return files
            .iter()
            .map(|file| {
                require(
                    directory,
                    file,
                    "a shard named in model.safetensors.index.json",
                )
            })
            .collect();
    }
    let mut shards: Vec<PathBuf> = std::fs::read_dir(directory)
        .map_err(|error| LocalError::BadFile {
            path: directory.to_owned(),
            message: error.to_string(),
        })?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("model-") && name.ends_with(".safetensors"))
        })
        .collect();
    if shards.is_empty() {
        return Err(LocalError::MissingFile {
            directory: directory.to_owned(),
            file: "model.safetensors".into(),
            why: "the weights (or model-0000N-of-0000M.safetensors shards)",
        });
    }
    shards.sort();
    Ok(shards)
}
