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
use crate::options::{LocalOptions, OptionError};
use std::path::{Path, PathBuf};

/// The accepted forms, for error messages.
pub const ACCEPTED_SPECS: &str = "`openai:URL[#model]` (an OpenAI-compatible server), \
`tgi:URL[#model]` (text-generation-inference), \
`mistralrs:PATH_OR_HUB_ID[?isq=fp8&devices=0,1]` (in-process), \
`scripted:FILE` (replies listed in a YAML file), \
or the name of a model defined in weft.toml (`[models.NAME]`)";

/// Which dialect of the chat-completions API a server speaks, where they differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// OpenAI, vLLM, llama.cpp server, `mistralrs serve`, Hugging Face Inference.
    OpenAi,
    /// Hugging Face text-generation-inference: structured output is `{"type": "json",
    /// "value": schema}` and `stream_options` is not sent.
    Tgi,
}

impl Flavor {
    /// Whether the server takes `stream_options` (usage in the last chunk).
    pub fn sends_stream_options(self) -> bool {
        matches!(self, Self::OpenAi)
    }
}

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

/// An in-process model and how to run it.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalSpec {
    /// Its files.
    pub source: LocalSource,
    /// How to run it.
    pub options: LocalOptions,
}

impl LocalSpec {
    /// A spec for `source` with every option at its default.
    pub fn new(source: LocalSource) -> Self {
        Self {
            source,
            options: LocalOptions::default(),
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
            "mistralrs" if !rest.is_empty() => parse_local(rest, base)
                .map(Self::Local)
                .map_err(|error| unknown(error.to_string())),
            "scripted" | "mistralrs" => Err(unknown(format!("`{scheme}:` needs what follows it"))),
            "http" | "https" => Err(unknown(
                "a bare URL does not say which API it speaks: write `openai:URL` or `tgi:URL`"
                    .into(),
            )),
            _ => Err(unknown(format!("`{scheme}:` is not a kind of model"))),
        }
    }
}

/// `spec` with its relative paths made absolute against `base` (a `scripted:` file, a
/// `mistralrs:` folder), so it names the same model read from any folder; other specs,
/// names and specs that do not parse come back as they are.
pub fn anchored(spec: &str, base: &Path) -> String {
    let Some((scheme, rest)) = spec.trim().split_once(':') else {
        return spec.to_owned();
    };
    let absolute = |path: &str| {
        let path = Path::new(path);
        if path.is_absolute() {
            path.to_owned()
        } else {
            base.join(path)
        }
    };
    match scheme {
        "scripted" if !rest.is_empty() => format!("scripted:{}", absolute(rest).display()),
        "mistralrs" if !rest.is_empty() => {
            let (source, query) = match rest.split_once('?') {
                Some((source, query)) => (source, Some(query)),
                None => (rest, None),
            };
            let query = query.map(|query| format!("?{query}")).unwrap_or_default();
            match parse_local(rest, base).map(|local| local.source) {
                Ok(LocalSource::Directory(_)) => {
                    format!("mistralrs:{}{query}", absolute(source).display())
                }
                Ok(LocalSource::Hub(_)) | Err(_) => spec.to_owned(),
            }
        }
        _ => spec.to_owned(),
    }
}

fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|character| character.is_alphanumeric() || matches!(character, '_' | '-' | '.'))
}

fn parse_local(rest: &str, base: &Path) -> Result<LocalSpec, OptionError> {
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
        spec.options.set(key, value)?;
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{Devices, Isq};

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
        assert_eq!(local.options.isq, Some(Isq::Fp8));
        assert_eq!(
            local.options.devices,
            Some(Devices::Gpus(vec![(0, Some(20)), (1, Some(12))]))
        );
        assert_eq!(local.options.paged_attention, Some(false));
        assert_eq!(local.options.max_sequences, Some(8));
        let ModelSpec::Local(local) = parse("mistralrs:./models/tiny?devices=cpu").unwrap() else {
            panic!("not local")
        };
        assert_eq!(
            local.source,
            LocalSource::Directory(PathBuf::from("/w/./models/tiny"))
        );
        assert_eq!(local.options.devices, Some(Devices::Cpu));
    }

    #[test]
    fn anchored_specs_name_the_same_files_from_anywhere() {
        let base = Path::new("/work/project");
        assert_eq!(
            anchored("scripted:replies/a.yaml", base),
            "scripted:/work/project/replies/a.yaml"
        );
        assert_eq!(anchored("scripted:/r.yaml", base), "scripted:/r.yaml");
        assert_eq!(
            anchored("mistralrs:./models/tiny?isq=fp8", base),
            "mistralrs:/work/project/./models/tiny?isq=fp8"
        );
        assert_eq!(
            anchored("mistralrs:meta-llama/Llama-3.1-8B-Instruct", base),
            "mistralrs:meta-llama/Llama-3.1-8B-Instruct",
            "a hub id stays one"
        );
        for unchanged in [
            "openai:http://127.0.0.1:8000/v1#m",
            "llama",
            "nonsense spec",
        ] {
            assert_eq!(anchored(unchanged, base), unchanged);
        }
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
