//! Model specs: the strings `--model`, `WEFT_MODEL`, a workflow's `model:` and `weft.toml`
//! use to name a model, and opening the backends this crate holds.
//!
//! | form | backend |
//! |---|---|
//! | `openai:URL[#model]` | an OpenAI-compatible server (vLLM, llama.cpp, `mistralrs serve`, OpenAI, HF Inference) |
//! | `tgi:URL[#model]` | Hugging Face text-generation-inference |
//! | `mistralrs:PATH_OR_HUB_ID[?isq=fp8&devices=0,1&...]` | Llama-3.1 in-process through mistralrs |
//! | `scripted:FILE` | replies listed in a YAML file |
//! | `NAME` | a model defined in `weft.toml` under `[models.NAME]` |

use crate::error::BackendError;
use crate::openai::{ApiKey, Flavor, OpenAiConfig, OpenAiModel};
use crate::scripted::ScriptedModel;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use weft_core::ChatModel;

/// The accepted forms, for error messages.
pub const ACCEPTED_SPECS: &str = "`openai:URL[#model]` (an OpenAI-compatible server), \
`tgi:URL[#model]` (text-generation-inference), \
`mistralrs:PATH_OR_HUB_ID[?isq=fp8&devices=0,1]` (in-process), \
`scripted:FILE` (replies listed in a YAML file), \
or the name of a model defined in weft.toml (`[models.NAME]`)";

/// The keys a `mistralrs:` spec's query accepts.
pub const LOCAL_OPTIONS: &str =
    "isq, devices, paged, paged_memory, block_size, dtype, max_seqs, window";

/// A parsed model spec.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSpec {
    /// Replies from a YAML file.
    Scripted(PathBuf),
    /// An OpenAI-compatible server.
    OpenAi {
        /// The server's URL.
        url: String,
        /// The `model` field to send (`default` when the spec names none).
        model: Option<String>,
        /// The dialect.
        flavor: Flavor,
    },
    /// A model run in-process by mistralrs.
    Local(LocalSpec),
    /// A model defined in `weft.toml`.
    Named(String),
}

/// Where an in-process model's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalSource {
    /// A local directory.
    Directory(PathBuf),
    /// A Hugging Face hub id (`owner/name`), fetched when the machine has network.
    Hub(String),
}

/// Which weights in-situ quantization applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IsqScope {
    /// Every linear layer (mistralrs's choice of them).
    #[default]
    All,
    /// Only the feed-forward projections (gate, up, down) of every layer but the first and
    /// the last, as Meta's FP8 release of Llama-3.1-405B does; attention stays unquantized.
    Ffn,
}

/// Which devices an in-process model uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Devices {
    /// Whatever mistralrs chooses: every GPU it finds, else the CPU.
    #[default]
    Auto,
    /// The CPU only.
    Cpu,
    /// These GPUs, each with the number of layers it holds (`None`: an even share).
    Gpus(Vec<(usize, Option<usize>)>),
}

/// An in-process model and how to run it.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalSpec {
    /// Its files.
    pub source: LocalSource,
    /// In-situ quantization by mistralrs's name or weft's (`fp8`, `q8_0`, `q4k`, ...).
    pub isq: Option<String>,
    /// Which weights the ISQ applies to.
    pub isq_scope: IsqScope,
    /// Devices.
    pub devices: Devices,
    /// Paged attention: `None` is the default (on with CUDA, off on the CPU).
    pub paged_attention: Option<bool>,
    /// The memory for the paged KV cache: a fraction of free GPU memory (`0.9`) or MiB.
    pub paged_memory: Option<PagedMemory>,
    /// Paged attention's block size in tokens.
    pub block_size: Option<usize>,
    /// The weights' dtype (`auto`, `bf16`, `f16`, `f32`).
    pub dtype: Option<String>,
    /// The most sequences decoded together.
    pub max_sequences: Option<usize>,
    /// A smaller window than the model's, to save KV-cache memory.
    pub context_window: Option<u32>,
}

/// How much memory the paged KV cache takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PagedMemory {
    /// A fraction of the GPU's memory.
    Fraction(f32),
    /// MiB.
    Megabytes(usize),
}

impl LocalSpec {
    /// A spec for `source` with every option at its default.
    pub fn new(source: LocalSource) -> Self {
        Self {
            source,
            isq: None,
            isq_scope: IsqScope::All,
            devices: Devices::Auto,
            paged_attention: None,
            paged_memory: None,
            block_size: None,
            dtype: None,
            max_sequences: None,
            context_window: None,
        }
    }
}

impl ModelSpec {
    /// Parses a spec; relative paths resolve against `base`.
    pub fn parse(spec: &str, base: &Path) -> Result<Self, BackendError> {
        let spec = spec.trim();
        let unknown = |why: String| BackendError::UnknownSpec {
            spec: spec.to_owned(),
            why,
            accepted: ACCEPTED_SPECS,
        };
        let Some((scheme, rest)) = spec.split_once(':') else {
            if is_name(spec) {
                return Ok(Self::Named(spec.to_owned()));
            }
            return Err(unknown(
                "it has no `kind:` prefix and is not a model name".into(),
            ));
        };
        match scheme {
            "scripted" if !rest.is_empty() => Ok(Self::Scripted(base.join(rest))),
            "openai" | "tgi" => {
                let (url, model) = match rest.rsplit_once('#') {
                    Some((url, model)) => (url, Some(model.trim().to_owned())),
                    None => (rest, None),
                };
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(unknown(format!(
                        "`{scheme}:` takes an http:// or https:// URL"
                    )));
                }
                let flavor = if scheme == "tgi" {
                    Flavor::Tgi
                } else {
                    Flavor::OpenAi
                };
                Ok(Self::OpenAi {
                    url: url.to_owned(),
                    model: model.filter(|model| !model.is_empty()),
                    flavor,
                })
            }
            "mistralrs" if !rest.is_empty() => {
                parse_local(rest, base).map(Self::Local).map_err(unknown)
            }
            "scripted" | "mistralrs" => Err(unknown(format!("`{scheme}:` needs what follows it"))),
            "http" | "https" => Err(unknown(
                "a bare URL does not say which API it speaks: write `openai:URL` or `tgi:URL`"
                    .into(),
            )),
            _ => Err(unknown(format!("`{scheme}:` is not a kind of model"))),
        }
    }
}

fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|character| character.is_alphanumeric() || matches!(character, '_' | '-' | '.'))
}

fn parse_local(rest: &str, base: &Path) -> Result<LocalSpec, String> {
    let (source, query) = match rest.split_once('?') {
        Some((source, query)) => (source, Some(query)),
        None => (rest, None),
    };
    let path = base.join(source);
    let looks_like_hub =
        !source.starts_with(['.', '/', '~']) && source.matches('/').count() == 1 && !path.exists();
    let source = if looks_like_hub {
        LocalSource::Hub(source.to_owned())
    } else {
        LocalSource::Directory(path)
    };
    let mut spec = LocalSpec::new(source);
    for pair in query.into_iter().flat_map(|query| query.split('&')) {
        if pair.is_empty() {
            continue;
        }
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        apply_local_option(&mut spec, key, value)?;
    }
    Ok(spec)
}

/// Sets one option of an in-process model from its text (a spec's query, or weft.toml).
pub fn apply_local_option(spec: &mut LocalSpec, key: &str, value: &str) -> Result<(), String> {
    let number = |value: &str| {
        value
            .parse::<usize>()
            .map_err(|_| format!("`{key}={value}`: expected a whole number"))
    };
    match key {
        "isq" => spec.isq = Some(value.to_owned()).filter(|isq| !isq.is_empty() && isq != "none"),
        "isq_scope" => {
            spec.isq_scope = match value {
                "all" => IsqScope::All,
                "ffn" => IsqScope::Ffn,
                _ => return Err(format!("`isq_scope={value}`: expected all or ffn")),
            }
        }
        "devices" => spec.devices = parse_devices(value)?,
        "paged" => {
            spec.paged_attention = Some(match value {
                "on" | "true" | "yes" | "1" | "" => true,
                "off" | "false" | "no" | "0" => false,
                _ => return Err(format!("`paged={value}`: expected on or off")),
            })
        }
        "paged_memory" => {
            spec.paged_memory = Some(if let Some(megabytes) = value.strip_suffix("mb") {
                PagedMemory::Megabytes(number(megabytes)?)
            } else {
                match value.parse::<f32>() {
                    Ok(fraction) if fraction > 0.0 && fraction <= 1.0 => {
                        PagedMemory::Fraction(fraction)
                    }
                    _ => {
                        return Err(format!(
                            "`paged_memory={value}`: expected a fraction of GPU memory (0.9) or MiB (8192mb)"
                        ));
                    }
                }
            })
        }
        "block_size" => spec.block_size = Some(number(value)?),
        "dtype" => spec.dtype = Some(value.to_owned()),
        "max_seqs" => spec.max_sequences = Some(number(value)?.max(1)),
        "window" => {
            spec.context_window = Some(
                u32::try_from(number(value)?)
                    .map_err(|_| format!("`window={value}`: too large"))?,
            )
        }
        _ => {
            return Err(format!(
                "`{key}` is not an option of `mistralrs:`; the options are {LOCAL_OPTIONS}"
            ));
        }
    }
    Ok(())
}

/// `auto`, `cpu`, `0,1` or `0:16,1:16` (GPU:layers).
fn parse_devices(value: &str) -> Result<Devices, String> {
    match value {
        "auto" | "" => return Ok(Devices::Auto),
        "cpu" => return Ok(Devices::Cpu),
        _ => {}
    }
    let bad = || {
        format!(
            "`devices={value}`: expected auto, cpu, GPU numbers (0,1) or GPUs with layer counts (0:16,1:16)"
        )
    };
    let mut gpus = Vec::new();
    for item in value.split(',') {
        let (ordinal, layers) = match item.split_once(':') {
            Some((ordinal, layers)) => (ordinal, Some(layers.parse::<usize>().map_err(|_| bad())?)),
            None => (item, None),
        };
        gpus.push((ordinal.trim().parse::<usize>().map_err(|_| bad())?, layers));
    }
    let counted = gpus.iter().filter(|(_, layers)| layers.is_some()).count();
    if counted != 0 && counted != gpus.len() {
        return Err(format!(
            "`devices={value}`: give a layer count for every GPU or for none"
        ));
    }
    Ok(Devices::Gpus(gpus))
}

/// Settings beyond the spec for an OpenAI-compatible model (from weft.toml).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemoteOptions {
    /// The environment variable holding the API key (default `OPENAI_API_KEY`, or
    /// `HF_TOKEN` for `tgi:`); a named variable that is not set is an error.
    pub api_key_env: Option<String>,
    /// The window in tokens (default 131,072, Llama-3.1's).
    pub context_window: Option<u32>,
    /// The longest wait for a response's headers.
    pub timeout: Option<Duration>,
    /// The longest silence inside a streamed reply.
    pub idle_timeout: Option<Duration>,
    /// Retries after the first try.
    pub max_retries: Option<u32>,
}

/// Opens a backend this crate holds (`scripted:`, `openai:`, `tgi:`). `mistralrs:` and named
/// models are the caller's to open.
pub fn open_model(
    spec: &ModelSpec,
    options: &RemoteOptions,
) -> Result<Arc<dyn ChatModel>, BackendError> {
    match spec {
        ModelSpec::Scripted(path) => Ok(Arc::new(ScriptedModel::from_file(path)?)),
        ModelSpec::OpenAi { url, model, flavor } => {
            let default_model = match flavor {
                Flavor::Tgi => "tgi",
                Flavor::OpenAi => "default",
            };
            let mut config = OpenAiConfig::new(
                url,
                model.clone().unwrap_or_else(|| default_model.to_owned()),
                *flavor,
            );
            config.api_key = match &options.api_key_env {
                Some(variable) => Some(ApiKey::from_environment(variable).ok_or_else(|| {
                    BackendError::Configuration(format!(
                        "the API key variable ${variable} is not set (weft.toml names it in `api_key_env`)"
                    ))
                })?),
                None => ApiKey::from_environment(match flavor {
                    Flavor::Tgi => "HF_TOKEN",
                    Flavor::OpenAi => "OPENAI_API_KEY",
                }),
            };
            if let Some(window) = options.context_window {
                config.context_window = window;
            }
            if let Some(timeout) = options.timeout {
                config.request_timeout = timeout;
            }
            if let Some(timeout) = options.idle_timeout {
                config.idle_timeout = timeout;
            }
            if let Some(retries) = options.max_retries {
                config.retry.max_retries = retries;
            }
            let model = OpenAiModel::new(config)
                .map_err(|error| BackendError::Configuration(error.message))?;
            Ok(Arc::new(model))
        }
        ModelSpec::Local(_) => Err(BackendError::Configuration(
            "`mistralrs:` models are opened by the weft-mistralrs crate".into(),
        )),
        ModelSpec::Named(name) => Err(BackendError::Configuration(format!(
            "`{name}` names a model defined in weft.toml; look it up there first"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(spec: &str) -> Result<ModelSpec, String> {
        ModelSpec::parse(spec, Path::new("/w")).map_err(|error| error.to_string())
    }

    #[test]
    fn every_form_parses() {
        assert_eq!(
            parse("scripted:replies.yaml").unwrap(),
            ModelSpec::Scripted(PathBuf::from("/w/replies.yaml"))
        );
        assert_eq!(
            parse("openai:http://127.0.0.1:8000/v1#meta-llama/Llama-3.1-8B-Instruct").unwrap(),
            ModelSpec::OpenAi {
                url: "http://127.0.0.1:8000/v1".into(),
                model: Some("meta-llama/Llama-3.1-8B-Instruct".into()),
                flavor: Flavor::OpenAi,
            }
        );
        assert_eq!(
            parse("tgi:https://tgi.internal").unwrap(),
            ModelSpec::OpenAi {
                url: "https://tgi.internal".into(),
                model: None,
                flavor: Flavor::Tgi,
            }
        );
        assert_eq!(
            parse("llama-8b").unwrap(),
            ModelSpec::Named("llama-8b".into())
        );
        let ModelSpec::Local(local) =
            parse("mistralrs:meta-llama/Llama-3.1-8B-Instruct?isq=fp8&devices=0:20,1:12&paged=off&max_seqs=8").unwrap()
        else {
            panic!("not local")
        };
        assert_eq!(
            local.source,
            LocalSource::Hub("meta-llama/Llama-3.1-8B-Instruct".into())
        );
        assert_eq!(local.isq.as_deref(), Some("fp8"));
        assert_eq!(
            local.devices,
            Devices::Gpus(vec![(0, Some(20)), (1, Some(12))])
        );
        assert_eq!(local.paged_attention, Some(false));
        assert_eq!(local.max_sequences, Some(8));
        let ModelSpec::Local(local) = parse("mistralrs:./models/tiny?devices=cpu").unwrap() else {
            panic!("not local")
        };
        assert_eq!(
            local.source,
            LocalSource::Directory(PathBuf::from("/w/./models/tiny"))
        );
        assert_eq!(local.devices, Devices::Cpu);
    }

    #[test]
    fn bad_specs_list_the_accepted_forms() {
        for (spec, why) in [
            ("gpt5:thing", "`gpt5:` is not a kind of model"),
            ("http://host:8000/v1", "write `openai:URL` or `tgi:URL`"),
            ("openai:host:8000", "http:// or https:// URL"),
            ("mistralrs:", "needs what follows it"),
            (
                "mistralrs:/m?quant=fp8",
                "`quant` is not an option of `mistralrs:`",
            ),
            ("mistralrs:/m?devices=0:4,1", "for every GPU or for none"),
            ("a b", "not a model name"),
        ] {
            let error = parse(spec).unwrap_err();
            assert!(error.contains(why), "{spec}: {error}");
            assert!(error.contains("`openai:URL[#model]`"), "{spec}: {error}");
            assert!(
                error.contains("`mistralrs:PATH_OR_HUB_ID"),
                "{spec}: {error}"
            );
        }
    }
}
