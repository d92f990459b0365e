//! Snapshots: a run's folded state between two steps, so that a long run is restored from
//! its latest snapshot and the events after it instead of its whole log.
//!
//! A snapshot is taken where nothing is in flight: right after a step finished (the
//! `StepFinished` event), before the next one starts. The driver asks for one
//! ([`RunMachine::capture_next_boundary`]) every so many events; the machine takes it
//! when it folds the next `StepFinished`, and the driver stores it under that event's
//! sequence number.

use super::{Next, RunMachine};
use crate::error::RunError;
use crate::expression::to_template_value;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use weft_core::{Event, RunId, RunStatus};

/// The format of [`Snapshot`]; a snapshot of another format is ignored (the log is replayed).
const FORMAT: u32 = 1;

/// A run between two steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    format: u32,
    /// The run's input.
    input: Value,
    /// The state.
    state: Map<String, Value>,
    /// The last step's number.
    step: u64,
    /// The node to run next; `None` when the run ends after `last`.
    next: Option<String>,
    /// The node that ran last.
    last: String,
    /// How often each node ran.
    visits: BTreeMap<String, u64>,
}

impl RunMachine {
    /// Asks for a snapshot at the next step boundary (see [`RunMachine::take_snapshot`]).
    pub fn capture_next_boundary(&mut self) {
        self.capture = Capture::Requested;
    }

    /// The snapshot taken at the first `StepFinished` folded since it was asked for, if
    /// that happened. It belongs right after that event.
    pub fn take_snapshot(&mut self) -> Option<Snapshot> {
        match std::mem::take(&mut self.capture) {
            Capture::Taken(snapshot) => Some(*snapshot),
            other => {
                self.capture = other;
                None
            }
        }
    }

    /// Called by the fold right after a `StepFinished`.
    pub(super) fn on_boundary(&mut self, last: &str) {
        if !matches!(self.capture, Capture::Requested) {
            return;
        }
        let visits = self
            .workflow
            .nodes
            .keys()
            .zip(&self.visits)
            .filter(|(_, visits)| **visits > 0)
            .map(|(name, visits)| (name.clone(), *visits))
            .collect();
        let next = match &self.next {
            Next::Node(name) => Some(name.clone()),
            _ => None,
        };
        self.capture = Capture::Taken(Box::new(Snapshot {
            format: FORMAT,
            input: self.input.clone(),
            state: self.state.clone(),
            step: self.step,
            next,
            last: last.to_owned(),
            visits,
        }));
    }

    /// Rebuilds a run from a snapshot and the events logged after it. A snapshot of another
    /// format gives `Ok(None)`: replay the whole log instead.
    pub fn restore_from_snapshot<'a>(
        workflow: Arc<crate::Workflow>,
        run: RunId,
        snapshot: Snapshot,
        events: impl IntoIterator<Item = &'a Event>,
    ) -> Result<Option<Self>, RunError> {
        if snapshot.format != FORMAT {
            return Ok(None);
        }
        let mut machine = Self::empty(workflow, run);
        machine.field_values = machine
            .workflow
            .field_names
            .iter()
            .map(|name| {
                snapshot
                    .state
                    .get(name)
                    .map(to_template_value)
                    .unwrap_or_default()
            })
            .collect();
        machine.state = snapshot.state;
        machine.input_value = to_template_value(&snapshot.input);
        machine.input = snapshot.input;
        machine.status = RunStatus::Running;
        machine.step = snapshot.step;
        machine.next = match snapshot.next {
            Some(node) => Next::Node(node),
            None => Next::Finish(snapshot.last),
        };
        for (index, name) in machine.workflow.nodes.keys().enumerate() {
            if let (Some(count), Some(visits)) =
                (snapshot.visits.get(name), machine.visits.get_mut(index))
            {
                *visits = *count;
            }
        }
        for event in events {
            machine.apply(event)?;
        }
        Ok(Some(machine))
    }
}

/// Where a requested snapshot stands.
#[derive(Debug, Default)]
pub(super) enum Capture {
    /// None asked for.
    #[default]
    Idle,
    /// Asked for; taken at the next step boundary.
    Requested,
    /// Taken, waiting for the driver.
    Taken(Box<Snapshot>),
}
