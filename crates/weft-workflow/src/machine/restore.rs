//! Rebuilding a machine: from a run's whole log, or from a snapshot and the events logged
//! after it; and taking those snapshots at step boundaries, when the driver asks.

use super::snapshot::{Capture, FORMAT, Snapshot};
use super::{Next, RunMachine};
use crate::error::RunError;
use crate::expression::to_template_value;
use crate::workflow::Workflow;
use std::sync::Arc;
use weft_core::{Event, RunId, RunStatus};

impl RunMachine {
    /// Rebuilds a run from its log. Call [`RunMachine::pending`] for the effects to redo.
    pub fn restore<'a>(
        workflow: Arc<Workflow>,
        run: RunId,
        events: impl IntoIterator<Item = &'a Event>,
    ) -> Result<Self, RunError> {
        let mut machine = Self::empty(workflow, run);
        for event in events {
            machine.apply(event)?;
        }
        Ok(machine)
    }

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
            Next::Nothing | Next::Entry | Next::Finish(_) => None,
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
        workflow: Arc<Workflow>,
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
            .collect::<Vec<_>>()
            .into();
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
