//! Context assembly: the messages one model call is given, a pure function of the node's
//! own messages, a session's view and the budget.
//!
//! The budget is the model's window less the reply's tokens and a margin. What goes in, by
//! priority: the system prompt and the newest user message (never left out: if they alone
//! pass the budget the call fails, naming the sizes), the pinned facts (the oldest left out
//! only when they alone would not fit), the summaries of older history (at most
//! [`SUMMARY_SHARE`] of the budget), the archival snippets (at most [`SNIPPET_SHARE`]), then
//! as many of the newest messages as fit: the current step's own tool turns first, then
//! the session's history. A tool call and its results are kept or left out together; a
//! result too large is cut, with a note saying how to read the rest.

mod blocks;
mod plan;
mod types;
mod units;

pub use types::{AssemblyError, Context, Limits, SNIPPET_SHARE, SUMMARY_SHARE, Turn};

use plan::Plan;
use types::{part, sum};
use units::{Counted, Unit};
use weft_core::{ContextReport, Message, PartReport, Role, SessionView, TokenCounter};

/// Builds the context of one call. `view` is the session's (an empty view for a run
/// without a session); `compact_at` is the share of the budget, in percent, past which the
/// report says the session is due for compaction.
pub fn assemble(
    turn: Turn<'_>,
    view: &SessionView,
    limits: Limits,
    compact_at: u32,
    counter: &dyn TokenCounter,
) -> Result<Context, AssemblyError> {
    let budget = limits.budget(counter.accuracy());
    let mut plan = Plan::new(counter, limits, budget);
    let (head, prompt, tail) = split_turn(turn.messages);
    plan.frame = frame_tokens(turn, head, counter);
    let head = count_all(head, counter);
    let prompt = count_all(prompt, counter);
    plan.report.system = sum(&head);
    plan.report.current = part(&prompt);
    let needed = plan.frame + plan.report.system + plan.report.current.tokens;
    if needed > budget {
        return Err(AssemblyError::TooLarge {
            system: plan.report.system,
            prompt: plan.report.current.tokens,
            frame: plan.frame,
            needed,
            budget,
            window: limits.window,
            reply: limits.reply,
        });
    }
    plan.used = needed;
    plan.add_pins(view);
    plan.add_summaries(view);
    plan.add_snippets(view);
    let history_tokens = plan.count_history(view);
    let pressure = history_tokens
        .iter()
        .fold(plan.summary_total, |total, tokens| {
            total.saturating_add(*tokens)
        });
    let tail = count_all(tail, counter);
    let current_units =
        units::newest_first(tail.len(), |index| &tail[index].message).map(|indices| Unit {
            messages: indices
                .into_iter()
                .map(|index| tail[index].clone())
                .collect(),
        });
    let kept_current = plan.fill(current_units, true);
    let history_units =
        units::newest_first(view.messages.len(), |index| &view.messages[index].message).map(
            |indices| Unit {
                messages: indices
                    .into_iter()
                    .map(|index| Counted {
                        message: view.messages[index].message.clone(),
                        tokens: history_tokens[index],
                        sequence: Some(view.messages[index].sequence),
                    })
                    .collect(),
            },
        );
    let kept_history = plan.fill(history_units, false);
    let sent: u64 = kept_history
        .iter()
        .map(|unit| unit.messages.len() as u64)
        .sum();
    plan.report.history_left_out = view.omitted + (view.messages.len() as u64).saturating_sub(sent);
    plan.report.compaction_due =
        view.omitted > 0 || u64::from(pressure) * 100 > u64::from(budget) * u64::from(compact_at);
    Ok(plan.finish(head, prompt, kept_history, kept_current))
}

/// The report of a call that sends its own messages as they are, when there is no session
/// to add (`view` is empty) and all of them fit: the caller keeps its messages, so nothing
/// is copied. `None` otherwise, and [`assemble`] builds the context. The report is the one
/// [`assemble`] would give, boxed where it is made (a model call's event keeps it boxed).
pub fn whole_turn(
    turn: Turn<'_>,
    view: &SessionView,
    limits: Limits,
    counter: &dyn TokenCounter,
) -> Option<Box<ContextReport>> {
    if !view.is_empty() {
        return None;
    }
    let budget = limits.budget(counter.accuracy());
    let (head, prompt, tail) = split_turn(turn.messages);
    let frame = frame_tokens(turn, head, counter);
    let tokens = |messages: &[Message]| {
        messages
            .iter()
            .map(|message| counter.message(message))
            .fold(0, u32::saturating_add)
    };
    let system = tokens(head);
    let current = tokens(prompt).saturating_add(tokens(tail));
    let used = frame.saturating_add(system).saturating_add(current);
    if used > budget {
        return None;
    }
    let mut report = Box::new(ContextReport::empty(
        counter.shared_key(),
        counter.accuracy(),
        limits.window,
        budget,
    ));
    report.frame = frame;
    report.system = system;
    report.used = used;
    report.current = PartReport {
        count: u32::try_from(prompt.len() + tail.len()).unwrap_or(u32::MAX),
        tokens: current,
    };
    Some(report)
}

/// The system message a prompt format writes when there is none, made once.
static EMPTY_SYSTEM: std::sync::LazyLock<Message> =
    std::sync::LazyLock::new(|| Message::system(""));

/// The tokens of the prompt format and the tool definitions. A prompt format writes a
/// system message even when there is none; memory's own system messages may take its
/// place, but its cost is kept either way.
fn frame_tokens(turn: Turn<'_>, head: &[Message], counter: &dyn TokenCounter) -> u32 {
    let empty_system = if head.is_empty() {
        counter.message(&EMPTY_SYSTEM)
    } else {
        0
    };
    counter.frame(turn.tools).saturating_add(empty_system)
}

/// Splits the step's messages: its leading system messages, its prompt (up to its last
/// user message) and its own turns after that.
fn split_turn(messages: &[Message]) -> (&[Message], &[Message], &[Message]) {
    let system_end = messages
        .iter()
        .position(|message| message.role != Role::System)
        .unwrap_or(messages.len());
    let (head, rest) = messages.split_at(system_end);
    let prompt_end = rest
        .iter()
        .rposition(|message| message.role == Role::User)
        .map_or(0, |last| last + 1);
    let (prompt, tail) = rest.split_at(prompt_end);
    (head, prompt, tail)
}

fn count_all(messages: &[Message], counter: &dyn TokenCounter) -> Vec<Counted> {
    messages
        .iter()
        .map(|message| Counted {
            tokens: counter.message(message),
            message: message.clone(),
            sequence: None,
        })
        .collect()
}
