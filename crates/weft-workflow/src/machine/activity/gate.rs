//! Guards inside an activity: a text a guard must judge is held (the model call waits
//! for its user message, the output for the answer, the turn for its tool results) until
//! the verdict, recorded as `GuardChecked`, is ruled on. What a ruling does to the text
//! comes back as a [`Release`]; the events that say so (`GuardBlocked`, `GuardRedacted`,
//! `GuardFlagged`) are recorded with the activity's next effects, and folding them again
//! from a log finds them decided already.

use crate::error::ActivityMismatch;
use crate::guards::{GuardRule, NodeGuards, finding};
use crate::machine::command::{Command, GuardCall};
use crate::machine::effect::{EffectKey, InFlight, Place};
use serde_json::Value;
use std::sync::Arc;
use weft_core::GuardPoint;
use weft_core::{
    ErrorKind, Event, GuardAction, GuardCheck, GuardFinding, GuardOutcome, GuardRequest, GuardTurn,
    StepError,
};

/// What a guard's ruling does to a held text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Release {
    /// It goes on unchanged.
    Pass,
    /// This marker replaces it.
    Redact(String),
    /// The step fails with this error.
    Block(StepError),
}

/// What the gate decided about one held text, with the event that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FindingKind {
    Blocked,
    Redacted,
    Flagged,
}

#[derive(Debug, Clone)]
enum HeldState {
    /// The guard has not judged it.
    Waiting,
    /// A person is asked about this finding.
    Asking(GuardFinding),
    /// Ruled on.
    Released(Release),
}

#[derive(Debug, Clone)]
struct Held {
    check: GuardCheck,
    rule: Arc<GuardRule>,
    /// What the text is, for a person's question (`the result of `fetch``).
    about: String,
    request: GuardRequest,
    state: HeldState,
}

/// A question a guard's `ask` rule puts to a person.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GuardQuestion {
    pub(crate) check: GuardCheck,
    pub(crate) question: String,
}

/// The texts of one activity that guards judge.
#[derive(Debug, Clone, Default)]
pub(crate) struct Gate {
    guards: Arc<NodeGuards>,
    held: Vec<Held>,
    /// Findings decided and not yet recorded.
    unrecorded: Vec<(FindingKind, GuardFinding)>,
}

/// The check of a model node's user message.
pub(crate) const USER_MESSAGE: GuardCheck = GuardCheck {
    point: GuardPoint::Input,
    turn: 0,
    index: 0,
};

/// The answers a person gives a guard's question.
pub(crate) const ANSWERS: [&str; 3] = ["allow", "redact", "block"];

impl Gate {
    /// A gate over the node's guards.
    pub(crate) fn new(guards: Arc<NodeGuards>) -> Self {
        Self {
            guards,
            held: Vec::new(),
            unrecorded: Vec::new(),
        }
    }

    /// Holds the last turn of `conversation` for the guard at `check.point` (callers ask
    /// `guards` first: a point no guard reads holds nothing).
    pub(crate) fn hold(&mut self, check: GuardCheck, about: String, conversation: Vec<GuardTurn>) {
        let Some(rule) = self.guards.at(check.point).cloned() else {
            return;
        };
        if self.find(check).is_some() {
            return;
        }
        let request = GuardRequest {
            point: check.point,
            conversation,
            policy: rule.policy.clone(),
        };
        self.held.push(Held {
            check,
            rule,
            about,
            request,
            state: HeldState::Waiting,
        });
    }

    /// Holds a model node's user message (the last of `messages`) where an `input` guard
    /// reads it; returns its text where a guard reads it (an `output` guard reads it as the
    /// answer's context), else nothing: most nodes have no guard, and keep no copy.
    pub(crate) fn hold_user_message(&mut self, messages: &[weft_core::Message]) -> String {
        let (input, output) = (
            self.guards(GuardPoint::Input),
            self.guards(GuardPoint::Output),
        );
        if !input && !output {
            return String::new();
        }
        let text = messages
            .last()
            .map(|message| message.content.clone())
            .unwrap_or_default();
        if input {
            let turn = vec![GuardTurn::user(text.clone())];
            self.hold(USER_MESSAGE, "the user message".into(), turn);
        }
        text
    }

    /// Whether a guard reads `point`.
    pub(crate) fn guards(&self, point: weft_core::GuardPoint) -> bool {
        self.guards.at(point).is_some()
    }

    /// The rule at `point`.
    pub(crate) fn rule(&self, point: weft_core::GuardPoint) -> Option<Arc<GuardRule>> {
        self.guards.at(point).cloned()
    }

    /// What became of the text held at `check`: `None` while it waits.
    pub(crate) fn release(&self, check: GuardCheck) -> Option<&Release> {
        match &self.find(check)?.state {
            HeldState::Released(release) => Some(release),
            HeldState::Waiting | HeldState::Asking(_) => None,
        }
    }

    fn find(&self, check: GuardCheck) -> Option<&Held> {
        self.held.iter().find(|held| held.check == check)
    }

    fn find_mut(&mut self, check: GuardCheck) -> Option<&mut Held> {
        self.held.iter_mut().find(|held| held.check == check)
    }

    /// The findings to record, then a guard call for each text that waits and is not
    /// being judged.
    #[inline]
    pub(crate) fn commands(
        &mut self,
        place: Place,
        in_flight: &mut InFlight,
        events: &mut Vec<Event>,
        commands: &mut Vec<Command>,
    ) {
        // Most activities hold nothing for a guard: checked where the call is made.
        if !self.unrecorded.is_empty() || !self.held.is_empty() {
            self.issue(place, in_flight, events, commands);
        }
    }

    /// [`Gate::commands`] for a gate that holds something.
    fn issue(
        &mut self,
        place: Place,
        in_flight: &mut InFlight,
        events: &mut Vec<Event>,
        commands: &mut Vec<Command>,
    ) {
        for (kind, finding) in self.unrecorded.drain(..) {
            let finding = Box::new(finding);
            events.push(match kind {
                FindingKind::Blocked => Event::GuardBlocked(finding),
                FindingKind::Redacted => Event::GuardRedacted(finding),
                FindingKind::Flagged => Event::GuardFlagged(finding),
            });
        }
        for held in &self.held {
            if !matches!(held.state, HeldState::Waiting) {
                continue;
            }
            if in_flight.insert(EffectKey::guard(place, held.check)) {
                commands.push(Command::CheckGuard(GuardCall {
                    step: place.step,
                    branch: place.branch,
                    check: held.check,
                    guard: held.rule.guard.clone(),
                    request: held.request.clone(),
                }));
            }
        }
    }

    /// Takes a guard's verdict and rules on it: the release, unless a person is asked.
    pub(crate) fn on_checked(
        &mut self,
        place: Place,
        check: GuardCheck,
        outcome: &GuardOutcome,
    ) -> Result<Option<Release>, ActivityMismatch> {
        if check.point == weft_core::GuardPoint::Retrieved {
            // The driver judged the snippets of a model call and applied the rule itself:
            // the verdict is a fact of the log, and nothing here waits for it.
            return Ok(None);
        }
        let held = self
            .find_mut(check)
            .ok_or(ActivityMismatch::NothingGuarded(check.point.as_str()))?;
        if !matches!(held.state, HeldState::Waiting) {
            return Err(ActivityMismatch::NothingGuarded(check.point.as_str()));
        }
        let verdict = match outcome {
            GuardOutcome::Verdict { verdict } => verdict,
            GuardOutcome::Error { error } => {
                let release = Release::Block(StepError::new(
                    error.kind,
                    format!(
                        "guard `{}` could not judge {}: {}",
                        held.rule.guard, held.about, error.message
                    ),
                ));
                held.state = HeldState::Released(release.clone());
                return Ok(Some(release));
            }
        };
        let ruling = held.rule.rule(verdict);
        let Some(found) = finding((place.step, place.branch), check, &held.rule.guard, ruling)
        else {
            held.state = HeldState::Released(Release::Pass);
            return Ok(Some(Release::Pass));
        };
        let (kind, release) = match held.rule.action {
            GuardAction::Ask => {
                held.state = HeldState::Asking(found);
                return Ok(None);
            }
            GuardAction::Block => (FindingKind::Blocked, Release::Block(found.blocked_error())),
            GuardAction::Redact => (FindingKind::Redacted, Release::Redact(found.marker())),
            GuardAction::Flag => (FindingKind::Flagged, Release::Pass),
        };
        held.state = HeldState::Released(release.clone());
        self.unrecorded.push((kind, found));
        Ok(Some(release))
    }

    /// Folds a recorded finding: it was decided here already, and is now recorded.
    pub(crate) fn on_recorded(&mut self, kind: FindingKind, check: GuardCheck) {
        self.unrecorded
            .retain(|(pending, finding)| !(*pending == kind && finding.check == check));
    }

    /// The questions of `ask` rules waiting for a person.
    pub(crate) fn questions(&self) -> impl Iterator<Item = GuardQuestion> + '_ {
        self.held.iter().filter_map(|held| match &held.state {
            HeldState::Asking(found) => Some(GuardQuestion {
                check: held.check,
                question: format!(
                    "guard `{}` found {} in {}: allow, redact or block it?",
                    found.guard,
                    found.describe(),
                    held.about
                ),
            }),
            HeldState::Waiting | HeldState::Released(_) => None,
        })
    }

    /// Takes a person's answer (`allow`, `redact` or `block`) to the question at `check`.
    pub(crate) fn on_answer(
        &mut self,
        check: GuardCheck,
        input: &Value,
    ) -> Result<Release, ActivityMismatch> {
        let held = self
            .find_mut(check)
            .ok_or(ActivityMismatch::NothingGuarded(check.point.as_str()))?;
        let HeldState::Asking(found) = &held.state else {
            return Err(ActivityMismatch::NothingGuarded(check.point.as_str()));
        };
        let mut found = found.clone();
        found.by_person = true;
        let (kind, release) = match input.as_str() {
            Some("allow") => (FindingKind::Flagged, Release::Pass),
            Some("redact") => (FindingKind::Redacted, Release::Redact(found.marker())),
            Some("block") => (FindingKind::Blocked, Release::Block(found.blocked_error())),
            _ => return Err(ActivityMismatch::GuardAnswer),
        };
        held.state = HeldState::Released(release.clone());
        self.unrecorded.push((kind, found));
        Ok(release)
    }
}

/// Checks a person's answer to a guard's question.
pub(crate) fn check_answer(input: &Value) -> Result<(), String> {
    match input.as_str() {
        Some(answer) if ANSWERS.contains(&answer) => Ok(()),
        _ => Err(format!(
            "a guard's question is answered with \"allow\", \"redact\" or \"block\", not {input}"
        )),
    }
}

/// The error when a guard redacted what must be JSON.
pub(crate) fn redacted_json(marker: &str) -> StepError {
    StepError::new(
        ErrorKind::InvalidInput,
        format!("the reply was redacted ({marker}), and the node's output_schema needs JSON"),
    )
}
