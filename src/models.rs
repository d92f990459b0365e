//! Opening the model a spec names: `openai:` and `tgi:` (feature `openai`) and `scripted:`
//! through weft-llm, `mistralrs:` through weft-mistralrs (feature `mistralrs`), and names
//! defined in `weft.toml`.

use crate::config::{ModelDefinition, Settings};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use weft_core::{ChatModel, ErrorKind, ModelError};
use weft_llm::spec::{ACCEPTED_SPECS, LocalSpec, ModelSpec};
use weft_llm::{BackendError, RemoteOptions};
use weft_runtime::Models;

/// A spec resolved to what opens it.
#[derive(Debug, Clone)]
pub enum Resolved {
    /// A backend of weft-llm, with its options.
    Remote {
        /// The spec.
        spec: ModelSpec,
        /// Its options.
        options: RemoteOptions,
        /// The `tokenizer.json` that counts its tokens, when weft.toml names one.
        tokenizer: Option<PathBuf>,
    },
    /// An in-process model.
    Local(LocalSpec),
}

/// A model that could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ModelSetupError {
    /// The spec is not valid, or its backend could not be built.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A name that `weft.toml` does not define.
    #[error("unknown model `{name}` ({defined}); accepted forms: {ACCEPTED_SPECS}")]
    UnknownName {
        /// The name.
        name: String,
        /// What the file defines, for the message.
        defined: String,
    },
    /// A `[models.NAME]` table that does not make a model.
    #[error("{file}: `[models.{name}]`: {problem}")]
    Definition {
        /// The settings file.
        file: String,
        /// The model's name.
        name: String,
        /// What is wrong.
        problem: DefinitionProblem,
    },
    /// An in-process model that could not be loaded.
    #[cfg(feature = "mistralrs")]
    #[error(transparent)]
    Local(#[from] weft_mistralrs::LocalError),
    /// A `tokenizer.json` that cannot be read.
    #[cfg(feature = "tokenizer-json")]
    #[error(transparent)]
    Tokenizer(#[from] weft_llm::tokens::TokenizerFileError),
    /// A `tokenizer` in a build that cannot read one.
    #[cfg(not(feature = "tokenizer-json"))]
    #[error(
        "this weft was built without the `tokenizer-json` feature, so it cannot count with {0}; rebuild with it (the `weft` binary has it)"
    )]
    NoTokenizerSupport(String),
    /// A `mistralrs:` model in a build without the in-process backend.
    #[error(
        "this weft was built without the `mistralrs` feature, so it cannot run `mistralrs:` models; rebuild with it (the `weft` binary has it by default) or serve the model and use `openai:URL`"
    )]
    NoLocalBackend,
}

impl From<ModelSetupError> for ModelError {
    fn from(error: ModelSetupError) -> Self {
        ModelError::new(ErrorKind::InvalidInput, error.to_string())
    }
}

/// What is wrong with a `[models.NAME]` table.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionProblem {
    /// Its `spec` is not valid.
    #[error(transparent)]
    Spec(BackendError),
    /// Its `spec` names another model instead of being a spec.
    #[error("`spec` must be a model spec, not the name `{0}`; accepted forms: {ACCEPTED_SPECS}")]
    NameAsSpec(String),
    /// An option of another kind of model.
    #[error("`{option}` is for {kind} models")]
    OptionOfOtherKind {
        /// The option.
        option: &'static str,
        /// The kinds it belongs to.
        kind: &'static str,
    },
    /// A `tokenizer` for an in-process model, which counts with its own.
    #[error(
        "`tokenizer` is for models served elsewhere; a `mistralrs:` model counts with the tokenizer.json in its folder"
    )]
    OwnTokenizer,
}

/// Resolves `text` (relative paths against `base`), looking names up in `weft.toml`.
pub fn resolve(text: &str, base: &Path, settings: &Settings) -> Result<Resolved, ModelSetupError> {
    match ModelSpec::parse(text, base)? {
        ModelSpec::Named(name) => {
            let Some(definition) = settings.config.models.get(&name) else {
                let defined: Vec<&str> =
                    settings.config.models.keys().map(String::as_str).collect();
                let defined = if defined.is_empty() {
                    format!("{} defines no models", settings.shown())
                } else {
                    format!("{} defines: {}", settings.shown(), defined.join(", "))
                };
                return Err(ModelSetupError::UnknownName { name, defined });
            };
            definition_spec(definition, settings).map_err(|problem| ModelSetupError::Definition {
                file: settings.shown(),
                name,
                problem,
            })
        }
        ModelSpec::Local(local) => Ok(Resolved::Local(local)),
        spec => Ok(Resolved::Remote {
            spec,
            options: RemoteOptions::default(),
            tokenizer: None,
        }),
    }
}

/// A `[models.NAME]` table: its spec with its options applied.
fn definition_spec(
    definition: &ModelDefinition,
    settings: &Settings,
) -> Result<Resolved, DefinitionProblem> {
    let spec = ModelSpec::parse(&definition.spec, &settings.directory())
        .map_err(DefinitionProblem::Spec)?;
    let other_kind = |option, kind| DefinitionProblem::OptionOfOtherKind { option, kind };
    match spec {
        ModelSpec::Named(other) => Err(DefinitionProblem::NameAsSpec(other)),
        ModelSpec::Local(mut local) => {
            if let Some(option) = definition.remote.first_set() {
                return Err(other_kind(option, "openai: and tgi:"));
            }
            if definition.tokenizer.is_some() {
                return Err(DefinitionProblem::OwnTokenizer);
            }
            local.options = local.options.overridden_by(&definition.local);
            Ok(Resolved::Local(local))
        }
        remote => {
            if let Some(option) = definition.local.first_set() {
                return Err(other_kind(option, "mistralrs:"));
            }
            if matches!(remote, ModelSpec::Scripted(_))
                && let Some(option) = definition.remote.first_set()
            {
                return Err(other_kind(option, "openai: and tgi:"));
            }
            Ok(Resolved::Remote {
                spec: remote,
                options: definition.remote.clone(),
                tokenizer: definition
                    .tokenizer
                    .as_ref()
                    .map(|path| settings.directory().join(path)),
            })
        }
    }
}

/// Opens a resolved model. An in-process model loads here (seconds to minutes); call it from
/// a multi-threaded tokio runtime or outside any runtime.
pub fn open(resolved: &Resolved) -> Result<Arc<dyn ChatModel>, ModelSetupError> {
    match resolved {
        Resolved::Remote {
            spec,
            options,
            tokenizer,
        } => {
            let model = weft_llm::open_model(spec, options)?;
            match tokenizer {
                Some(path) => counted_with(model, path),
                // A Llama-3.x model served elsewhere counts with the embedded Llama-3
                // vocabulary.
                None => Ok(weft_llm::tokens::with_family_counter(model, "")),
            }
        }
        Resolved::Local(spec) => open_local(spec),
    }
}

/// `model`, counting with the `tokenizer.json` at `path`.
#[cfg(feature = "tokenizer-json")]
fn counted_with(
    model: Arc<dyn ChatModel>,
    path: &Path,
) -> Result<Arc<dyn ChatModel>, ModelSetupError> {
    let counter = weft_llm::tokens::HuggingFaceTokenizer::open(path)?;
    Ok(weft_llm::tokens::with_counter(model, Arc::new(counter)))
}

#[cfg(not(feature = "tokenizer-json"))]
fn counted_with(
    _model: Arc<dyn ChatModel>,
    path: &Path,
) -> Result<Arc<dyn ChatModel>, ModelSetupError> {
    Err(ModelSetupError::NoTokenizerSupport(
        path.display().to_string(),
    ))
}

#[cfg(feature = "mistralrs")]
fn open_local(spec: &LocalSpec) -> Result<Arc<dyn ChatModel>, ModelSetupError> {
    Ok(Arc::new(load_local(spec)?))
}

#[cfg(not(feature = "mistralrs"))]
fn open_local(_spec: &LocalSpec) -> Result<Arc<dyn ChatModel>, ModelSetupError> {
    Err(ModelSetupError::NoLocalBackend)
}

/// Loads an in-process model, from inside a multi-threaded tokio runtime or outside any.
#[cfg(feature = "mistralrs")]
pub fn load_local(spec: &LocalSpec) -> Result<weft_mistralrs::LocalModel, ModelSetupError> {
    let load = weft_mistralrs::LocalModel::load(spec);
    let loaded = match tokio::runtime::Handle::try_current() {
        Ok(handle) => tokio::task::block_in_place(|| handle.block_on(load)),
        Err(_) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|error| weft_mistralrs::LocalError::Option(error.to_string()))
            .and_then(|runtime| runtime.block_on(load)),
    };
    Ok(loaded?)
}

/// A model spec and the folder its relative paths are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecAt {
    /// The spec or a weft.toml name.
    pub spec: String,
    /// The folder relative paths in it are read from.
    pub base: PathBuf,
}

/// The default model: `given` (a front end's flag or environment, read against `current`),
/// else weft.toml's `model` (read against weft.toml's folder), else none.
pub fn default_spec(given: Option<String>, current: &Path, settings: &Settings) -> Option<SpecAt> {
    if let Some(spec) = given.filter(|spec| !spec.trim().is_empty()) {
        return Some(SpecAt {
            spec,
            base: current.to_owned(),
        });
    }
    settings.config.model.clone().map(|spec| SpecAt {
        spec,
        base: settings.directory(),
    })
}

/// The runtime's models: `default` opened now (so a bad default fails before a run starts),
/// and every other spec a workflow names opened the first time it is used, with `settings`
/// for names.
pub fn models(
    settings: Arc<Settings>,
    default: Option<&SpecAt>,
) -> Result<Models, ModelSetupError> {
    let opener_settings = settings.clone();
    let opener = Box::new(
        move |spec: &str, base: &Path| -> Result<Arc<dyn ChatModel>, ModelError> {
            let resolved = resolve(spec, base, &opener_settings)?;
            Ok(open(&resolved)?)
        },
    );
    let mut models = Models::new().with_opener(opener);
    if let Some(default) = default {
        let resolved = resolve(&default.spec, &default.base, &settings)?;
        models = models.with_default_spec(default.spec.clone(), open(&resolved)?);
    }
    Ok(models)
}

/// `models` with each of `specs` opened now, so a bad one fails before a run starts (and an
/// in-process model loads once), each reached by its text as a workflow names it. For the
/// models that replace a workflow's (`--model`, `--node-model`).
pub fn with_opened<'a>(
    mut models: Models,
    specs: impl IntoIterator<Item = &'a str>,
    base: &Path,
    settings: &Settings,
) -> Result<Models, ModelSetupError> {
    let mut opened: Vec<&str> = Vec::new();
    for spec in specs {
        if opened.contains(&spec) {
            continue;
        }
        let resolved = resolve(spec, base, settings)?;
        models = models.with_named(spec, open(&resolved)?);
        opened.push(spec);
    }
    Ok(models)
}
