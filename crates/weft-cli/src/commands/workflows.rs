//! `weft workflows diff RUN FILE`: what would change for a run if it went on with FILE
//! instead of the workflow text it started with: each node added, removed, reshaped (kind,
//! writes, edges) or edited otherwise, whether the run went through it or waits at it, and
//! whether the run could move onto FILE (no node it visited or waits at removed or
//! reshaped). Sub-workflow runs are compared with their new files too.

use super::arguments::DatabaseArgument;
use super::{exit, fail, open_store, stored};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use weft::store::OpenMode;
use weft_core::RunId;
use weft_runtime::RecordedRun;
use weft_runtime::upgrade::{Section, Verdict, changes_for, verdict};

#[derive(Debug, clap::Subcommand)]
pub enum WorkflowsCommand {
    /// What would change for a run if it went on with FILE: the nodes that differ from the
    /// text it started with, where the run stands with each, and whether it could move onto
    /// FILE. Exits 1 when it could not.
    Diff {
        /// The run.
        run: RunId,
        /// The workflow file it would go on with.
        file: PathBuf,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseArgument,
    },
}

pub fn workflows(command: WorkflowsCommand) -> ExitCode {
    match command {
        WorkflowsCommand::Diff {
            run,
            file,
            json,
            database,
        } => super::block_on(diff(run, &file, json, &database)),
    }
}

async fn diff(run: RunId, file: &Path, json: bool, database: &DatabaseArgument) -> ExitCode {
    let store = match open_store(database, OpenMode::MustExist).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let report = match stored::top_level(store.as_ref(), run, "compare").await {
        Ok(report) => report,
        Err(code) => return code,
    };
    let (original, changed) =
        match stored::original_and_changed(store.as_ref(), &report, Some(file)).await {
            Ok(workflows) => workflows,
            Err(code) => return code,
        };
    let recorded = match RecordedRun::read(store.as_ref(), run).await {
        Ok(recorded) => recorded,
        Err(error) => return fail(exit::FAILED, error),
    };
    let sections = changes_for(&original, &changed, &recorded);
    let verdict = verdict(&sections);
    let movable = !matches!(verdict, Verdict::Blocked(_));
    if json {
        let report = serde_json::json!({"run": run, "file": file, "movable": movable, "workflows": sections});
        say!("{report}");
    } else {
        print_sections(run, file, &sections, &verdict);
    }
    if movable {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::FAILED)
    }
}

fn print_sections(run: RunId, file: &Path, sections: &[Section], verdict: &Verdict) {
    use weft_workflow::diff::{Change, Touch};
    for section in sections {
        let heading = format!(
            "workflow `{}`{}",
            section.workflow,
            crate::render::place_words(&section.place)
        );
        if section.changes.is_empty() && section.fields.is_empty() {
            say!("{heading}: unchanged");
            continue;
        }
        say!("{heading}:");
        if !section.fields.is_empty() {
            say!("    changed: {}", section.fields.join(", "));
        }
        for change in &section.changes {
            let what = match (change.change, &change.kinds) {
                (Change::Added, _) => "added".to_owned(),
                (Change::Removed, _) => "removed".to_owned(),
                (_, Some((before, after))) => format!("kind {before} -> {after}"),
                (_, None) => format!("changed: {}", change.fields.join(", ")),
            };
            let touch = match change.touch {
                Touch::Ahead => "not reached yet",
                Touch::Visited => "the run went through it",
                Touch::Waiting => "the run waits here",
            };
            let mark = if change.blocks() { "  ! " } else { "    " };
            say!("{mark}node `{}`: {what} ({touch})", change.node);
        }
    }
    match verdict {
        Verdict::Blocked(nodes) => say!(
            "run {run} cannot move onto {}: nodes it went through or waits at were removed or changed kind, writes or edges: {nodes}",
            file.display()
        ),
        Verdict::Unchanged | Verdict::Movable => say!(
            "run {run} could move onto {}: nothing it did or waits at changed",
            file.display()
        ),
    }
}
