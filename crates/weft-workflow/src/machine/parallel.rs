//! A `parallel` step: one line of steps per branch, each started at the branch's first
//! node and ended where it goes to the join. The step itself runs no effect; it is done
//! when every branch that runs has reached the join. Each branch's steps are ordinary
//! steps of the run (their `StepStarted` names the parallel step and branch), so their
//! effects, failures and questions are handled as any step's.

use super::writes::holds;
use crate::expression::Scope;
use crate::workflow::{ParallelBody, Workflow};
use weft_core::StepError;

/// Where each branch of a parallel step stands.
#[derive(Debug)]
pub(crate) struct ParallelState {
    pub(crate) branches: Vec<Line>,
}

/// Where one branch stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line {
    /// Its condition did not hold: it does not run.
    Skipped,
    /// Its next step is at this node.
    Next(String),
    /// This step of it runs.
    Running(u64),
    /// It reached the join.
    Arrived,
}

impl ParallelState {
    /// Decides which branches run (their conditions see the state as the step starts).
    pub(crate) fn enter(
        workflow: &Workflow,
        body: &ParallelBody,
        scope: &Scope,
    ) -> Result<Self, StepError> {
        let mut branches = Vec::with_capacity(body.branches.len());
        for branch in &body.branches {
            let runs = holds(workflow, branch.when.as_ref(), scope).map_err(|error| {
                StepError::new(
                    error.kind,
                    format!("branch `{}`: {}", branch.start, error.message),
                )
            })?;
            branches.push(if runs {
                Line::Next(branch.start.clone())
            } else {
                Line::Skipped
            });
        }
        Ok(Self { branches })
    }

    /// The branches whose next step is to start: their index and node.
    pub(crate) fn to_start(&self) -> impl Iterator<Item = (u32, &str)> {
        self.branches
            .iter()
            .enumerate()
            .filter_map(|(index, line)| match line {
                Line::Next(node) => Some((u32::try_from(index).unwrap_or(u32::MAX), node.as_str())),
                Line::Skipped | Line::Running(_) | Line::Arrived => None,
            })
    }

    /// Whether every branch that runs has reached the join.
    pub(crate) fn done(&self) -> bool {
        self.branches
            .iter()
            .all(|line| matches!(line, Line::Skipped | Line::Arrived))
    }

    /// The line of branch `branch`.
    pub(crate) fn line_mut(&mut self, branch: u32) -> Option<&mut Line> {
        self.branches
            .get_mut(usize::try_from(branch).unwrap_or(usize::MAX))
    }
}
