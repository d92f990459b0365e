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
            let outcome = match self.guards.resolve(&rule.guard, workflow_dir) {
                Ok(guard) => match guard.classify(request).await {
                    Ok(verdict) => GuardOutcome::Verdict { verdict },
                    Err(error) => error_outcome(error),
                },
                Err(error) => error_outcome(error),
            };
            let checked = GuardChecked {
                step: call.step,
                branch: call.branch,
                check,
                guard: rule.guard.clone(),
                outcome: outcome.clone(),
            };
            events.push(Event::GuardChecked(Box::new(checked)));
            let verdict = match outcome {
                GuardOutcome::Verdict { verdict } => verdict,
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
                    return (events, Err(error));
                }
            };
            let ruling = rule.rule(&verdict);
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

fn error_outcome(error: GuardError) -> GuardOutcome {
    GuardOutcome::Error {
        error: StepError::new(error.kind, error.message),
    }
}
