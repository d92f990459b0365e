//! The context lines of `weft runs show`: how full the model calls' windows were and what
//! filled them, from the `context` each `ModelReplied` records.

use weft_core::{Accuracy, ContextReport};
use weft_runtime::{CallContext, RunReport};

/// The lines, or none for a run whose calls recorded no context.
pub(super) fn lines(report: &RunReport) -> Vec<String> {
    let Some(last) = report.contexts.last() else {
        return Vec::new();
    };
    let calls = report.contexts.len();
    let mut lines = vec![format!(
        "context   {calls} model call(s); the last, at {}: {}",
        place(last),
        usage(&last.context)
    )];
    let fullest = report
        .contexts
        .iter()
        .max_by_key(|call| fullness(&call.context))
        .unwrap_or(last);
    if fullness(&fullest.context) > fullness(&last.context) {
        lines.push(format!(
            "          the fullest, at {}: {}",
            place(fullest),
            usage(&fullest.context)
        ));
    }
    lines.push(format!("          {}", parts(&last.context)));
    for cut in &last.context.cut {
        lines.push(format!(
            "          tool result {} cut from {} to {} tokens (the rest through memory_read)",
            cut.tool_call_id, cut.tokens, cut.kept
        ));
    }
    if last.context.compaction_due {
        lines.push("          compaction is due before the next call".to_owned());
    }
    if report.compactions > 0 {
        lines.push(format!(
            "          compaction wrote {} summar{} during this run",
            report.compactions,
            if report.compactions == 1 { "y" } else { "ies" }
        ));
    }
    lines
}

/// Used budget in thousandths, to find the fullest call.
fn fullness(context: &ContextReport) -> u64 {
    u64::from(context.used) * 1_000 / u64::from(context.budget.max(1))
}

/// Where a call was made.
fn place(call: &CallContext) -> String {
    let branch = call
        .branch
        .map(|branch| format!(", branch {branch}"))
        .unwrap_or_default();
    format!(
        "step {} `{}`{branch}, call {}",
        call.step,
        call.node,
        call.turn + 1
    )
}

/// How full the window was.
fn usage(context: &ContextReport) -> String {
    let counted = match context.accuracy {
        Accuracy::Exact => format!("counted by {}", context.tokenizer),
        Accuracy::Estimate => "estimated".to_owned(),
    };
    format!(
        "{} of {} prompt tokens ({}%; window {}, {counted})",
        context.used,
        context.budget,
        fullness(context) / 10,
        context.window
    )
}

/// What filled it.
fn parts(context: &ContextReport) -> String {
    let mut parts = vec![
        format!("format and tools {}", context.frame),
        format!("system {}", context.system),
    ];
    if context.pins.count > 0 || !context.pins_left_out.is_empty() {
        let left_out = match context.pins_left_out.len() {
            0 => String::new(),
            count => format!(", {count} left out"),
        };
        parts.push(format!(
            "{} pin(s) {}{left_out}",
            context.pins.count, context.pins.tokens
        ));
    }
    if !context.summaries.is_empty() {
        parts.push(format!(
            "{} summar{} {}",
            context.summaries.len(),
            if context.summaries.len() == 1 {
                "y"
            } else {
                "ies"
            },
            context.summary_tokens
        ));
    }
    if !context.snippets.is_empty() {
        parts.push(format!(
            "snippets {} {}",
            context.snippets.join(","),
            context.snippet_tokens
        ));
    }
    parts.push(history(context));
    parts.push(format!(
        "this step {} message(s) {}{}",
        context.current.count,
        context.current.tokens,
        match context.current_left_out {
            0 => String::new(),
            count => format!(" ({count} earlier left out)"),
        }
    ));
    parts.join(" · ")
}

/// The session history part.
fn history(context: &ContextReport) -> String {
    let range = context
        .history
        .map(|(first, last)| format!(" m{first}–m{last}"))
        .unwrap_or_default();
    let left_out = match context.history_left_out {
        0 => String::new(),
        count => format!(", {count} older not sent"),
    };
    format!(
        "history {} message(s){range} {}{left_out}",
        context.history_part.count, context.history_part.tokens
    )
}
