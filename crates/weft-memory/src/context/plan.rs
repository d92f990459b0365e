//! The assembly in progress: what is in, what it costs, what is left.

use super::blocks;
use super::types::{Context, Limits, SNIPPET_SHARE, SUMMARY_SHARE, part, sum};
use super::units::{self, Counted, Unit};
use weft_core::{ContextReport, CutResult, Message, PartReport, SessionView, TokenCounter};

pub(super) struct Plan<'a> {
    counter: &'a dyn TokenCounter,
    budget: u32,
    pub used: u32,
    pub frame: u32,
    /// Set once a unit did not fit: nothing older goes in.
    pub full: bool,
    pub report: ContextReport,
    /// The tokens of every summary of the view, sent or not.
    pub summary_total: u32,
    pins: Option<Message>,
    summaries: Vec<Message>,
    snippets: Option<Message>,
    counted: Vec<(u64, u32)>,
}

impl<'a> Plan<'a> {
    pub fn new(counter: &'a dyn TokenCounter, limits: Limits, budget: u32) -> Self {
        Self {
            counter,
            budget,
            used: 0,
            frame: 0,
            full: false,
            report: ContextReport::empty(
                counter.shared_key(),
                counter.accuracy(),
                limits.window,
                budget,
            ),
            summary_total: 0,
            pins: None,
            summaries: Vec::new(),
            snippets: None,
            counted: Vec::new(),
        }
    }

    fn room(&self) -> u32 {
        self.budget.saturating_sub(self.used)
    }

    /// Every pin that fits; the oldest are left out only when they alone would not.
    pub fn add_pins(&mut self, view: &SessionView) {
        let (fitting, left_out) = blocks::fitting_pins(&view.pins, self.room(), self.counter);
        self.report.pins_left_out = left_out;
        if let Some((message, tokens)) = fitting {
            self.used += tokens;
            self.report.pins = PartReport {
                count: u32::try_from(view.pins.len() - self.report.pins_left_out.len())
                    .unwrap_or(u32::MAX),
                tokens,
            };
            self.pins = Some(message);
        }
    }

    /// The newest summaries that fit in their share, in order.
    pub fn add_summaries(&mut self, view: &SessionView) {
        let share = self.budget / 100 * SUMMARY_SHARE;
        let mut costs = Vec::with_capacity(view.summaries.len());
        for summary in &view.summaries {
            let message = blocks::summary(summary);
            let tokens = summary
                .tokens
                .unwrap_or_else(|| self.counter.message(&message));
            self.summary_total = self.summary_total.saturating_add(tokens);
            costs.push((summary.id, message, tokens));
        }
        let mut taken = 0u32;
        let mut first = costs.len();
        while first > 0 {
            let tokens = costs[first - 1].2;
            if taken + tokens > share.min(self.room()) {
                break;
            }
            taken += tokens;
            first -= 1;
        }
        for (id, message, _) in costs.drain(..).skip(first) {
            self.report.summaries.push(id);
            self.summaries.push(message);
        }
        self.report.summary_tokens = taken;
        self.used += taken;
    }

    /// The most relevant snippets that fit in their share.
    pub fn add_snippets(&mut self, view: &SessionView) {
        let share = (self.budget / 100 * SNIPPET_SHARE).min(self.room());
        if let Some((message, tokens, references)) =
            blocks::fitting_snippets(&view.snippets, share, self.counter)
        {
            self.used += tokens;
            self.report.snippet_tokens = tokens;
            self.report.snippets = references;
            self.snippets = Some(message);
        }
    }

    /// The tokens of the view's messages, counting those not counted before.
    pub fn count_history(&mut self, view: &SessionView) -> Vec<u32> {
        view.messages
            .iter()
            .map(|stored| {
                stored.tokens.unwrap_or_else(|| {
                    let tokens = self.counter.message(&stored.message);
                    self.counted.push((stored.sequence, tokens));
                    tokens
                })
            })
            .collect()
    }

    /// Takes units newest first while they fit (the first that does not may have its tool
    /// results cut); returns them oldest first. `current` marks the step's own turns.
    pub fn fill(&mut self, units: impl Iterator<Item = Unit>, current: bool) -> Vec<Unit> {
        let mut kept = Vec::new();
        let mut left_out = 0u32;
        for mut unit in units {
            if self.full {
                if !current {
                    break;
                }
                left_out += 1;
                continue;
            }
            let tokens = unit.tokens();
            if tokens > self.room() {
                match units::cut_to_fit(&mut unit, self.room(), self.counter) {
                    Some(cuts) => self
                        .report
                        .cut
                        .extend(cuts.into_iter().map(|cut| CutResult {
                            sequence: cut.sequence,
                            tool_call_id: cut.tool_call_id,
                            tokens: cut.tokens,
                            kept: cut.kept,
                        })),
                    None => {
                        self.full = true;
                        left_out += 1;
                        if !current {
                            break;
                        }
                        continue;
                    }
                }
            }
            self.used += unit.tokens();
            kept.push(unit);
        }
        if current {
            self.report.current_left_out = left_out;
        }
        kept.reverse();
        kept
    }

    /// The messages in order, and the report.
    pub fn finish(
        mut self,
        head: Vec<Counted>,
        prompt: Vec<Counted>,
        history: Vec<Unit>,
        current: Vec<Unit>,
    ) -> Context {
        let history: Vec<Counted> = history.into_iter().flat_map(|unit| unit.messages).collect();
        let current: Vec<Counted> = current.into_iter().flat_map(|unit| unit.messages).collect();
        self.report.history = history
            .first()
            .and_then(|first| first.sequence)
            .zip(history.last().and_then(|last| last.sequence));
        self.report.history_part = part(&history);
        self.report.current.count += u32::try_from(current.len()).unwrap_or(u32::MAX);
        self.report.current.tokens += sum(&current);
        self.report.frame = self.frame;
        self.report.used = self.used;
        let mut messages: Vec<Message> = head.into_iter().map(|counted| counted.message).collect();
        messages.extend(self.pins);
        messages.extend(self.summaries);
        messages.extend(self.snippets);
        messages.extend(history.into_iter().map(|counted| counted.message));
        messages.extend(prompt.into_iter().map(|counted| counted.message));
        messages.extend(current.into_iter().map(|counted| counted.message));
        Context {
            messages,
            report: self.report,
            counted: self.counted,
        }
    }
}
