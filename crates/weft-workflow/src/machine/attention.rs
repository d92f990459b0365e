//! Runs that wait for a person after a restart: a tool call that is not idempotent started
//! and did not finish, so nobody knows whether its effect happened. The machine records
//! the calls (`AttentionNeeded`), and either runs them again when told to (`Retried`) or
//! is failed (`fail_run`).

use super::RunMachine;
use super::command::{Command, Decision};
use super::fold::unexpected;
use super::waiting::Attention;
use crate::error::RunError;
use weft_core::{ChildPlace, Event, RunStatus, UnsettledCall};

impl RunMachine {
    /// The tool calls among `decision`'s commands that a previous process started: their
    /// `ToolCallStarted` is in the log already, not among the decision's events. `pending`
    /// after a restart gives such commands for calls that were running when it stopped.
    pub fn started_before(&self, decision: &Decision) -> Vec<UnsettledCall> {
        decision
            .commands
            .iter()
            .filter_map(|command| match command {
                Command::CallTool(call) => Some(call),
                Command::CallModel(_)
                | Command::StartChild(_)
                | Command::ResumeChild(_)
                | Command::CheckGuard(_) => None,
            })
            .filter(|call| {
                !decision.events.iter().any(|event| {
                    matches!(event, Event::ToolCallStarted { step, branch, turn, index, .. }
                        if (*step, *branch, *turn, *index) == (call.step, call.branch, call.turn, call.index))
                })
            })
            .map(|call| UnsettledCall {
                run: self.run,
                step: call.step,
                branch: call.branch,
                turn: call.turn,
                index: call.index,
                tool: call.call.name.clone(),
                idempotency_key: call.idempotency_key.clone(),
            })
            .collect()
    }

    /// Stops the run until a person decides about `calls`.
    pub fn needs_attention(
        &mut self,
        calls: Vec<UnsettledCall>,
        child: Option<ChildPlace>,
    ) -> Result<Decision, RunError> {
        let mut decision = Decision::default();
        if self.status == RunStatus::Running && !calls.is_empty() {
            self.record(Event::AttentionNeeded { calls, child }, &mut decision)?;
        }
        Ok(decision)
    }

    /// What the run waits on, while it needs attention.
    pub fn attention(&self) -> Option<&Attention> {
        self.attention.as_ref()
    }

    /// A person chose to run the unsettled calls again. The decision holds only the
    /// `Retried` event; [`RunMachine::pending`] then gives the calls, recorded as started
    /// anew, so a crash during the retry stops the run again.
    pub fn retry(&mut self) -> Result<Decision, RunError> {
        let Some(attention) = self.attention.clone() else {
            return Err(RunError::NothingToRetry {
                status: self.status.as_str(),
            });
        };
        let mut decision = Decision::default();
        self.record(
            Event::Retried {
                calls: attention.calls,
            },
            &mut decision,
        )?;
        Ok(decision)
    }

    /// Folds `AttentionNeeded`.
    pub(super) fn on_attention_needed(
        &mut self,
        calls: &[UnsettledCall],
        child: Option<&ChildPlace>,
    ) {
        // The driver stops when the run does: nothing it started is in flight any more.
        self.status = RunStatus::NeedsAttention;
        self.in_flight.clear();
        self.attention = Some(Attention {
            calls: calls.to_vec(),
            child: child.cloned(),
        });
    }

    /// Folds `Retried`: this run's own calls count as not started, so they are recorded
    /// again before they run.
    pub(super) fn on_retried(
        &mut self,
        event: &Event,
        calls: &[UnsettledCall],
    ) -> Result<(), RunError> {
        if self.status != RunStatus::NeedsAttention {
            return Err(unexpected(event, "the run does not need attention"));
        }
        self.status = RunStatus::Running;
        self.attention = None;
        self.in_flight.clear();
        let run = self.run;
        for call in calls.iter().filter(|call| call.run == run) {
            self.activity_mut(event, call.step, call.branch)?
                .forget_start(call.turn, call.index);
        }
        Ok(())
    }
}
