//! Opening the model a spec names: `openai:`, `tgi:` and `scripted:` through weft-llm,
//! `mistralrs:` through weft-mistralrs (the `local` feature), and names defined in
//! `weft.toml`.

use crate::config::{ModelDefinition, Settings};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use weft_core::ChatModel;
use weft_llm::spec::{ACCEPTED_SPECS, LocalSpec, ModelSpec, RemoteOptions, apply_local_option};

/// A spec resolved to what opens it.
#[derive(Debug, Clone)]
pub enum Resolved {
    /// A backend of weft-llm, with its options.
    Remote(ModelSpec, RemoteOptions),
    /// An in-process model.
    Local(LocalSpec),
}

/// Resolves `text` (relative paths against `base`), looking names up in `weft.toml`.
pub fn resolve(text: &str, base: &Path, settings: &Settings) -> Result<Resolved, String> {
    let spec = ModelSpec::parse(text, base).map_err(|error| error.to_string())?;
    match spec {
        ModelSpec::Named(name) => {
            let Some(definition) = settings.config.models.get(&name) else {
                let defined: Vec<&str> =
                    settings.config.models.keys().map(String::as_str).collect();
                let defined = if defined.is_empty() {
                    format!("{} defines no models", settings.shown())
                } else {
                    format!("{} defines: {}", settings.shown(), defined.join(", "))
                };
                return Err(format!(
                    "unknown model `{name}` ({defined}); accepted forms: {ACCEPTED_SPECS}"
                ));
            };
            definition_spec(&name, definition, settings)
        }
        ModelSpec::Local(local) => Ok(Resolved::Local(local)),
        other => Ok(Resolved::Remote(other, RemoteOptions::default())),
    }
}

/// A `[models.NAME]` table: its spec with its options applied.
fn definition_spec(
    name: &str,
    definition: &ModelDefinition,
    settings: &Settings,
) -> Result<Resolved, String> {
    let at = format!("{}: `[models.{name}]`", settings.shown());
    let spec = ModelSpec::parse(&definition.spec, &settings.directory())
        .map_err(|error| format!("{at}: {error}"))?;
    let remote_options = [
        ("api_key_env", definition.api_key_env.is_some()),
        ("context_window", definition.context_window.is_some()),
        ("timeout", definition.timeout.is_some()),
        ("idle_timeout", definition.idle_timeout.is_some()),
        ("max_retries", definition.max_retries.is_some()),
    ];
    let local_options: Vec<(&str, Option<String>)> = vec![
        ("isq", definition.isq.clone()),
        ("isq_scope", definition.isq_scope.clone()),
        ("devices", definition.devices.clone()),
        (
            "paged",
            definition
                .paged
                .map(|paged| if paged { "on" } else { "off" }.to_owned()),
        ),
        ("paged_memory", definition.paged_memory.clone()),
        (
            "block_size",
            definition.block_size.map(|size| size.to_string()),
        ),
        ("dtype", definition.dtype.clone()),
        (
            "max_seqs",
            definition.max_seqs.map(|count| count.to_string()),
        ),
        ("window", definition.window.map(|window| window.to_string())),
    ];
    match spec {
        ModelSpec::Named(other) => Err(format!(
            "{at}: `spec` must be a model spec, not the name `{other}`; accepted forms: {ACCEPTED_SPECS}"
        )),
        ModelSpec::Local(mut local) => {
            if let Some((option, _)) = remote_options.iter().find(|(_, set)| *set) {
                return Err(format!(
                    "{at}: `{option}` is for openai: and tgi: models, not mistralrs:"
                ));
            }
            for (key, value) in local_options {
                if let Some(value) = value {
                    apply_local_option(&mut local, key, &value)
                        .map_err(|error| format!("{at}: {error}"))?;
                }
            }
            Ok(Resolved::Local(local))
        }
        other => {
            if let Some((option, _)) = local_options.iter().find(|(_, value)| value.is_some()) {
                return Err(format!("{at}: `{option}` is for mistralrs: models"));
            }
            let is_remote = matches!(other, ModelSpec::OpenAi { .. });
            if !is_remote && let Some((option, _)) = remote_options.iter().find(|(_, set)| *set) {
                return Err(format!("{at}: `{option}` is for openai: and tgi: models"));
            }
            let duration = |field: &str, value: &Option<String>| {
                value
                    .as_deref()
                    .map(weft_workflow::load::parse_duration)
                    .transpose()
                    .map_err(|error| format!("{at}: `{field}`: {error}"))
            };
            let options = RemoteOptions {
                api_key_env: definition.api_key_env.clone(),
                context_window: definition.context_window,
                timeout: duration("timeout", &definition.timeout)?,
                idle_timeout: duration("idle_timeout", &definition.idle_timeout)?,
                max_retries: definition.max_retries,
            };
            Ok(Resolved::Remote(other, options))
        }
    }
}

/// Opens a resolved model. An in-process model loads here (seconds to minutes); call it from
/// a multi-threaded tokio runtime or outside any runtime.
pub fn open(resolved: &Resolved) -> Result<Arc<dyn ChatModel>, String> {
    match resolved {
        Resolved::Remote(spec, options) => {
            weft_llm::open_model(spec, options).map_err(|error| error.to_string())
        }
        Resolved::Local(spec) => open_local(spec),
    }
}

#[cfg(feature = "local")]
fn open_local(spec: &LocalSpec) -> Result<Arc<dyn ChatModel>, String> {
    Ok(Arc::new(load_local(spec)?))
}

/// Loads an in-process model, from inside a multi-threaded tokio runtime or outside any.
#[cfg(feature = "local")]
pub fn load_local(spec: &LocalSpec) -> Result<weft_mistralrs::LocalModel, String> {
    let load = weft_mistralrs::LocalModel::load(spec);
    let result = match tokio::runtime::Handle::try_current() {
        Ok(handle) => tokio::task::block_in_place(|| handle.block_on(load)),
        Err(_) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|error| weft_mistralrs::LocalError::Option(error.to_string()))
            .and_then(|runtime| runtime.block_on(load)),
    };
    result.map_err(|error| error.to_string())
}

#[cfg(not(feature = "local"))]
fn open_local(_spec: &LocalSpec) -> Result<Arc<dyn ChatModel>, String> {
    Err(
        "this weft was built without the `local` feature, so it cannot run `mistralrs:` models; rebuild with `--features local` (on by default) or serve the model and use `openai:URL`"
            .to_owned(),
    )
}

/// The default model's spec and the folder its relative paths are read from: `--model` or
/// `$WEFT_MODEL` (the current folder), else weft.toml's `model` (weft.toml's folder).
pub fn default_spec(
    argument: Option<String>,
    settings: &Settings,
) -> Result<Option<(String, PathBuf)>, String> {
    let given = argument.or_else(|| {
        std::env::var(crate::environment::MODEL)
            .ok()
            .filter(|spec| !spec.trim().is_empty())
    });
    if let Some(spec) = given {
        let current = std::env::current_dir()
            .map_err(|error| format!("cannot read the current folder: {error}"))?;
        return Ok(Some((spec, current)));
    }
    Ok(settings
        .config
        .model
        .clone()
        .map(|spec| (spec, settings.directory())))
}
