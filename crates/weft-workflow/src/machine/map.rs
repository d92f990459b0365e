//! A map step: one activity per list item, at most `max_parallel` running at once. Branch
//! states are created when a branch starts, or when replay meets an event of a branch.

use super::activity::{ActivityState, Progress};
use super::effect::Place;
use crate::expression::Scope;
use crate::workflow::{MapBody, Workflow};
use serde_json::Value;
use weft_core::StepError;

#[derive(Debug, Clone)]
pub(crate) struct MapState {
    pub(crate) items: Vec<Value>,
    pub(crate) branches: Vec<Option<Box<ActivityState>>>,
}

/// Where all branches of a map stand.
pub(crate) enum MapProgress<'a> {
    Working,
    /// Every branch that is not done waits for a person.
    Waiting,
    Failed(u32, &'a StepError),
    Done(Vec<(&'a Value, Option<&'a str>)>),
}

impl MapState {
    pub(crate) fn new(items: Vec<Value>) -> Self {
        let branches = items.iter().map(|_| None).collect();
        Self { items, branches }
    }

    /// The scope a branch's templates see: the step's scope plus `item` and `index`.
    pub(crate) fn branch_scope(&self, base: &Scope, body: &MapBody, index: usize) -> Scope {
        let mut scope = base.clone();
        if let Some(item) = self.items.get(index) {
            scope.set_json("item", item);
        }
        scope.set("index", minijinja::Value::from(index));
        scope.alias_item(&body.item_name);
        scope
    }

    /// The branch `index`, if it has started.
    pub(crate) fn started_branch(&mut self, index: usize) -> Option<&mut ActivityState> {
        self.branches
            .get_mut(index)
            .and_then(Option::as_mut)
            .map(|state| &mut **state)
    }

    /// Starts the branch `index` (rendering its templates with `item` and `index`).
    pub(crate) fn start_branch(
        &mut self,
        workflow: &Workflow,
        body: &MapBody,
        base: &Scope,
        place: Place,
        index: usize,
    ) -> Result<&mut ActivityState, StepError> {
        let scope = self.branch_scope(base, body, index);
        let slot = self.branches.get_mut(index).ok_or_else(|| {
            StepError::new(
                weft_core::ErrorKind::Internal,
                format!("map branch {index} does not exist"),
            )
        })?;
        Ok(slot.insert(ActivityState::start(
            workflow,
            &body.branch,
            &scope,
            place,
            None,
        )?))
        .map(|state| &mut **state)
    }

    /// Indexes of branches to start now so that at most `max_parallel` are unfinished.
    pub(crate) fn branches_to_start(&self, max_parallel: u32) -> Vec<usize> {
        if self.branches.iter().all(Option::is_some) {
            return Vec::new();
        }
        let running = self
            .branches
            .iter()
            .filter(|branch| {
                branch.as_ref().is_some_and(|state| {
                    matches!(state.progress(), Progress::Working | Progress::Waiting(..))
                })
            })
            .count();
        let free = usize::try_from(max_parallel)
            .unwrap_or(usize::MAX)
            .saturating_sub(running);
        self.branches
            .iter()
            .enumerate()
            .filter(|(_, branch)| branch.is_none())
            .map(|(index, _)| index)
            .take(free)
            .collect()
    }

    pub(crate) fn progress(&self) -> MapProgress<'_> {
        let (mut working, mut waiting) = (false, false);
        for (index, branch) in self.branches.iter().enumerate() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            match branch.as_deref().map(ActivityState::progress) {
                None | Some(Progress::Working) => working = true,
                Some(Progress::Failed(error)) => return MapProgress::Failed(index, error),
                Some(Progress::Waiting(_)) => waiting = true,
                Some(Progress::Done(..)) => {}
            }
        }
        if working {
            return MapProgress::Working;
        }
        if waiting {
            return MapProgress::Waiting;
        }
        let outputs = self
            .branches
            .iter()
            .filter_map(
                |branch| match branch.as_deref().map(ActivityState::progress) {
                    Some(Progress::Done(output, reply)) => Some((output, reply)),
                    Some(Progress::Working | Progress::Waiting(..) | Progress::Failed(_))
                    | None => None,
                },
            )
            .collect();
        MapProgress::Done(outputs)
    }
}
