//! How the runtime finds the guard a workflow names: a weft.toml name or a spec, resolved
//! by a [`GuardSource`] ([`Guards`]: named guards and an opener for the rest).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use weft_core::{ErrorKind, Guard, GuardError};

/// Resolves the guard a workflow names (a weft.toml name or a spec) to a guard.
pub trait GuardSource: Send + Sync {
    /// The guard for `name`; `workflow_dir` resolves relative paths in specs.
    fn resolve(&self, name: &str, workflow_dir: &Path) -> Result<Arc<dyn Guard>, GuardError>;
}

/// Opens a guard from a spec or name the registry does not hold.
pub type GuardOpener = dyn Fn(&str, &Path) -> Result<Arc<dyn Guard>, GuardError> + Send + Sync;

/// Named guards, and an opener for the rest (each name opened once per folder).
#[derive(Default)]
pub struct Guards {
    named: HashMap<String, Arc<dyn Guard>>,
    opener: Option<Box<GuardOpener>>,
    opened: Mutex<HashMap<(String, PathBuf), Arc<dyn Guard>>>,
}

impl std::fmt::Debug for Guards {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Guards")
            .field("named", &self.named.keys().collect::<Vec<_>>())
            .field("has_opener", &self.opener.is_some())
            .finish_non_exhaustive()
    }
}

impl Guards {
    /// No guards.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a guard under `name`.
    pub fn with_named(mut self, name: impl Into<String>, guard: Arc<dyn Guard>) -> Self {
        self.named.insert(name.into(), guard);
        self
    }

    /// Sets how names the registry does not hold are opened.
    pub fn with_opener(mut self, opener: Box<GuardOpener>) -> Self {
        self.opener = Some(opener);
        self
    }
}

impl GuardSource for Guards {
    fn resolve(&self, name: &str, workflow_dir: &Path) -> Result<Arc<dyn Guard>, GuardError> {
        if let Some(guard) = self.named.get(name) {
            return Ok(guard.clone());
        }
        let Some(opener) = &self.opener else {
            return Err(GuardError::new(
                ErrorKind::NotFound,
                format!("unknown guard `{name}`: the runtime has no guard by that name"),
            ));
        };
        let key = (name.to_owned(), workflow_dir.to_owned());
        let mut opened = self
            .opened
            .lock()
            .map_err(|_| GuardError::new(ErrorKind::Internal, "guard cache lock poisoned"))?;
        if let Some(guard) = opened.get(&key) {
            return Ok(guard.clone());
        }
        let guard = opener(name, workflow_dir)?;
        opened.insert(key, guard.clone());
        Ok(guard)
    }
}
