//! The guard effect (a text judged, recorded as `GuardChecked`), and the archival snippets
//! of a model call judged as the call is made (the `retrieved` point).

use crate::effects::{EffectDone, EffectFuture};
use crate::runtime::Runtime;
use std::path::Path;
use std::sync::Arc;
use weft_core::{
    Event, GuardAction, GuardCheck, GuardChecked, GuardError, GuardOutcome, GuardPoint,
    GuardRequest, GuardTurn, SessionView, StepError,
};
use weft_workflow::guards::finding;
use weft_workflow::{GuardCall, ModelCall};

impl Runtime {
    /// Judges a text with the guard its rule names; a guard that cannot be found or fails
    /// gives a `GuardChecked` with its error (which fails the step). A shutdown drops the
    /// call: it is made again after a restart.
    pub(crate) fn guard_effect<'a>(
        &'a self,
        workflow_dir: Arc<Path>,
        call: GuardCall,
    ) -> EffectFuture<'a> {
        Box::pin(async move {
            let outcome = match self.guards.resolve(&call.guard, &workflow_dir) {
                Err(error) => error_outcome(error),
                Ok(guard) => {
                    tracing::debug!(guard = %call.guard, point = call.check.point.as_str(), "calling a guard");
                    tokio::select! {
                        biased;
                        verdict = guard.classify(call.request) => match verdict {
                            Ok(verdict) => GuardOutcome::Verdict { verdict },
                            Err(error) => error_outcome(error),
                        },
                        () = self.shutdown.cancelled() => return Ok(EffectDone::stopped()),
                    }
                }
            };
            Ok(EffectDone::event(Event::GuardChecked(Box::new(
                GuardChecked {
                    step: call.step,
                    branch: call.branch,
                    check: call.check,
                    guard: call.guard,
                    outcome,
                },
            ))))
        })
    }
}

impl Runtime {
    /// Judges each archival snippet of `view` with the call's `retrieved` rule, as the
    /// model call is made: a redacted snippet is replaced by its marker, a flagged one
    /// kept; a blocked one (or a guard that cannot judge) fails the call. Returns the
    /// events that record the verdicts and what followed, in order.
    pub(crate) async fn guard_snippets(
        &self,
        call: &ModelCall,
        workflow_dir: &Path,
        view: &mut SessionView,
    ) -> (Vec<Event>, Result<(), StepError>) {
        let mut events = Vec::new();
        let Some(rule) = call.retrieved.clone() else {
            return (events, Ok(()));
        };
        // One guard judges every snippet of the call: found once.
        let guard = self.guards.resolve(&rule.guard, workflow_dir);
        for (index, snippet) in view.snippets.iter_mut().enumerate() {
            let check = GuardCheck {
                point: GuardPoint::Retrieved,
                turn: call.turn,
                index: u32::try_from(index).unwrap_or(u32::MAX),
            };
            let request = GuardRequest {
                point: GuardPoint::Retrieved,
                conversation: vec![GuardTurn::user(snippet.text.clone())],
                policy: rule.policy.clone(),
            };
            let outcome = match &guard {
                Ok(guard) => match guard.classify(request).await {
                    Ok(verdict) => GuardOutcome::Verdict { verdict },
                    Err(error) => error_outcome(error),
                },
                Err(error) => error_outcome(error.clone()),
            };
            let ruling = match &outcome {
                GuardOutcome::Verdict { verdict } => rule.rule(verdict),
                GuardOutcome::Error { error } => {
                    let error = StepError::new(
                        error.kind,
                        format!(
                            "guard `{}` could not judge archival snippet {}: {}",
                            rule.guard,
                            snippet.reference(),
                            error.message
                        ),
                    );
                    events.push(checked_event(call, check, &rule.guard, outcome));
                    return (events, Err(error));
                }
            };
            events.push(checked_event(call, check, &rule.guard, outcome));
            let Some(found) = finding((call.step, call.branch), check, &rule.guard, ruling) else {
                continue;
            };
            match rule.action {
                GuardAction::Block | GuardAction::Ask => {
                    let error = found.blocked_error();
                    events.push(Event::GuardBlocked(Box::new(found)));
                    return (events, Err(error));
                }
                GuardAction::Redact => {
                    snippet.text = found.marker();
                    events.push(Event::GuardRedacted(Box::new(found)));
                }
                GuardAction::Flag => events.push(Event::GuardFlagged(Box::new(found))),
            }
        }
        (events, Ok(()))
    }
}

/// The `GuardChecked` of snippet `check` of `call`.
fn checked_event(call: &ModelCall, check: GuardCheck, guard: &str, outcome: GuardOutcome) -> Event {
    Event::GuardChecked(Box::new(GuardChecked {
        step: call.step,
        branch: call.branch,
        check,
        guard: guard.to_owned(),
        outcome,
    }))
}

fn error_outcome(error: GuardError) -> GuardOutcome {
    GuardOutcome::Error {
        error: StepError::new(error.kind, error.message),
    }
}
