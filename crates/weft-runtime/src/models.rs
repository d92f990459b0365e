//! How the runtime finds the model a node names.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use weft_core::{ChatModel, ErrorKind, ModelError};

/// The start of the error of a model call when neither the node, its workflow nor the
/// runtime names a model.
pub const NO_MODEL: &str = "no model is configured";

/// Resolves a node's model (`None`: the default) to a backend.
pub trait ModelSource: Send + Sync {
    /// The model for `name`; `workflow_dir` resolves relative paths in specs.
    fn resolve(
        &self,
        name: Option<&str>,
        workflow_dir: &Path,
    ) -> Result<Arc<dyn ChatModel>, ModelError>;
    /// The spec or name the default model was given by, for the record of who answered.
    fn default_spec(&self) -> Option<String> {
        None
    }
}

/// Opens a model from a spec string such as `scripted:replies.yaml`.
pub type SpecOpener = dyn Fn(&str, &Path) -> Result<Arc<dyn ChatModel>, ModelError> + Send + Sync;

/// A default model, named models, and an opener for specs (each spec opened once).
#[derive(Default)]
pub struct Models {
    default: Option<Arc<dyn ChatModel>>,
    default_spec: Option<String>,
    named: HashMap<String, Arc<dyn ChatModel>>,
    opener: Option<Box<SpecOpener>>,
    opened: Mutex<HashMap<(String, std::path::PathBuf), Arc<dyn ChatModel>>>,
}

impl std::fmt::Debug for Models {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Models")
            .field("has_default", &self.default.is_some())
            .field("named", &self.named.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Models {
    /// No models.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the model used when a node and its workflow name none, or name `default`.
    pub fn with_default(mut self, model: Arc<dyn ChatModel>) -> Self {
        self.default = Some(model);
        self
    }

    /// [`Models::with_default`], with the spec or name it was given by (recorded with each
    /// of its replies).
    pub fn with_default_spec(mut self, spec: impl Into<String>, model: Arc<dyn ChatModel>) -> Self {
        self.default = Some(model);
        self.default_spec = Some(spec.into());
        self
    }

    /// Adds a named model.
    pub fn with_named(mut self, name: impl Into<String>, model: Arc<dyn ChatModel>) -> Self {
        self.named.insert(name.into(), model);
        self
    }

    /// Sets how specs that name no model are opened.
    pub fn with_opener(mut self, opener: Box<SpecOpener>) -> Self {
        self.opener = Some(opener);
        self
    }
}

impl ModelSource for Models {
    fn default_spec(&self) -> Option<String> {
        self.default_spec.clone()
    }

    fn resolve(
        &self,
        name: Option<&str>,
        workflow_dir: &Path,
    ) -> Result<Arc<dyn ChatModel>, ModelError> {
        let missing_default = || {
            ModelError::new(
                ErrorKind::NotFound,
                format!(
                    "{NO_MODEL}: the workflow names none (`model:`) and there is no default model"
                ),
            )
        };
        let Some(name) = name.filter(|name| *name != "default") else {
            return self.default.clone().ok_or_else(missing_default);
        };
        if let Some(model) = self.named.get(name) {
            return Ok(model.clone());
        }
        let Some(opener) = &self.opener else {
            return Err(ModelError::new(
                ErrorKind::NotFound,
                format!("unknown model `{name}`"),
            ));
        };
        let key = (name.to_owned(), workflow_dir.to_owned());
        let mut opened = self
            .opened
            .lock()
            .map_err(|_| ModelError::new(ErrorKind::Internal, "model cache lock poisoned"))?;
        if let Some(model) = opened.get(&key) {
            return Ok(model.clone());
        }
        let model = opener(name, workflow_dir)?;
        opened.insert(key, model.clone());
        Ok(model)
    }
}
