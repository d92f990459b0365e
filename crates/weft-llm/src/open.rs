//! Opening the backends this crate holds from a parsed spec: `scripted:`, and `openai:` and
//! `tgi:` when the `openai` feature is on. `mistralrs:` models and names defined in
//! `weft.toml` are the caller's to open (the facade's composition does both).

use crate::error::BackendError;
use crate::options::RemoteOptions;
use crate::scripted::ScriptedModel;
use crate::spec::ModelSpec;
use std::sync::Arc;
use weft_core::ChatModel;

/// Opens a backend this crate holds (`scripted:`, `openai:`, `tgi:`).
pub fn open_model(
    spec: &ModelSpec,
    options: &RemoteOptions,
) -> Result<Arc<dyn ChatModel>, BackendError> {
    match spec {
        ModelSpec::Scripted(path) => Ok(Arc::new(ScriptedModel::from_file(path)?)),
        ModelSpec::OpenAi { url, model, flavor } => {
            open_remote(url, model.as_deref(), *flavor, options)
        }
        ModelSpec::Local(_) => Err(BackendError::Configuration(
            "`mistralrs:` models are opened by the weft-mistralrs crate".into(),
        )),
        ModelSpec::Named(name) => Err(BackendError::Configuration(format!(
            "`{name}` names a model defined in weft.toml; look it up there first"
        ))),
    }
}

#[cfg(feature = "openai")]
fn open_remote(
    url: &str,
    model: Option<&str>,
    flavor: crate::spec::Flavor,
    options: &RemoteOptions,
) -> Result<Arc<dyn ChatModel>, BackendError> {
    use crate::openai::{ApiKey, OpenAiConfig, OpenAiModel};
    use crate::spec::Flavor;
    let default_model = match flavor {
        Flavor::Tgi => "tgi",
        Flavor::OpenAi => "default",
    };
    let mut config = OpenAiConfig::new(url, model.unwrap_or(default_model), flavor);
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
    let model =
        OpenAiModel::new(config).map_err(|error| BackendError::Configuration(error.message))?;
    Ok(Arc::new(model))
}

#[cfg(not(feature = "openai"))]
fn open_remote(
    url: &str,
    _model: Option<&str>,
    _flavor: crate::spec::Flavor,
    _options: &RemoteOptions,
) -> Result<Arc<dyn ChatModel>, BackendError> {
    Err(BackendError::FeatureMissing {
        feature: "openai",
        what: format!("the OpenAI-compatible server at {url}"),
    })
}
