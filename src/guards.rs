//! Guards by spec or weft.toml name (`[guards.NAME]`): the runtime's [`Guards`], opening
//! each one the first time a workflow names it.

use crate::config::Settings;
use std::path::Path;
use std::sync::Arc;
use weft_core::{ErrorKind, Guard, GuardError};
use weft_guard::{GuardSpec, LlamaGuard, ScriptedGuard};
use weft_runtime::Guards;

/// The runtime's guards: a workflow's `guard:` is a weft.toml name or a spec, opened when a
/// run first needs it, with `settings` for names.
pub fn guards(settings: Arc<Settings>) -> Guards {
    let opener = move |name: &str, base: &Path| open(name, base, &settings);
    Guards::new().with_opener(Box::new(opener))
}

/// Opens the guard `name` names: a weft.toml name (its spec read against weft.toml's
/// folder) or a spec (read against `base`, the workflow's folder).
pub fn open(name: &str, base: &Path, settings: &Settings) -> Result<Arc<dyn Guard>, GuardError> {
    let (text, base) = match settings.config.guards.get(name) {
        Some(definition) => (definition.spec.as_str(), settings.directory()),
        None => (name, base.to_owned()),
    };
    let spec = GuardSpec::parse(text, &base)
        .map_err(|error| GuardError::new(ErrorKind::InvalidInput, error.to_string()))?
        .ok_or_else(|| {
            GuardError::new(
                ErrorKind::NotFound,
                format!(
                    "unknown guard `{name}`: it is neither a name in weft.toml's [guards] nor a spec (`llama-guard:MODEL`, `prompt-guard:DIR`, `prompt-guard:http://HOST/predict`, `scripted:FILE`)"
                ),
            )
        })?;
    match spec {
        GuardSpec::Scripted(path) => Ok(Arc::new(ScriptedGuard::from_file(&path)?)),
        GuardSpec::LlamaGuard(model) => {
            let opened = crate::models::resolve(&model, &base, settings)
                .and_then(|resolved| crate::models::open(&resolved))
                .map_err(|error| {
                    GuardError::new(
                        ErrorKind::InvalidInput,
                        format!("guard `{name}`: its model `{model}`: {error}"),
                    )
                })?;
            Ok(Arc::new(LlamaGuard::new(opened, &model)))
        }
        GuardSpec::PromptGuard(target) => prompt_guard(name, &target, &base),
    }
}

/// Prompt Guard: `http(s)://HOST/predict[?tokenizer=PATH]` is a classifier endpoint (the
/// tokenizer, read against `base`, counts its windows); anything else a model folder.
fn prompt_guard(name: &str, target: &str, base: &Path) -> Result<Arc<dyn Guard>, GuardError> {
    if target.starts_with("http://") || target.starts_with("https://") {
        return http_prompt_guard(name, target, base);
    }
    local_prompt_guard(name, &base.join(target))
}

#[cfg(feature = "prompt-guard")]
fn local_prompt_guard(name: &str, folder: &Path) -> Result<Arc<dyn Guard>, GuardError> {
    let classifier =
        weft_guard::prompt_guard::local::LocalClassifier::load(folder).map_err(|error| {
            GuardError::new(error.kind, format!("guard `{name}`: {}", error.message))
        })?;
    Ok(Arc::new(weft_guard::PromptGuard::new(Arc::new(classifier))))
}

#[cfg(not(feature = "prompt-guard"))]
fn local_prompt_guard(name: &str, _folder: &Path) -> Result<Arc<dyn Guard>, GuardError> {
    Err(GuardError::new(
        ErrorKind::InvalidInput,
        format!(
            "guard `{name}`: Prompt Guard in this process needs weft built with the `prompt-guard` feature (or name a classifier endpoint: `prompt-guard:http://HOST/predict`)"
        ),
    ))
}

#[cfg(feature = "http")]
fn http_prompt_guard(name: &str, target: &str, base: &Path) -> Result<Arc<dyn Guard>, GuardError> {
    let (url, tokenizer) = match target.split_once("?tokenizer=") {
        Some((url, path)) => (url, Some(base.join(path))),
        None => (target, None),
    };
    let classifier = weft_guard::prompt_guard::http::HttpClassifier::new(url, tokenizer.as_deref())
        .map_err(|error| {
            GuardError::new(error.kind, format!("guard `{name}`: {}", error.message))
        })?;
    Ok(Arc::new(weft_guard::PromptGuard::new(Arc::new(classifier))))
}

#[cfg(not(feature = "http"))]
fn http_prompt_guard(
    name: &str,
    _target: &str,
    _base: &Path,
) -> Result<Arc<dyn Guard>, GuardError> {
    Err(GuardError::new(
        ErrorKind::InvalidInput,
        format!("guard `{name}`: Prompt Guard over HTTP needs weft built with the `http` feature"),
    ))
}
