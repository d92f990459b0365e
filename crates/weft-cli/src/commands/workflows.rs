//! `weft workflows diff RUN FILE`: what would change for a run if it went on with FILE
//! instead of the workflow text it started with: each node added, removed, reshaped (kind,
//! writes, edges) or edited otherwise, whether the run went through it or waits at it, and
//! whether the run could move onto FILE (no node it visited or waits at removed or
//! reshaped). Sub-workflow runs are compared with their new files too.

use super::arguments::DatabaseArgument;
use super::{exit, fail, open_store, stored};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use weft::store::OpenMode;
use weft_core::{Event, RunId, status_after};
use weft_runtime::RecordedRun;
use weft_runtime::replay::Place;
use weft_workflow::Workflow;
use weft_workflow::diff::{NodeChange, node_changes};
use weft_workflow::workflow::{Activity, NodeBody};

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

/// One workflow of the run (the run's own, or a sub-workflow run's) and what differs in it.
#[derive(Debug, Serialize)]
pub(crate) struct Section {
    place: Place,
    workflow: String,
    changes: Vec<NodeChange>,
}

/// What differs between `old` and `new` for the run `recorded` and its sub-workflow runs.
pub(crate) fn changes_for(
    old: &Workflow,
    new: &Arc<Workflow>,
    recorded: &RecordedRun,
) -> Vec<Section> {
    let mut sections = Vec::new();
    compare(old, Some(new), recorded, Place::new(), &mut sections);
    sections
}

/// Whether nothing differs.
pub(crate) fn unchanged(sections: &[Section]) -> bool {
    sections.iter().all(|section| section.changes.is_empty())
}

/// The changes that keep a run from moving onto the new version.
pub(crate) fn blocking(sections: &[Section]) -> Vec<&NodeChange> {
    sections
        .iter()
        .flat_map(|section| section.changes.iter())
        .filter(|change| change.blocks())
        .collect()
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
    let blocking = blocking(&sections);
    let movable = blocking.is_empty();
    if json {
        let report = serde_json::json!({"run": run, "file": file, "movable": movable, "workflows": sections});
        println!("{report}");
    } else {
        print_sections(run, file, &sections, &blocking);
    }
    if movable {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::FAILED)
    }
}

/// Compares `old` with `new` for the run `recorded`, then each sub-workflow run with the
/// new version of its workflow (none: the parent's node is no longer a sub-workflow).
fn compare(
    old: &Workflow,
    new: Option<&Arc<Workflow>>,
    recorded: &RecordedRun,
    place: Place,
    sections: &mut Vec<Section>,
) {
    let Some(new) = new else {
        return;
    };
    let mut visited = BTreeSet::new();
    let mut steps = std::collections::HashMap::new();
    let mut waiting = None;
    for record in &recorded.log {
        if let Event::StepStarted { step, node, .. } = &record.event {
            visited.insert(node.clone());
            steps.insert(*step, node.clone());
        }
        match (&record.event, status_after(&record.event)) {
            (Event::Interrupted { node, .. }, _) => waiting = Some(node.clone()),
            (_, Some(_)) => waiting = None,
            _ => {}
        }
    }
    sections.push(Section {
        place: place.clone(),
        workflow: old.name.clone(),
        changes: node_changes(old, new, &visited, waiting.as_deref()),
    });
    for ((step, branch), child) in &recorded.children {
        let Some(node) = steps.get(step) else {
            continue;
        };
        let (Some(before), after) = (child_workflow(old, node), child_workflow(new, node)) else {
            continue;
        };
        let mut below = place.clone();
        below.push((*step, *branch));
        compare(&before, after.as_ref(), child, below, sections);
    }
}

/// The workflow a node (or its map branch) runs as a sub-workflow.
fn child_workflow(workflow: &Workflow, node: &str) -> Option<Arc<Workflow>> {
    let activity = match &workflow.nodes.get(node)?.body {
        NodeBody::Activity(activity) => activity,
        NodeBody::Map(map) => &map.branch,
        _ => return None,
    };
    match activity {
        Activity::Workflow(child) => Some(child.workflow.clone()),
        _ => None,
    }
}

fn print_sections(run: RunId, file: &Path, sections: &[Section], blocking: &[&NodeChange]) {
    use weft_workflow::diff::{Change, Touch};
    for section in sections {
        let mut heading = format!("workflow `{}`", section.workflow);
        for (step, branch) in &section.place {
            heading.push_str(&format!(", the sub-workflow run of step {step}"));
            if let Some(branch) = branch {
                heading.push_str(&format!(" (branch {branch})"));
            }
        }
        if section.changes.is_empty() {
            println!("{heading}: unchanged");
            continue;
        }
        println!("{heading}:");
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
            println!("{mark}node `{}`: {what} ({touch})", change.node);
        }
    }
    if blocking.is_empty() {
        println!(
            "run {run} could move onto {}: nothing it did or waits at changed",
            file.display()
        );
    } else {
        let names: Vec<String> = blocking
            .iter()
            .map(|change| format!("`{}`", change.node))
            .collect();
        println!(
            "run {run} cannot move onto {}: nodes it went through or waits at were removed or changed kind, writes or edges: {}",
            file.display(),
            names.join(", ")
        );
    }
}
