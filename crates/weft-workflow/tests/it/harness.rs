//! Drives a run machine by hand and keeps everything it recorded.

use super::load;
use serde_json::Value;
use weft_core::{Event, ModelReply, RunId};
use weft_workflow::{Command, Decision, RunMachine};

/// A run and every event it recorded.
pub struct Harness {
    pub machine: RunMachine,
    pub events: Vec<Event>,
    pub pending: Vec<Command>,
}

impl Harness {
    pub fn start(source: &str, input: Value) -> Self {
        let (machine, decision) =
            RunMachine::start(load(source), RunId::new(), input, None).unwrap();
        let mut harness = Self {
            machine,
            events: Vec::new(),
            pending: Vec::new(),
        };
        harness.take(decision);
        harness
    }

    pub fn take(&mut self, decision: Decision) {
        self.events.extend(decision.events);
        self.pending.extend(decision.commands);
    }

    pub fn feed(&mut self, event: Event) {
        let decision = self.machine.on_event(&event).unwrap();
        self.events.push(event);
        self.take(decision);
    }

    /// Answers every pending model call with `reply(prompt)` until none is left.
    pub fn answer_models(&mut self, reply: impl Fn(&str) -> String) {
        while let Some(command) = self.pending.pop() {
            let Command::CallModel(call) = command else {
                panic!("expected a model call, got {command:?}")
            };
            let prompt = call.request.messages.last().unwrap().content.clone();
            self.feed(model_reply(
                call.step,
                call.branch,
                call.turn,
                &reply(prompt.as_str()),
            ));
        }
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.events.iter().map(Event::name).collect()
    }

    pub fn failure(&self) -> String {
        self.machine
            .failure()
            .map(|error| error.message.clone())
            .unwrap_or_default()
    }
}

pub fn model_reply(step: u64, branch: Option<u32>, turn: u32, text: &str) -> Event {
    Event::ModelReplied {
        step,
        branch,
        turn,
        reply: ModelReply {
            text: text.to_owned(),
            ..ModelReply::default()
        },
        answered_by: None,
        context: None,
    }
}
