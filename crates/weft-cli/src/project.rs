//! Where a command works: the workspace folder (the file tools' folder, its `tools/`
//! manifests and its `weft.toml`) and the settings read from there.

use crate::commands::{exit, fail};
use crate::environment;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use weft::config::Settings;
use weft::toolbox::{Toolbox, WorkflowProblem};
use weft::workflow::{LoadError, ModelOverrides, Workflow, WorkflowTexts};
use weft_tools::Registry;

/// A workspace and its settings.
#[derive(Debug, Clone)]
pub struct Project {
    /// The folder runs work in.
    pub workspace: PathBuf,
    /// Its `weft.toml` (or `$WEFT_CONFIG`).
    pub settings: Arc<Settings>,
}

impl Project {
    /// The project of `workspace`, or of the current folder.
    pub fn open(workspace: Option<&Path>) -> Result<Self, ExitCode> {
        let workspace = match workspace {
            Some(folder) => folder.to_owned(),
            None => std::env::current_dir().map_err(|error| {
                fail(
                    exit::INVALID,
                    format!("cannot read the current folder: {error}"),
                )
            })?,
        };
        let explicit = std::env::var_os(environment::CONFIG).map(PathBuf::from);
        let settings = Settings::load(&workspace, explicit.as_deref())
            .map_err(|error| fail(exit::INVALID, error))?;
        Ok(Self {
            workspace,
            settings: Arc::new(settings),
        })
    }

    /// The tools of a run in this project.
    pub fn toolbox(&self) -> Toolbox {
        Toolbox::new(&self.workspace, self.settings.clone())
    }

    /// Loads the workflow at `path` with its tools and `models` replacing the ones it
    /// names, printing its problems.
    pub async fn load_workflow(
        &self,
        path: &Path,
        models: &ModelOverrides,
    ) -> Result<(Arc<Workflow>, Registry), ExitCode> {
        self.load_kept_workflow(path, None, models).await
    }

    /// [`Project::load_workflow`] from the texts a run kept, when it kept them.
    pub async fn load_kept_workflow(
        &self,
        path: &Path,
        texts: Option<&WorkflowTexts>,
        models: &ModelOverrides,
    ) -> Result<(Arc<Workflow>, Registry), ExitCode> {
        let mut toolbox = self.toolbox();
        toolbox.models = models.clone();
        toolbox
            .load_kept_workflow(path, texts, Registry::new())
            .await
            .map_err(|problem| {
                print_problem(&problem);
                ExitCode::from(exit::INVALID)
            })
    }
}

/// Prints why a workflow could not be loaded, a line per error.
pub fn print_problem(problem: &WorkflowProblem) {
    match problem {
        WorkflowProblem::Load(LoadError::Invalid { diagnostics }) => {
            for diagnostic in diagnostics {
                eprintln!("{diagnostic}");
            }
        }
        other => eprintln!("error: {other}"),
    }
}
