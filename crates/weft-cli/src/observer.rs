//! How `weft run` shows a run: lines and a spinner on a terminal, one JSON event per line
//! with `--json`, plain lines otherwise.

use crate::render::describe;
use indicatif::{ProgressBar, ProgressStyle};
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

/// Prints a line per event on standard error, with a spinner while models think when
/// standard error is a terminal.
pub struct Terminal {
    spinner: Option<ProgressBar>,
    running_calls: Mutex<u32>,
    root: Mutex<Option<RunId>>,
}

impl Terminal {
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
            running_calls: Mutex::new(0),
            root: Mutex::new(None),
        }
    }

    fn print(&self, line: &str) {
        match &self.spinner {
            Some(spinner) => spinner.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// Child runs are indented under their parent.
    fn indent(&self, run: RunId) -> &'static str {
        let Ok(mut root) = self.root.lock() else {
            return "";
        };
        match *root {
            None => {
                *root = Some(run);
                ""
            }
            Some(root) if root == run => "",
            Some(_) => "    | ",
        }
    }

    fn set_calls(&self, change: i32) {
        let Ok(mut calls) = self.running_calls.lock() else {
            return;
        };
        *calls = calls.saturating_add_signed(change);
        if let Some(spinner) = &self.spinner {
            if *calls == 0 {
                spinner.disable_steady_tick();
                spinner.set_message("");
                spinner.tick();
            } else {
                let plural = if *calls == 1 { "call" } else { "calls" };
                spinner.set_message(format!("waiting for the model ({calls} {plural})"));
                spinner.enable_steady_tick(Duration::from_millis(80));
            }
        }
    }

    /// Removes the spinner before the final output.
    pub fn finish(&self) {
        if let Some(spinner) = &self.spinner {
            spinner.finish_and_clear();
        }
    }
}

impl RunObserver for Terminal {
    fn on_event(&self, run: RunId, record: &EventRecord) {
        if matches!(
            record.event,
            Event::ModelReplied { .. } | Event::ModelFailed { .. }
        ) {
            self.set_calls(-1);
        }
        if let Some(line) = describe(&record.event) {
            let indent = self.indent(run);
            self.print(&format!("{indent}{line}"));
        }
    }

    fn on_model_call(&self, _run: RunId, _step: u64, _branch: Option<u32>) {
        self.set_calls(1);
    }
}
