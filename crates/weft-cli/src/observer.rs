//! How `weft run` shows a run: on a terminal, a line per event, model text as it streams
//! and a spinner while nothing streams; one JSON event per line with `--json`; plain lines
//! otherwise (a log file, a pipe).

use crate::render::{describe, reply_calls};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;
use weft_core::{Event, EventRecord, RunId};
use weft_runtime::RunObserver;

/// Prints events as JSON lines on standard output.
pub struct JsonLines;

impl RunObserver for JsonLines {
    fn on_event(&self, run: RunId, record: &EventRecord) {
        let line = serde_json::json!({
            "run": run,
            "sequence": record.sequence,
            "at_millis": record.at_millis,
            "event": record.event,
        });
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }
}

/// The model call whose text is on screen as it streams: one at a time, so replies of
/// calls running together (a map's branches) do not interleave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Streaming {
    run: RunId,
    step: u64,
    branch: Option<u32>,
}

/// An answer a guard judges before it is shown.
#[derive(Debug, Default)]
struct HeldReply {
    /// The answer, once the model gave it.
    text: Option<String>,
    /// Whether the guard's verdict is recorded: the next event that is no finding about
    /// it means it passed.
    checked: bool,
}

#[derive(Debug, Default)]
struct State {
    /// Answers held for their guard's verdict, by call.
    held: std::collections::HashMap<Streaming, HeldReply>,
    /// The top-level run; child runs are indented under it.
    root: Option<RunId>,
    /// Model calls in flight.
    calls: u32,
    /// The call whose text streams, with whether its line has text on it yet.
    streaming: Option<(Streaming, bool)>,
}

/// Prints a line per event on standard error; on a terminal also model text as it streams,
/// and a spinner while models think and nothing streams.
pub struct Terminal {
    spinner: Option<ProgressBar>,
    state: Mutex<State>,
}

impl Terminal {
    /// `interactive`: standard error is a terminal (stream text, show a spinner).
    pub fn new(interactive: bool) -> Self {
        let spinner = interactive.then(|| {
            let spinner = ProgressBar::new_spinner();
            let style = ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            spinner.set_style(style);
            spinner
        });
        Self {
            spinner,
            state: Mutex::new(State::default()),
        }
    }

    fn print(&self, line: &str) {
        match &self.spinner {
            Some(spinner) if !spinner.is_hidden() => spinner.println(line),
            _ => eprintln!("{line}"),
        }
    }

    /// Child runs are indented under their parent.
    fn indent(state: &mut State, run: RunId) -> &'static str {
        match state.root {
            None => {
                state.root = Some(run);
                ""
            }
            Some(root) if root == run => "",
            Some(_) => "    | ",
        }
    }

    /// Shows the spinner with what it waits for, or hides it while text streams or
    /// nothing is in flight.
    fn update_spinner(&self, state: &State) {
        let Some(spinner) = &self.spinner else {
            return;
        };
        if state.streaming.is_some() || state.calls == 0 {
            spinner.disable_steady_tick();
            spinner.set_message("");
            spinner.set_draw_target(ProgressDrawTarget::hidden());
            return;
        }
        spinner.set_draw_target(ProgressDrawTarget::stderr());
        let plural = if state.calls == 1 { "call" } else { "calls" };
        spinner.set_message(format!("waiting for the model ({} {plural})", state.calls));
        spinner.enable_steady_tick(Duration::from_millis(80));
    }

    /// Removes the spinner before the final output.
    pub fn finish(&self) {
        if let Some(spinner) = &self.spinner {
            spinner.finish_and_clear();
        }
    }

    /// A model call ended (`reply` when it replied): its streamed line, if it was the one
    /// streaming, is closed, and only what the text did not show is said about it.
    fn model_ended(
        &self,
        state: &mut State,
        call: Streaming,
        reply: Option<&weft_core::ModelReply>,
        event: &Event,
    ) -> Option<String> {
        state.calls = state.calls.saturating_sub(1);
        let Some((_, started)) = state.streaming.filter(|(key, _)| *key == call) else {
            return describe(event);
        };
        state.streaming = None;
        if !started {
            return describe(event);
        }
        eprintln!();
        match reply {
            Some(reply) => reply_calls(reply),
            None => describe(event),
        }
    }
}

impl RunObserver for Terminal {
    fn on_event(&self, run: RunId, record: &EventRecord) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let indent = Self::indent(&mut state, run);
        let event = &record.event;
        for text in released(&mut state, run, event) {
            self.print(&format!(
                "{indent}  model: {}",
                crate::render::preview(&text)
            ));
        }
        let line = if let Some(line) = hold(&mut state, run, event) {
            Some(line)
        } else if let Event::ModelReplied {
            step,
            branch,
            reply,
            ..
        } = event
        {
            let call = Streaming {
                run,
                step: *step,
                branch: *branch,
            };
            self.model_ended(&mut state, call, Some(reply), event)
        } else if let Event::ModelFailed { step, branch, .. } = event {
            let call = Streaming {
                run,
                step: *step,
                branch: *branch,
            };
            self.model_ended(&mut state, call, None, event)
        } else {
            describe(event)
        };
        self.update_spinner(&state);
        if let Some(line) = line {
            self.print(&format!("{indent}{line}"));
        }
    }

    fn on_model_call(&self, _run: RunId, _step: u64, _branch: Option<u32>) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        state.calls += 1;
        self.update_spinner(&state);
    }

    fn on_held_call(&self, run: RunId, step: u64, branch: Option<u32>) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let key = Streaming { run, step, branch };
        state.held.insert(key, HeldReply::default());
    }

    fn on_text_delta(&self, run: RunId, step: u64, branch: Option<u32>, text: &str) {
        if self.spinner.is_none() {
            return;
        }
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let key = Streaming { run, step, branch };
        let started = match state.streaming {
            None => {
                state.streaming = Some((key, false));
                self.update_spinner(&state);
                false
            }
            Some((streaming, started)) if streaming == key => started,
            Some(_) => return,
        };
        let indent = Self::indent(&mut state, run);
        let mut stderr = std::io::stderr().lock();
        if !started {
            let _ = write!(stderr, "{indent}  model: ");
            state.streaming = Some((key, true));
        }
        let _ = write!(stderr, "{text}");
        let _ = stderr.flush();
    }

    fn on_restarted(&self, run: RunId, step: u64, branch: Option<u32>, reason: &str) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let key = Streaming { run, step, branch };
        if let Some((streaming, true)) = state.streaming
            && streaming == key
        {
            let indent = Self::indent(&mut state, run);
            eprintln!("\n{indent}  [withdrawn: the text above is void ({reason}); asking again]");
            state.streaming = Some((key, false));
        }
    }
}

/// Keeps the answer of a held call until its guard's verdict: the line that says so, or
/// `None` for an event that holds nothing.
fn hold(state: &mut State, run: RunId, event: &Event) -> Option<String> {
    let Event::ModelReplied {
        step,
        branch,
        reply,
        ..
    } = event
    else {
        return None;
    };
    let key = Streaming {
        run,
        step: *step,
        branch: *branch,
    };
    let held = state.held.get_mut(&key)?;
    if !reply.tool_calls.is_empty() {
        // Not the answer: a turn that calls tools is shown as usual.
        state.held.remove(&key);
        return None;
    }
    held.text = Some(reply.text.clone());
    state.calls = state.calls.saturating_sub(1);
    Some(format!(
        "{}model: (the answer waits for its guard's verdict)",
        branch
            .map(|branch| format!("  [{branch}] "))
            .unwrap_or_else(|| "  ".into())
    ))
}

/// The held answers `event` releases: a flag, or any event of the run after a verdict
/// that neither blocked nor redacted the answer. Findings that withhold it drop it.
fn released(state: &mut State, run: RunId, event: &Event) -> Vec<String> {
    use weft_core::GuardPoint;
    let output_finding = |found: &weft_core::GuardFinding| {
        (found.check.point == GuardPoint::Output).then_some(Streaming {
            run,
            step: found.step,
            branch: found.branch,
        })
    };
    match event {
        Event::GuardChecked(checked) if checked.check.point == GuardPoint::Output => {
            let key = Streaming {
                run,
                step: checked.step,
                branch: checked.branch,
            };
            if let Some(held) = state.held.get_mut(&key) {
                held.checked = true;
            }
            return Vec::new();
        }
        Event::GuardBlocked(found) | Event::GuardRedacted(found) => {
            if let Some(key) = output_finding(found) {
                state.held.remove(&key);
            }
            return Vec::new();
        }
        Event::Interrupted { .. } | Event::GuardChecked(_) => return Vec::new(),
        _ => {}
    }
    let keys: Vec<Streaming> = state
        .held
        .iter()
        .filter(|(key, held)| key.run == run && held.checked)
        .map(|(key, _)| *key)
        .collect();
    keys.into_iter()
        .filter_map(|key| state.held.remove(&key).and_then(|held| held.text))
        .collect()
}
