//! Memory in the machine: a run in a session records each model step's messages
//! (`Remembered`) in the step's own decision and points its model calls at the session;
//! `memory: none` and runs without a session do neither; the `memory:` section is checked.

use super::harness::model_reply;
use super::{errors, load};
use serde_json::json;
use weft_core::{Event, Message, RunId, SessionId, SessionRef};
use weft_workflow::{Command, RunMachine, Summarizer};

const CHAT: &str = "
name: chat
state:
  message: { type: string }
  reply: { type: string }
entry: talk
memory: { compact_at: 70, summarizer: none, snippets: 2 }
nodes:
  talk:
    kind: llm
    system: Be brief.
    prompt: '{{ state.message }}'
    writes: { reply: '{{ reply }}' }
    next: quiet
  quiet:
    kind: llm
    memory: none
    prompt: 'Say nothing about {{ state.reply }}'
    next: end
";

fn model_call(commands: &[Command]) -> &weft_workflow::ModelCall {
    match commands.first() {
        Some(Command::CallModel(call)) => call,
        other => panic!("expected a model call, got {other:?}"),
    }
}

#[test]
fn a_session_run_remembers_its_model_steps_but_not_those_that_opt_out() {
    let session = SessionRef {
        id: SessionId::new(),
        name: "ana".into(),
    };
    let workflow = load(CHAT);
    assert_eq!(workflow.memory.compact_at, 70);
    assert_eq!(workflow.memory.summarizer, Summarizer::Extractive);
    let (mut machine, decision) = RunMachine::start_in_session(
        workflow,
        RunId::new(),
        json!({"message": "Where is my lamp?"}),
        None,
        None,
        Some(session.clone()),
    )
    .unwrap();
    let Some(Event::RunStarted {
        session: recorded, ..
    }) = decision.events.first()
    else {
        panic!("the run starts first");
    };
    assert_eq!(recorded.as_deref(), Some(&session));
    let call = model_call(&decision.commands);
    assert_eq!(call.session, Some(session.id), "the call reads the session");
    let decision = machine
        .on_event(&model_reply(call.step, None, 0, "On its way."))
        .unwrap();
    let names: Vec<&str> = decision.events.iter().map(Event::name).collect();
    assert_eq!(
        names,
        [
            "remembered",
            "state_changed",
            "step_finished",
            "step_started"
        ],
        "the messages are recorded in the append that ends the step"
    );
    let Event::Remembered { messages, .. } = &decision.events[0] else {
        panic!("remembered first");
    };
    assert_eq!(
        messages,
        &vec![
            Message::user("Where is my lamp?"),
            Message::assistant("On its way.", Vec::new())
        ],
        "the system prompt is not the session's"
    );
    // `memory: none`: the call does not read the session, and nothing is remembered.
    let quiet = model_call(&decision.commands);
    assert_eq!(quiet.session, None);
    let decision = machine
        .on_event(&model_reply(quiet.step, None, 0, "..."))
        .unwrap();
    assert!(
        decision
            .events
            .iter()
            .all(|event| event.name() != "remembered")
    );
}

#[test]
fn a_run_without_a_session_remembers_nothing() {
    let (mut machine, decision) =
        RunMachine::start(load(CHAT), RunId::new(), json!({"message": "hello"}), None).unwrap();
    let call = model_call(&decision.commands);
    assert_eq!(call.session, None);
    let decision = machine
        .on_event(&model_reply(call.step, None, 0, "hi"))
        .unwrap();
    assert!(
        decision
            .events
            .iter()
            .all(|event| event.name() != "remembered")
    );
}

#[test]
fn the_memory_section_is_checked_with_locations() {
    let source = CHAT.replace(
        "memory: { compact_at: 70, summarizer: none, snippets: 2 }",
        "memory:\n  compact_at: 5\n  summarizer: ''",
    );
    let found = errors(&source);
    assert!(
        found
            .iter()
            .any(|error| error.starts_with("8:15:") && error.contains("compact_at")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|error| error.starts_with("9:15:") && error.contains("summarizer")),
        "{found:?}"
    );
    let unknown = errors(&CHAT.replace("snippets: 2", "snippet: 2"));
    assert!(
        unknown
            .iter()
            .any(|error| error.contains("snippet") && error.contains("snippets")),
        "an unknown key suggests the known one: {unknown:?}"
    );
}
