//! The workflow texts a run starts with: kept in the store under their hashes when it
//! starts, named in its setup, and read back to load its workflow when it goes on.

use crate::error::RuntimeError;
use crate::runtime::Runtime;
use std::collections::HashSet;
use std::sync::{MutexGuard, PoisonError};
use weft_core::{RunSetup, RunStore};
use weft_workflow::{Workflow, WorkflowTexts};

impl Runtime {
    /// Keeps the texts `workflow` was loaded from in the store, and names them in the run's
    /// setup, so the run goes on with them whatever happens to the files. A workflow built
    /// without a loader has none, and its setup stays as it is.
    pub(crate) async fn keep_texts(
        &self,
        workflow: &Workflow,
        setup: Option<RunSetup>,
    ) -> Result<Option<RunSetup>, RuntimeError> {
        let Some(texts) = workflow.texts.as_ref().filter(|texts| !texts.is_empty()) else {
            return Ok(setup);
        };
        let hashes = texts.hashes();
        // The set is not held across the store's write (a std lock cannot wait).
        let known = |kept: &HashSet<String>| hashes.values().all(|hash| kept.contains(hash));
        if !known(&self.kept_texts()) {
            self.store.save_workflow_texts(&texts.by_hash()).await?;
            self.kept_texts().extend(hashes.values().cloned());
        }
        let mut setup = setup.unwrap_or_default();
        setup.workflow_files = hashes;
        Ok(Some(setup))
    }

    /// The hashes this runtime has kept; a poisoned lock still holds a valid set.
    fn kept_texts(&self) -> MutexGuard<'_, HashSet<String>> {
        self.kept_texts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The workflow texts a run started with, from `store`, to load the run's workflow from
/// ([`weft_workflow::Loader::load_stored`]); `None` for a run whose setup names none (one
/// started before runs kept their texts, or through a store that keeps none).
pub async fn workflow_texts(
    store: &dyn RunStore,
    setup: Option<&RunSetup>,
) -> Result<Option<WorkflowTexts>, RuntimeError> {
    let Some(files) = setup
        .map(|setup| &setup.workflow_files)
        .filter(|files| !files.is_empty())
    else {
        return Ok(None);
    };
    let hashes: Vec<String> = files.values().cloned().collect();
    let texts = store.workflow_texts(&hashes).await?;
    Ok(Some(WorkflowTexts::from_hashes(files, &texts)?))
}
