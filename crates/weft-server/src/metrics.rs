//! The daemon's counters, written in the Prometheus text format at `/metrics`. Runs by status
//! and the queue's depth are read from the store when asked (they are the database's, not
//! this daemon's); the rest counts what this daemon did.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use weft_core::{Event, EventRecord, QueueDepth, RunId, ToolOutcome};
use weft_runtime::RunObserver;

/// The upper bounds of the step latency histogram, in seconds.
const STEP_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 120.0,
];

/// A tool call's place: run, step, branch, turn, index.
type CallPlace = (RunId, u64, Option<u32>, u32, u32);

/// What this daemon counted.
#[derive(Debug, Default)]
pub struct Metrics {
    steps: AtomicU64,
    model_input_tokens: AtomicU64,
    model_output_tokens: AtomicU64,
    lease_losses: AtomicU64,
    runs_claimed: AtomicU64,
    runs_handed: AtomicU64,
    step_buckets: [AtomicU64; STEP_BUCKETS.len()],
    step_seconds_millis: AtomicU64,
    /// What guards did, by guard, point and outcome (`checked`, `failed`, `blocked`,
    /// `redacted`, `flagged`).
    guards: Mutex<BTreeMap<(String, &'static str, &'static str), u64>>,
    /// Tool calls by tool and outcome (`ok`, `error`).
    tool_calls: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// When each step of a run now running started (ms), by run and step.
    step_started: Mutex<BTreeMap<(RunId, u64), u64>>,
    /// The tool of each call in flight, by run and the call's place.
    calls_in_flight: Mutex<BTreeMap<CallPlace, String>>,
}

impl Metrics {
    /// Steps this daemon's runs finished (or failed), each committed.
    pub fn steps(&self) -> u64 {
        self.steps.load(Ordering::Relaxed)
    }

    /// A lease was lost.
    pub fn lease_lost(&self, count: u64) {
        self.lease_losses.fetch_add(count, Ordering::Relaxed);
    }

    /// Runs were claimed.
    pub fn claimed(&self, count: u64) {
        self.runs_claimed.fetch_add(count, Ordering::Relaxed);
    }

    /// A request handed a run to one of this daemon's workers.
    pub fn handed(&self) {
        self.runs_handed.fetch_add(1, Ordering::Relaxed);
    }

    /// Runs this daemon claimed from the store's queue.
    pub fn claims(&self) -> u64 {
        self.runs_claimed.load(Ordering::Relaxed)
    }

    /// Runs this daemon's requests handed to its own workers.
    pub fn handovers(&self) -> u64 {
        self.runs_handed.load(Ordering::Relaxed)
    }

    fn step_took(&self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        for (bucket, bound) in self.step_buckets.iter().zip(STEP_BUCKETS) {
            if seconds <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.steps.fetch_add(1, Ordering::Relaxed);
        self.step_seconds_millis
            .fetch_add(duration.as_millis() as u64, Ordering::Relaxed);
    }

    /// The text of `/metrics`, with the store's counts.
    pub fn render(&self, runs: &BTreeMap<String, u64>, depth: QueueDepth) -> String {
        let mut text = String::new();
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        header(
            &mut text,
            "weft_runs",
            "Runs in the store, by status.",
            "gauge",
        );
        for (status, count) in runs {
            let _ = writeln!(text, "weft_runs{{status=\"{status}\"}} {count}");
        }
        let gauges = [
            (
                "weft_queue_depth",
                "Served runs waiting for a worker.",
                "gauge",
                depth.waiting,
            ),
            (
                "weft_runs_leased",
                "Served runs a worker holds.",
                "gauge",
                depth.leased,
            ),
            (
                "weft_runs_claimed_total",
                "Runs this daemon claimed.",
                "counter",
                load(&self.runs_claimed),
            ),
            (
                "weft_runs_handed_total",
                "Runs this daemon's requests handed to its own workers.",
                "counter",
                load(&self.runs_handed),
            ),
            (
                "weft_lease_losses_total",
                "Leases this daemon lost to another.",
                "counter",
                load(&self.lease_losses),
            ),
        ];
        for (name, help, kind, value) in gauges {
            header(&mut text, name, help, kind);
            let _ = writeln!(text, "{name} {value}");
        }
        header(
            &mut text,
            "weft_model_tokens_total",
            "Model tokens of this daemon's runs.",
            "counter",
        );
        let _ = writeln!(
            text,
            "weft_model_tokens_total{{direction=\"input\"}} {}",
            load(&self.model_input_tokens)
        );
        let _ = writeln!(
            text,
            "weft_model_tokens_total{{direction=\"output\"}} {}",
            load(&self.model_output_tokens)
        );
        self.render_tool_calls(&mut text);
        self.render_guards(&mut text);
        self.render_steps(&mut text);
        text
    }

    fn render_tool_calls(&self, text: &mut String) {
        header(
            text,
            "weft_tool_calls_total",
            "Tool calls, by tool and outcome.",
            "counter",
        );
        let calls = self
            .tool_calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for ((tool, outcome), count) in calls.iter() {
            let _ = writeln!(
                text,
                "weft_tool_calls_total{{tool=\"{}\",outcome=\"{outcome}\"}} {count}",
                escape(tool)
            );
        }
    }

    fn render_guards(&self, text: &mut String) {
        header(
            text,
            "weft_guard_events_total",
            "Texts guards judged (checked, failed) and what followed (blocked, redacted, flagged), by guard and point.",
            "counter",
        );
        let guards = self.guards.lock().unwrap_or_else(PoisonError::into_inner);
        for ((guard, point, outcome), count) in guards.iter() {
            let _ = writeln!(
                text,
                "weft_guard_events_total{{guard=\"{}\",point=\"{point}\",outcome=\"{outcome}\"}} {count}",
                escape(guard)
            );
        }
    }

    /// Counts a guard's event.
    fn guard_event(&self, guard: &str, point: weft_core::GuardPoint, outcome: &'static str) {
        *self
            .guards
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((guard.to_owned(), point.as_str(), outcome))
            .or_default() += 1;
    }

    fn render_steps(&self, text: &mut String) {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        header(
            text,
            "weft_step_seconds",
            "How long steps took.",
            "histogram",
        );
        for (bucket, bound) in self.step_buckets.iter().zip(STEP_BUCKETS) {
            let _ = writeln!(
                text,
                "weft_step_seconds_bucket{{le=\"{bound}\"}} {}",
                load(bucket)
            );
        }
        let steps = load(&self.steps);
        let _ = writeln!(text, "weft_step_seconds_bucket{{le=\"+Inf\"}} {steps}");
        let _ = writeln!(
            text,
            "weft_step_seconds_sum {}",
            load(&self.step_seconds_millis) as f64 / 1000.0
        );
        let _ = writeln!(text, "weft_step_seconds_count {steps}");
    }

    /// A tool call started: its tool is remembered until it finishes.
    fn call_started(&self, place: CallPlace, tool: &str) {
        self.calls_in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(place, tool.to_owned());
    }

    /// A tool call finished: counted by its tool and outcome.
    fn call_finished(&self, place: CallPlace, outcome: &ToolOutcome) {
        let outcome = match outcome {
            ToolOutcome::Ok { .. } => "ok",
            ToolOutcome::Error { .. } => "error",
        };
        let tool = self
            .calls_in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&place)
            .unwrap_or_else(|| "unknown".to_owned());
        *self
            .tool_calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((tool, outcome))
            .or_default() += 1;
    }

    /// A step started or ended.
    fn step_event(&self, run: RunId, step: u64, at_millis: u64, started: bool) {
        let mut steps = self
            .step_started
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if started {
            steps.insert((run, step), at_millis);
        } else if let Some(began) = steps.remove(&(run, step)) {
            drop(steps);
            self.step_took(Duration::from_millis(at_millis.saturating_sub(began)));
        }
    }
}

/// A metric's `# HELP` and `# TYPE` lines.
fn header(text: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value with its quotes and backslashes escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl RunObserver for Metrics {
    fn on_event(&self, run: RunId, record: &EventRecord) {
        match &record.event {
            Event::StepStarted { step, .. } => self.step_event(run, *step, record.at_millis, true),
            Event::StepFinished { step, .. } | Event::StepFailed { step, .. } => {
                self.step_event(run, *step, record.at_millis, false);
            }
            Event::ModelReplied { reply, .. } => {
                if let Some(usage) = &reply.usage {
                    self.model_input_tokens
                        .fetch_add(u64::from(usage.prompt_tokens), Ordering::Relaxed);
                    self.model_output_tokens
                        .fetch_add(u64::from(usage.completion_tokens), Ordering::Relaxed);
                }
            }
            Event::ToolCallStarted {
                step,
                branch,
                turn,
                index,
                call,
            } => self.call_started((run, *step, *branch, *turn, *index), &call.name),
            Event::ToolCallFinished {
                step,
                branch,
                turn,
                index,
                outcome,
            } => self.call_finished((run, *step, *branch, *turn, *index), outcome),
            Event::GuardChecked(checked) => {
                let outcome = match checked.outcome {
                    weft_core::GuardOutcome::Verdict { .. } => "checked",
                    weft_core::GuardOutcome::Error { .. } => "failed",
                };
                self.guard_event(&checked.guard, checked.check.point, outcome);
            }
            Event::GuardBlocked(found) => {
                self.guard_event(&found.guard, found.check.point, "blocked")
            }
            Event::GuardRedacted(found) => {
                self.guard_event(&found.guard, found.check.point, "redacted")
            }
            Event::GuardFlagged(found) => {
                self.guard_event(&found.guard, found.check.point, "flagged")
            }
            Event::RunStarted { .. }
            | Event::ModelFailed { .. }
            | Event::ChildStarted { .. }
            | Event::ChildFinished { .. }
            | Event::ChildFailed { .. }
            | Event::ChildInterrupted { .. }
            | Event::StateChanged { .. }
            | Event::Interrupted { .. }
            | Event::Resumed { .. }
            | Event::AttentionNeeded { .. }
            | Event::Retried { .. }
            | Event::RunFinished { .. }
            | Event::RunFailed { .. }
            | Event::RunCancelled { .. }
            | Event::Remembered { .. }
            | Event::Compacted { .. }
            | Event::WorkflowUpgraded { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_core::{
        GuardCheck, GuardChecked, GuardFinding, GuardOutcome, GuardPoint, LabelScore, Verdict,
    };

    fn record(event: Event) -> EventRecord {
        EventRecord {
            sequence: 1,
            at_millis: 0,
            event,
        }
    }

    #[test]
    fn guard_verdicts_and_findings_are_counted_by_guard_point_and_outcome() {
        let metrics = Metrics::default();
        let run = RunId::new();
        let check = GuardCheck {
            point: GuardPoint::ToolResults,
            turn: 0,
            index: 0,
        };
        let verdict = Verdict {
            scores: vec![LabelScore {
                label: "INJECTION".into(),
                score: 0.97,
                harmful: true,
            }],
            categories: Vec::new(),
            threshold: 0.9,
        };
        for _ in 0..2 {
            metrics.on_event(
                run,
                &record(Event::GuardChecked(Box::new(GuardChecked {
                    step: 1,
                    branch: None,
                    check,
                    guard: "prompt".into(),
                    outcome: GuardOutcome::Verdict {
                        verdict: verdict.clone(),
                    },
                }))),
            );
        }
        metrics.on_event(
            run,
            &record(Event::GuardBlocked(Box::new(GuardFinding {
                step: 1,
                branch: None,
                check,
                guard: "prompt".into(),
                label: "INJECTION".into(),
                score: 0.97,
                categories: Vec::new(),
                by_person: false,
            }))),
        );
        let text = metrics.render(&BTreeMap::new(), QueueDepth::default());
        assert!(
            text.contains(
                "weft_guard_events_total{guard=\"prompt\",point=\"tool_results\",outcome=\"checked\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "weft_guard_events_total{guard=\"prompt\",point=\"tool_results\",outcome=\"blocked\"} 1"
            ),
            "{text}"
        );
    }
}
