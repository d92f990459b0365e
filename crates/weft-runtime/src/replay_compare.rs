//! Comparing two replays of one recording (see `replay.rs`): each is read as what it did,
//! in its log's order (the route, what each model call asked, each tool call, how it
//! ended), and the first thing the replay on the original text did that the other did not
//! do the same way is the divergence.

use crate::replay::{CallKey, Place, RecordedRun};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use weft_core::{Event, status_after};

/// A replay's logs (the replayed run and its sub-workflow runs) and what its model calls
/// asked.
#[derive(Debug)]
pub(crate) struct Played {
    pub(crate) logs: RecordedRun,
    pub(crate) requests: HashMap<(Place, CallKey), VecDeque<Value>>,
}

/// What a replay found.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    /// Steps the original text took (sub-workflows' included).
    pub steps: usize,
    /// Model calls it made.
    pub model_calls: usize,
    /// Tool calls it made.
    pub tool_calls: usize,
    /// Where the changed workflow first did something else; `None`: it did the same.
    pub divergence: Option<Divergence>,
}

/// The first place where the changed workflow did something else.
#[derive(Debug, Clone, Serialize)]
pub struct Divergence {
    /// What differs.
    pub kind: DivergenceKind,
    /// The sub-workflow run it happened in: the (step, branch) of each start on the way
    /// down; empty for the run itself.
    pub place: Place,
    /// The step, when it is a step's doing.
    pub step: Option<u64>,
    /// That step's node in the original.
    pub node: Option<String>,
    /// In words.
    pub detail: String,
    /// What the original did there (`None`: nothing).
    pub expected: Option<Value>,
    /// What the changed workflow did (`None`: nothing).
    pub found: Option<Value>,
}

/// What differs at a divergence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DivergenceKind {
    /// Another node ran at this step.
    Route,
    /// A model was asked something else.
    Prompt,
    /// A tool was called with another name or other arguments.
    ToolCall,
    /// The run ended otherwise (status, output or error).
    Outcome,
}

/// One thing a replay did, by where it happened.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Seen {
    Route(Place, u64),
    Prompt(Place, CallKey, usize),
    ToolCall(Place, (u64, Option<u32>, u32, u32), usize),
    End(Place),
}

impl Seen {
    fn kind(&self) -> DivergenceKind {
        match self {
            Self::Route(..) => DivergenceKind::Route,
            Self::Prompt(..) => DivergenceKind::Prompt,
            Self::ToolCall(..) => DivergenceKind::ToolCall,
            Self::End(..) => DivergenceKind::Outcome,
        }
    }

    fn place(&self) -> &Place {
        match self {
            Self::Route(place, _)
            | Self::Prompt(place, ..)
            | Self::ToolCall(place, ..)
            | Self::End(place) => place,
        }
    }

    fn step(&self) -> Option<u64> {
        match self {
            Self::Route(_, step) => Some(*step),
            Self::Prompt(_, (step, ..), _) | Self::ToolCall(_, (step, ..), _) => Some(*step),
            Self::End(_) => None,
        }
    }
}

/// What a replay did, in order, and the node of each step.
#[derive(Default)]
struct Observed {
    seen: Vec<(Seen, Value)>,
    nodes: HashMap<(Place, u64), String>,
}

/// Compares the replay on the original text with the one on the changed workflow.
pub(crate) fn compare(before: Played, after: Played) -> ReplayReport {
    let expected = observe(before);
    let found = observe(after);
    let count = |kind: DivergenceKind| {
        expected
            .seen
            .iter()
            .filter(|(seen, _)| seen.kind() == kind)
            .count()
    };
    let found_by_key: HashMap<&Seen, &Value> = found
        .seen
        .iter()
        .map(|(seen, value)| (seen, value))
        .collect();
    let expected_keys: std::collections::HashSet<&Seen> =
        expected.seen.iter().map(|(seen, _)| seen).collect();
    let mut divergence = None;
    for (seen, value) in &expected.seen {
        let other = found_by_key.get(seen).copied();
        if other != Some(value) {
            divergence = Some(diverged(seen, Some(value), other, &expected, &found));
            break;
        }
    }
    if divergence.is_none()
        && let Some((seen, value)) = found
            .seen
            .iter()
            .find(|(seen, _)| !expected_keys.contains(seen))
    {
        divergence = Some(diverged(seen, None, Some(value), &expected, &found));
    }
    ReplayReport {
        steps: count(DivergenceKind::Route),
        model_calls: count(DivergenceKind::Prompt),
        tool_calls: count(DivergenceKind::ToolCall),
        divergence,
    }
}

fn diverged(
    seen: &Seen,
    expected: Option<&Value>,
    found: Option<&Value>,
    before: &Observed,
    after: &Observed,
) -> Divergence {
    let place = seen.place().clone();
    let step = seen.step();
    let node = step.and_then(|step| {
        let key = (place.clone(), step);
        before
            .nodes
            .get(&key)
            .or_else(|| after.nodes.get(&key))
            .cloned()
    });
    Divergence {
        kind: seen.kind(),
        detail: describe(seen.kind(), expected, found),
        place,
        step,
        node,
        expected: expected.cloned(),
        found: found.cloned(),
    }
}

/// The difference in words.
fn describe(kind: DivergenceKind, expected: Option<&Value>, found: Option<&Value>) -> String {
    let (expected, found) = match (expected, found) {
        (Some(expected), Some(found)) => (expected, found),
        (Some(_), None) => return format!("the changed workflow makes no {} here", noun(kind)),
        (None, Some(_)) => {
            return format!(
                "the changed workflow makes a {} the original did not",
                noun(kind)
            );
        }
        (None, None) => return String::new(),
    };
    match kind {
        DivergenceKind::Route => format!(
            "node {} runs instead of {}",
            expected_text(&found["node"]),
            expected_text(&expected["node"])
        ),
        DivergenceKind::Prompt => prompt_difference(expected, found),
        DivergenceKind::ToolCall => format!(
            "the call is {} {} instead of {} {}",
            expected_text(&found["name"]),
            found["arguments"],
            expected_text(&expected["name"]),
            expected["arguments"]
        ),
        DivergenceKind::Outcome => format!("the run ends {found} instead of {expected}"),
    }
}

fn noun(kind: DivergenceKind) -> &'static str {
    match kind {
        DivergenceKind::Route => "step",
        DivergenceKind::Prompt => "model call",
        DivergenceKind::ToolCall => "tool call",
        DivergenceKind::Outcome => "end",
    }
}

fn expected_text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), |text| format!("`{text}`"))
}

/// The first message that differs, or the part of the request that does.
fn prompt_difference(expected: &Value, found: &Value) -> String {
    let empty = Vec::new();
    let before = expected["messages"].as_array().unwrap_or(&empty);
    let after = found["messages"].as_array().unwrap_or(&empty);
    for index in 0..before.len().max(after.len()) {
        match (before.get(index), after.get(index)) {
            (Some(old), Some(new)) if old == new => {}
            (Some(old), Some(new)) => {
                return format!(
                    "message {index} ({}) is {} instead of {}",
                    old["role"].as_str().unwrap_or("?"),
                    new["content"],
                    old["content"]
                );
            }
            (Some(_), None) => return format!("message {index} is missing"),
            (None, Some(new)) => return format!("message {index} is new: {}", new["content"]),
            (None, None) => {}
        }
    }
    for part in ["tools", "output_schema", "tool_choice", "model"] {
        if expected[part] != found[part] {
            return format!("`{part}` is {} instead of {}", found[part], expected[part]);
        }
    }
    "the request differs".to_owned()
}

/// What a replay did, walking each sub-workflow run where it started.
fn observe(played: Played) -> Observed {
    let mut observed = Observed::default();
    let mut requests = played.requests;
    walk(&played.logs, Place::new(), &mut requests, &mut observed);
    observed
}

fn walk(
    logs: &RecordedRun,
    place: Place,
    requests: &mut HashMap<(Place, CallKey), VecDeque<Value>>,
    observed: &mut Observed,
) {
    let mut times: HashMap<Seen, usize> = HashMap::new();
    let mut nth = |seen: Seen| {
        let count = times.entry(seen).or_default();
        *count += 1;
        *count - 1
    };
    let mut status = None;
    for record in &logs.log {
        if let Some(set) = status_after(&record.event) {
            status = Some((set.0, record.event.clone()));
        }
        match &record.event {
            Event::StepStarted {
                step, node, kind, ..
            } => {
                observed.nodes.insert((place.clone(), *step), node.clone());
                let value = json!({"node": node, "kind": kind});
                observed
                    .seen
                    .push((Seen::Route(place.clone(), *step), value));
            }
            Event::ModelReplied {
                step, branch, turn, ..
            }
            | Event::ModelFailed {
                step, branch, turn, ..
            } => {
                let key = (*step, *branch, *turn);
                let asked = requests
                    .get_mut(&(place.clone(), key))
                    .and_then(VecDeque::pop_front)
                    .unwrap_or(Value::Null);
                let index = nth(Seen::Prompt(place.clone(), key, 0));
                observed
                    .seen
                    .push((Seen::Prompt(place.clone(), key, index), asked));
            }
            Event::ToolCallStarted {
                step,
                branch,
                turn,
                index,
                call,
            } => {
                let key = (*step, *branch, *turn, *index);
                let count = nth(Seen::ToolCall(place.clone(), key, 0));
                let value = json!({"name": call.name, "arguments": call.arguments});
                observed
                    .seen
                    .push((Seen::ToolCall(place.clone(), key, count), value));
            }
            Event::ChildStarted { step, branch, .. } => {
                if let Some(child) = logs.children.get(&(*step, *branch)) {
                    let mut below = place.clone();
                    below.push((*step, *branch));
                    walk(child, below, requests, observed);
                }
            }
            _ => {}
        }
    }
    let end = match status {
        Some((status, Event::RunFinished { output })) => {
            json!({"status": status.as_str(), "output": output})
        }
        Some((status, Event::RunFailed { error, .. })) => {
            json!({"status": status.as_str(), "error": error.message})
        }
        Some((status, _)) => json!({"status": status.as_str()}),
        None => Value::Null,
    };
    observed.seen.push((Seen::End(place), end));
}
