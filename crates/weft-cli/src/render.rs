//! One human-readable line per event, for the terminal and `weft runs events`.

use serde_json::Value;
use weft_core::{Event, ModelReply, StateDelta, ToolCall, ToolOutcome, WriteOp};

const PREVIEW: usize = 100;

/// The line for an event, or `None` for events not worth a line of their own.
pub fn describe(event: &Event) -> Option<String> {
    Some(match event {
        Event::RunStarted {
            workflow, input, ..
        } => match input {
            Value::Null => format!("run `{workflow}` started"),
            input => format!(
                "run `{workflow}` started with input {}",
                preview_json(input)
            ),
        },
        Event::StepStarted {
            step,
            node,
            kind,
            within,
        } => step_line(*step, node, *kind, within.as_ref()),
        Event::ModelReplied { branch, reply, .. } => reply_line(*branch, reply),
        Event::ModelFailed { branch, error, .. } => {
            format!("{}model failed: {}", branch_prefix(*branch), error.message)
        }
        Event::ToolCallStarted { branch, call, .. } => format!(
            "{}tool {}({})",
            branch_prefix(*branch),
            call.name,
            preview_json(&call.arguments)
        ),
        Event::ToolCallFinished {
            branch, outcome, ..
        } => outcome_line(*branch, outcome),
        Event::ChildStarted { .. }
        | Event::ChildFinished { .. }
        | Event::ChildFailed { .. }
        | Event::ChildInterrupted { .. } => child_line(event)?,
        Event::StateChanged { delta, .. } => describe_delta(delta),
        Event::StepFinished { next, .. } => format!("  -> {}", next.as_ref()?),
        Event::StepFailed { node, error, .. } => {
            format!(
                "step failed at `{node}` ({}): {}",
                error.kind, error.message
            )
        }
        Event::Interrupted {
            node, question, id, ..
        } => waiting_line(node, question, id.as_deref()),
        Event::AttentionNeeded { calls, .. } => {
            let tools: Vec<&str> = calls.iter().map(|call| call.tool.as_str()).collect();
            format!(
                "needs attention: unfinished call(s) to {} that are not idempotent",
                tools.join(", ")
            )
        }
        Event::Retried { calls } => format!("retrying {} unfinished tool call(s)", calls.len()),
        Event::Resumed { input, .. } => format!("answered: {}", preview_json(input)),
        Event::RunFinished { .. } => return None,
        Event::RunFailed { error, .. } => format!("run failed ({}): {}", error.kind, error.message),
        Event::RunCancelled { reason } => format!("run cancelled: {reason}"),
        Event::Remembered { .. } | Event::Compacted { .. } => describe_memory(event),
        Event::GuardChecked(checked) => guard_checked_line(checked),
        Event::GuardBlocked(found) => finding_line("blocked", found),
        Event::GuardRedacted(found) => finding_line("redacted", found),
        Event::GuardFlagged(found) => finding_line("flagged", found),
        Event::WorkflowUpgraded { files } => format!(
            "moved onto the workflow files as they are now: {}",
            files.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
    })
}

/// A guard's verdict: the worst harmful label it scored.
fn guard_checked_line(checked: &weft_core::GuardChecked) -> String {
    let prefix = branch_prefix(checked.branch);
    let point = point_name(checked.check);
    match &checked.outcome {
        weft_core::GuardOutcome::Verdict { verdict } => {
            let worst = match verdict.worst(&[]) {
                Some(score) if score.score >= verdict.threshold => {
                    format!("{} {:.2}", score.label, score.score)
                }
                Some(score) => format!(
                    "nothing found (the highest: {} {:.2})",
                    score.label, score.score
                ),
                None => "nothing found".to_owned(),
            };
            let categories = if verdict.categories.is_empty() {
                String::new()
            } else {
                format!(" ({})", verdict.categories.join(", "))
            };
            format!(
                "{prefix}guard `{}` on {point}: {worst}{categories}",
                checked.guard
            )
        }
        weft_core::GuardOutcome::Error { error } => format!(
            "{prefix}guard `{}` on {point} failed: {}",
            checked.guard, error.message
        ),
    }
}

/// What followed a guard's finding.
fn finding_line(action: &str, found: &weft_core::GuardFinding) -> String {
    let by = if found.by_person { " by a person" } else { "" };
    format!(
        "{}{} {action}{by}: {}",
        branch_prefix(found.branch),
        point_name(found.check),
        found.describe()
    )
}

/// The guarded text: its point, with the call's or snippet's position where a turn has
/// several (`tool_results[1]`).
fn point_name(check: weft_core::GuardCheck) -> String {
    match check.point {
        weft_core::GuardPoint::ToolResults | weft_core::GuardPoint::Retrieved => {
            format!("{}[{}]", check.point.as_str(), check.index)
        }
        weft_core::GuardPoint::Input | weft_core::GuardPoint::Output => {
            check.point.as_str().to_owned()
        }
    }
}

/// A line for an event about the run's session.
fn describe_memory(event: &Event) -> String {
    if let Event::Remembered { messages, .. } = event {
        return format!("{} message(s) added to the session", messages.len());
    }
    if let Event::Compacted { summary } = event {
        return format!(
            "session compacted: messages {} to {} summarized (level {}, by {})",
            summary.first,
            summary.last,
            summary.level,
            summary.by.as_deref().unwrap_or("the extractive fallback")
        );
    }
    event.name().to_owned()
}

/// A model's reply: its text, cut, and the tools it calls.
fn reply_line(branch: Option<u32>, reply: &ModelReply) -> String {
    let mut line = format!("{}model: {}", branch_prefix(branch), preview(&reply.text));
    if let Some(calls) = call_names(&reply.tool_calls) {
        line.push_str(&format!(" [calls {calls}]"));
    }
    line
}

/// A tool call's result or error.
fn outcome_line(branch: Option<u32>, outcome: &ToolOutcome) -> String {
    match outcome {
        ToolOutcome::Ok { output } => {
            format!("{}  -> {}", branch_prefix(branch), preview_json(output))
        }
        ToolOutcome::Error { error } => format!(
            "{}  -> error ({}): {}",
            branch_prefix(branch),
            error.kind,
            error.message
        ),
    }
}

/// What a streamed reply's text did not show: the tools it calls.
pub fn reply_calls(reply: &ModelReply) -> Option<String> {
    call_names(&reply.tool_calls).map(|calls| format!("  [calls {calls}]"))
}

fn call_names(calls: &[ToolCall]) -> Option<String> {
    if calls.is_empty() {
        return None;
    }
    let names: Vec<&str> = calls.iter().map(|call| call.name.as_str()).collect();
    Some(names.join(", "))
}

fn describe_delta(delta: &StateDelta) -> String {
    let writes: Vec<String> = delta
        .writes
        .iter()
        .map(|write| {
            let operator = match write.op {
                WriteOp::Replace => "=",
                WriteOp::Append => "+= [..]",
                WriteOp::Merge => "|=",
                WriteOp::Add => "+=",
            };
            format!("{} {operator} {}", write.field, preview_json(&write.value))
        })
        .collect();
    format!("  state: {}", writes.join("; "))
}

fn branch_prefix(branch: Option<u32>) -> String {
    match branch {
        Some(branch) => format!("  [{branch}] "),
        None => "  ".to_owned(),
    }
}

/// `text` on one line, cut at a readable length.
pub fn preview(text: &str) -> String {
    let single_line = text.replace('\n', " ");
    if single_line.chars().count() > PREVIEW {
        let cut: String = single_line.chars().take(PREVIEW).collect();
        format!("{cut}…")
    } else {
        single_line
    }
}

/// A JSON value on one line, cut at a readable length.
pub fn preview_json(value: &Value) -> String {
    preview(&value.to_string())
}

/// Where a sub-workflow run sits below the run it belongs to, as `(step, branch)` of each
/// start on the way down: ", in the sub-workflow run of step 2 (branch 1), in the
/// sub-workflow run of step 1"; empty for the run itself.
pub fn place_words(place: &[(u64, Option<u32>)]) -> String {
    let mut words = String::new();
    for (step, branch) in place {
        words.push_str(&format!(", in the sub-workflow run of step {step}"));
        if let Some(branch) = branch {
            words.push_str(&format!(" (branch {branch})"));
        }
    }
    words
}

/// A step's start, with the parallel branch it runs in.
fn step_line(
    step: u64,
    node: &str,
    kind: weft_core::NodeKind,
    within: Option<&weft_core::Within>,
) -> String {
    match within {
        None => format!("step {step}: {node} ({kind})"),
        Some(within) => format!(
            "step {step}: {node} ({kind}), branch {} of step {}",
            within.branch, within.step
        ),
    }
}

/// A question asked, named by its id where that is not the node's name.
fn waiting_line(node: &str, question: &str, id: Option<&str>) -> String {
    match id.filter(|id| *id != node) {
        Some(id) => format!("waiting at `{node}` (question `{id}`): {question}"),
        None => format!("waiting at `{node}`: {question}"),
    }
}

/// What a sub-workflow run did.
fn child_line(event: &Event) -> Option<String> {
    Some(match event {
        Event::ChildStarted {
            branch,
            workflow,
            run,
            ..
        } => format!(
            "{}sub-workflow `{workflow}` started (run {run})",
            branch_prefix(*branch)
        ),
        Event::ChildFinished { branch, output, .. } => format!(
            "{}sub-workflow finished: {}",
            branch_prefix(*branch),
            preview_json(output)
        ),
        Event::ChildFailed { branch, error, .. } => format!(
            "{}sub-workflow failed: {}",
            branch_prefix(*branch),
            error.message
        ),
        Event::ChildInterrupted {
            branch, question, ..
        } => format!("{}sub-workflow asks: {question}", branch_prefix(*branch)),
        _ => return None,
    })
}
