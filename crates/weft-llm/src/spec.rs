//! Model specs (`scripted:FILE`, ...) and opening the backend a spec names.

use crate::error::BackendError;
use crate::scripted::ScriptedModel;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use weft_core::ChatModel;

/// The forms a model spec may take in this release.
pub const ACCEPTED_SPECS: &str = "`scripted:FILE` (replies listed in a YAML file)";

/// A parsed model spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSpec {
    /// Replies from a YAML file.
    Scripted(PathBuf),
}

impl ModelSpec {
    /// Parses a spec; relative paths resolve against `base`.
    pub fn parse(spec: &str, base: &Path) -> Result<Self, BackendError> {
        let unknown = || BackendError::UnknownSpec {
            spec: spec.to_owned(),
            accepted: ACCEPTED_SPECS,
        };
        let (scheme, rest) = spec.split_once(':').ok_or_else(unknown)?;
        match scheme {
            "scripted" if !rest.is_empty() => Ok(Self::Scripted(base.join(rest))),
            _ => Err(unknown()),
        }
    }
}

/// Opens the backend a spec names.
pub fn open_model(spec: &ModelSpec) -> Result<Arc<dyn ChatModel>, BackendError> {
    match spec {
        ModelSpec::Scripted(path) => Ok(Arc::new(ScriptedModel::from_file(path)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scripted_and_rejects_others_with_the_accepted_forms() {
        assert_eq!(
            ModelSpec::parse("scripted:replies.yaml", Path::new("/w")).unwrap(),
            ModelSpec::Scripted(PathBuf::from("/w/replies.yaml"))
        );
        let error = ModelSpec::parse("gpt5", Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(error.contains("accepted forms: `scripted:FILE`"), "{error}");
    }
}
