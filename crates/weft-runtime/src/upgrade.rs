//! Moving a waiting run onto a newer version of its workflow: what differs for the run
//! (its own workflow and each sub-workflow run's), and whether the move is sound: no node
//! it went through or waits at was removed or reshaped (see `weft_workflow::diff`).

use crate::replay::{Place, RecordedRun};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use weft_core::{Event, status_after};
use weft_workflow::Workflow;
use weft_workflow::diff::{NodeChange, node_changes, workflow_changes};
use weft_workflow::workflow::{Activity, NodeBody};

/// One workflow of the run (the run's own, or a sub-workflow run's) and what differs in it.
#[derive(Debug, Serialize)]
pub struct Section {
    /// The sub-workflow run it is (see [`Place`]); empty for the run itself.
    pub place: Place,
    /// The workflow's name.
    pub workflow: String,
    /// Its own fields that differ (`output`, `state`, ...): none blocks a move.
    pub fields: Vec<String>,
    /// Its nodes that differ.
    pub changes: Vec<NodeChange>,
}

/// What differs between `old` and `new` for the run `recorded` and its sub-workflow runs.
pub fn changes_for(old: &Workflow, new: &Arc<Workflow>, recorded: &RecordedRun) -> Vec<Section> {
    let mut sections = Vec::new();
    compare(old, Some(new), recorded, Place::new(), &mut sections);
    sections
}

/// Whether a run may move onto the new version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing differs: there is nothing to move onto.
    Unchanged,
    /// Something differs, and nothing the run did or waits at.
    Movable,
    /// Nodes the run went through or waits at were removed or reshaped: their names, as
    /// `` `a`, `b` ``.
    Blocked(String),
}

/// What `sections` (from [`changes_for`]) allow.
pub fn verdict(sections: &[Section]) -> Verdict {
    let blocking: Vec<String> = sections
        .iter()
        .flat_map(|section| section.changes.iter())
        .filter(|change| change.blocks())
        .map(|change| format!("`{}`", change.node))
        .collect();
    if !blocking.is_empty() {
        return Verdict::Blocked(blocking.join(", "));
    }
    let unchanged = sections
        .iter()
        .all(|section| section.changes.is_empty() && section.fields.is_empty());
    if unchanged {
        Verdict::Unchanged
    } else {
        Verdict::Movable
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
    let mut steps = HashMap::new();
    let mut waiting = BTreeSet::new();
    for record in &recorded.log {
        if let Event::StepStarted { step, node, .. } = &record.event {
            visited.insert(node.clone());
            steps.insert(*step, node.clone());
        }
        match (&record.event, status_after(&record.event)) {
            (Event::Interrupted { node, .. }, _) => {
                waiting.insert(node.clone());
            }
            (_, Some(_)) => waiting.clear(),
            _ => {}
        }
    }
    sections.push(Section {
        place: place.clone(),
        workflow: old.name.clone(),
        fields: workflow_changes(old, new),
        changes: node_changes(old, new, &visited, &waiting),
    });
    // In step order, so the sections read the way the run went.
    let mut children: Vec<_> = recorded.children.iter().collect();
    children.sort_by_key(|(place, _)| **place);
    for ((step, branch), child) in children {
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
