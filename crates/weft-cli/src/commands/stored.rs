//! A stored run that a command goes on with (`weft resume`, `weft runs fork`): read from the
//! database first (status checks need nothing else), then its workflow, loaded in the folder
//! and with the models the run recorded, unless the command line says otherwise.

use super::arguments::{ModelArguments, recorded_overrides};
use super::{exit, fail};
use crate::project::Project;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use weft_core::{RunId, RunStore};
use weft_runtime::RunReport;
use weft_workflow::{ModelOverrides, Workflow};

/// A top-level run of `store`; `verb` ("resume", "fork") words the errors.
pub async fn top_level(
    store: &dyn RunStore,
    run: RunId,
    verb: &str,
) -> Result<RunReport, ExitCode> {
    let report = RunReport::read(store, run)
        .await
        .map_err(|error| fail(exit::INVALID, error))?;
    if let Some(parent) = &report.summary.parent {
        return Err(fail(
            exit::INVALID,
            format!(
                "run {run} is a sub-workflow's run; {verb} its parent run {} instead",
                parent.run
            ),
        ));
    }
    Ok(report)
}

/// The run's workspace (`--workspace`, else the one it recorded, else the current folder)
/// and its workflow with that workspace's tools: the texts it started with, kept in the
/// database, or its files for a run from before runs kept them.
pub async fn workflow(
    store: &dyn RunStore,
    report: &RunReport,
    workspace: Option<&Path>,
    models: &ModelArguments,
) -> Result<(Project, ModelOverrides, Arc<Workflow>, weft_tools::Registry), ExitCode> {
    let setup = report.setup.as_ref();
    let recorded = setup
        .and_then(|setup| setup.workspace.as_deref())
        .map(Path::new);
    let project = Project::open(workspace.or(recorded))?;
    let overrides = if models.given() {
        let current = std::env::current_dir().map_err(|error| {
            fail(
                exit::INVALID,
                format!("cannot read the current folder: {error}"),
            )
        })?;
        models.overrides(&current)
    } else {
        recorded_overrides(setup)
    };
    // The texts the run started with, when it kept them: edits to the files since do not
    // reach it, and the files need not exist.
    let texts = weft_runtime::workflow_texts(store, setup)
        .await
        .map_err(|error| fail(exit::FAILED, format!("run {}: {error}", report.summary.id)))?;
    let source = Path::new(&report.summary.source);
    if texts.is_none() && !source.exists() {
        return Err(fail(
            exit::INVALID,
            format!(
                "run {} needs its workflow file {}, which does not exist (it moved or was deleted); `weft runs show`, `weft runs fail` and `weft runs cancel` work without it",
                report.summary.id,
                source.display()
            ),
        ));
    }
    let (workflow, tools) = project
        .load_kept_workflow(source, texts.as_ref(), &overrides)
        .await
        .inspect_err(|_| {
            let whence = if texts.is_some() {
                "the workflow texts it started with, as kept in the database"
            } else {
                "its workflow file"
            };
            eprintln!(
                "error: run {} needs {whence} ({})",
                report.summary.id, report.summary.source
            );
        })?;
    Ok((project, overrides, workflow, tools))
}

/// The workflow a stored run started on (its kept texts, with the models it recorded) and
/// `file` loaded the same way (none: the same workflow): what a changed workflow is
/// compared with.
pub async fn original_and_changed(
    store: &dyn RunStore,
    report: &RunReport,
    file: Option<&Path>,
) -> Result<(Arc<Workflow>, Arc<Workflow>), ExitCode> {
    let recorded_models = ModelArguments {
        model: None,
        node_models: Vec::new(),
    };
    let (project, overrides, original, _) = workflow(store, report, None, &recorded_models).await?;
    let changed = match file {
        Some(file) => project.load_kept_workflow(file, None, &overrides).await?.0,
        None => original.clone(),
    };
    Ok((original, changed))
}
