//! The agent loop: tool calls issued together, results back in call order, turn limits.

use super::harness::{Harness, model_reply};
use serde_json::{Value, json};
use weft_core::{ErrorKind, Event, ModelReply, RunStatus, StepError, ToolCall, ToolOutcome};
use weft_workflow::Command;

const AGENT: &str = "
name: agent
state: { answer: { type: string } }
entry: think
nodes:
  think:
    kind: agent
    prompt: Add things.
    tools: [add, echo]
    max_turns: 3
    writes: { answer: '{{ reply }}' }
    next: end
";

fn tool_calls(step: u64, turn: u32, calls: &[(&str, Value)]) -> Event {
    Event::ModelReplied {
        step,
        branch: None,
        turn,
        reply: ModelReply {
            text: String::new(),
            tool_calls: calls
                .iter()
                .map(|(name, arguments)| {
                    ToolCall::new(String::new(), (*name).to_owned(), arguments.clone())
                })
                .collect(),
            ..ModelReply::default()
        },
        answered_by: None,
        context: None,
    }
}

#[test]
fn an_agent_runs_tools_concurrently_and_returns_results_in_call_order() {
    let mut run = Harness::start(AGENT, json!({}));
    let Some(Command::CallModel(call)) = run.pending.pop() else {
        panic!()
    };
    assert_eq!(call.tool_names, ["add", "echo"]);
    run.feed(tool_calls(
        1,
        0,
        &[
            ("add", json!({"a": 1, "b": 2})),
            ("echo", json!({"text": "hi"})),
        ],
    ));
    assert_eq!(run.pending.len(), 2, "both calls are issued at once");
    assert_eq!(
        run.names()
            .iter()
            .filter(|name| **name == "tool_call_started")
            .count(),
        2
    );
    let keys: Vec<String> = run
        .pending
        .iter()
        .map(|command| match command {
            Command::CallTool(call) => call.idempotency_key.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(
        keys[0].ends_with("/1/-/0/0") && keys[1].ends_with("/1/-/0/1"),
        "{keys:?}"
    );
    // The second call finishes first.
    for (index, output) in [(1, json!("hi")), (0, json!(3))] {
        run.pending
            .retain(|command| !matches!(command, Command::CallTool(call) if call.index == index));
        run.feed(Event::ToolCallFinished {
            step: 1,
            branch: None,
            turn: 0,
            index,
            outcome: ToolOutcome::Ok { output },
        });
    }
    let Some(Command::CallModel(call)) = run.pending.pop() else {
        panic!("the model is called again")
    };
    let results: Vec<&str> = call
        .request
        .messages
        .iter()
        .skip(2)
        .map(|message| message.content.as_str())
        .collect();
    assert_eq!(results, ["3", "hi"], "tool results go back in call order");
    assert_eq!(
        call.request.messages[2].tool_call_id.as_deref(),
        Some("call_1_0_0")
    );
    run.feed(model_reply(1, None, 1, "It is 3."));
    assert_eq!(run.machine.state()["answer"], json!("It is 3."));
}

#[test]
fn a_tool_error_goes_back_to_the_model() {
    let mut run = Harness::start(AGENT, json!({}));
    run.pending.clear();
    run.feed(tool_calls(1, 0, &[("add", json!({"a": "x"}))]));
    run.pending.clear();
    let error = StepError::new(ErrorKind::InvalidInput, "add: `a` (a number) is required");
    run.feed(Event::ToolCallFinished {
        step: 1,
        branch: None,
        turn: 0,
        index: 0,
        outcome: ToolOutcome::Error { error },
    });
    let Some(Command::CallModel(call)) = run.pending.pop() else {
        panic!()
    };
    let result: Value =
        serde_json::from_str(&call.request.messages.last().unwrap().content).unwrap();
    assert_eq!(result["error"]["kind"], json!("invalid_input"));
}

#[test]
fn an_agent_that_never_stops_calling_tools_hits_max_turns() {
    let mut run = Harness::start(AGENT, json!({}));
    for turn in 0..3 {
        run.pending.clear();
        run.feed(tool_calls(1, turn, &[("add", json!({"a": 1, "b": 1}))]));
        run.pending.clear();
        run.feed(Event::ToolCallFinished {
            step: 1,
            branch: None,
            turn,
            index: 0,
            outcome: ToolOutcome::Ok { output: json!(2) },
        });
    }
    assert_eq!(run.machine.status(), RunStatus::Failed);
    assert_eq!(
        run.machine.failure().unwrap().kind,
        ErrorKind::LimitExceeded
    );
    assert!(
        run.failure().contains("all 3 of its turns"),
        "{}",
        run.failure()
    );
}

#[test]
fn failed_tool_calls_beyond_max_tool_errors_fail_the_step() {
    let source = AGENT.replace("max_turns: 3", "max_turns: 8\n    max_tool_errors: 2");
    let mut run = Harness::start(&source, json!({}));
    let bad = |turn: u32| Event::ToolCallFinished {
        step: 1,
        branch: None,
        turn,
        index: 0,
        outcome: ToolOutcome::Error {
            error: StepError::new(ErrorKind::InvalidInput, "\"b\" is a required property"),
        },
    };
    // Two failures go back to the model, which tries again each time.
    for turn in 0..2 {
        run.pending.clear();
        run.feed(tool_calls(1, turn, &[("add", json!({"a": 1}))]));
        run.pending.clear();
        run.feed(bad(turn));
        assert_eq!(run.machine.status(), RunStatus::Running);
        assert!(matches!(run.pending.last(), Some(Command::CallModel(_))));
    }
    // The third is one too many.
    run.pending.clear();
    run.feed(tool_calls(1, 2, &[("add", json!({"a": 1}))]));
    run.pending.clear();
    run.feed(bad(2));
    assert_eq!(run.machine.status(), RunStatus::Failed);
    assert_eq!(
        run.machine.failure().unwrap().kind,
        ErrorKind::LimitExceeded
    );
    assert!(
        run.failure()
            .contains("3 tool calls failed, more than the 2 allowed (max_tool_errors)")
            && run
                .failure()
                .contains("`add`: \"b\" is a required property"),
        "{}",
        run.failure()
    );
}

#[test]
fn max_parallel_tools_starts_the_next_call_when_one_finishes() {
    let source = AGENT.replace("max_turns: 3", "max_turns: 3\n    max_parallel_tools: 2");
    let mut run = Harness::start(&source, json!({}));
    run.pending.clear();
    let three = [
        ("add", json!({"a": 1, "b": 1})),
        ("add", json!({"a": 2, "b": 2})),
        ("add", json!({"a": 3, "b": 3})),
    ];
    run.feed(tool_calls(1, 0, &three));
    let started = |run: &Harness| -> Vec<u32> {
        run.pending
            .iter()
            .filter_map(|command| match command {
                Command::CallTool(call) => Some(call.index),
                _ => None,
            })
            .collect()
    };
    assert_eq!(started(&run), [0, 1]);
    run.pending.clear();
    run.feed(Event::ToolCallFinished {
        step: 1,
        branch: None,
        turn: 0,
        index: 1,
        outcome: ToolOutcome::Ok { output: json!(4) },
    });
    assert_eq!(started(&run), [2]);
}

#[test]
fn a_reply_with_many_calls_keeps_its_limit_and_starts_each_call_once() {
    // 40 calls (past the point where the machine tracks calls in flight in a hash set),
    // 15 at a time, finishing out of order.
    let source = AGENT.replace("max_turns: 3", "max_turns: 3\n    max_parallel_tools: 15");
    let mut run = Harness::start(&source, json!({}));
    run.pending.clear();
    let many: Vec<(&str, serde_json::Value)> = (0..40)
        .map(|number| ("add", json!({"a": number, "b": 1})))
        .collect();
    run.feed(tool_calls(1, 0, &many));
    let mut started: Vec<u32> = Vec::new();
    let take = |run: &mut Harness, started: &mut Vec<u32>| {
        for command in run.pending.drain(..) {
            if let Command::CallTool(call) = command {
                started.push(call.index);
            }
        }
    };
    take(&mut run, &mut started);
    assert_eq!(started, (0..15).collect::<Vec<u32>>());
    let mut finished = 0;
    let mut ever_started = started.len();
    while finished < 40 {
        // Finish the newest call in flight first.
        let index = *started.last().unwrap();
        run.feed(Event::ToolCallFinished {
            step: 1,
            branch: None,
            turn: 0,
            index,
            outcome: ToolOutcome::Ok {
                output: json!(index),
            },
        });
        started.retain(|started| *started != index);
        finished += 1;
        let before = started.len();
        take(&mut run, &mut started);
        ever_started += started.len() - before;
        assert!(started.len() <= 15, "{started:?}");
        assert_eq!(
            started.len(),
            (40 - finished).min(15),
            "a free slot is filled at once"
        );
    }
    assert_eq!(ever_started, 40, "each call started exactly once");
}

#[test]
fn max_parallel_tools_of_zero_is_refused() {
    let source = AGENT.replace("max_turns: 3", "max_turns: 3\n    max_parallel_tools: 0");
    let error = weft_workflow::Loader::new()
        .load_source(std::path::Path::new("agent.yaml"), &source)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("`max_parallel_tools` must be at least 1"),
        "{error}"
    );
}

#[test]
fn tool_patterns_must_match_a_known_tool_and_only_agents_take_them() {
    let loader = weft_workflow::Loader::with_tools(
        ["add", "echo", "github.issues", "github.pulls"].map(String::from),
    );
    let load = |source: &str| {
        loader
            .load_source(std::path::Path::new("agent.yaml"), source)
            .map(|_| ())
            .map_err(|error| error.to_string())
    };
    assert_eq!(
        load(&AGENT.replace("[add, echo]", "[add, 'github.*']")),
        Ok(())
    );
    let error = load(&AGENT.replace("[add, echo]", "[add, 'gitlab.*']")).unwrap_err();
    assert!(error.contains("no tool matches `gitlab.*`"), "{error}");
    let tool_node = "name: t\nentry: a\nnodes:\n  a: { kind: tool, tool: 'github.*', next: end }\n";
    let error = load(tool_node).unwrap_err();
    assert!(
        error.contains("is a pattern, but a tool node calls one tool"),
        "{error}"
    );
}

fn with_choice(choice: &str) -> String {
    AGENT.replace(
        "max_turns: 3",
        &format!("max_turns: 3\n    tool_choice: {choice}"),
    )
}

fn model_call(run: &mut Harness) -> weft_workflow::ModelCall {
    match run.pending.pop() {
        Some(Command::CallModel(call)) => call,
        other => panic!("expected a model call, got {other:?}"),
    }
}

#[test]
fn tool_choice_holds_for_the_first_reply_and_then_the_model_decides() {
    let mut run = Harness::start(&with_choice("add"), json!({}));
    let first = model_call(&mut run);
    assert_eq!(
        first.request.tool_choice,
        weft_core::ToolChoice::Tool("add".into())
    );
    run.feed(tool_calls(1, 0, &[("add", json!({"a": 1, "b": 2}))]));
    let Some(Command::CallTool(call)) = run.pending.pop() else {
        panic!()
    };
    run.feed(Event::ToolCallFinished {
        step: 1,
        branch: None,
        turn: 0,
        index: call.index,
        outcome: ToolOutcome::Ok { output: json!(3) },
    });
    let second = model_call(&mut run);
    assert_eq!(second.request.tool_choice, weft_core::ToolChoice::Auto);
    assert_eq!(second.tool_names, ["add", "echo"]);
    run.feed(model_reply(1, None, 1, "three"));
    assert_eq!(run.machine.status(), RunStatus::Finished);
}

#[test]
fn a_reply_that_breaks_the_tool_choice_fails_the_step_whatever_the_backend() {
    for (choice, reply, expected) in [
        (
            "required",
            None,
            "answered without calling a tool although the node's tool_choice is required",
        ),
        ("add", Some("echo"), "the model did not call `add`"),
        (
            "none",
            Some("add"),
            "the model called `add` although the node's tool_choice is none",
        ),
    ] {
        let mut run = Harness::start(&with_choice(choice), json!({}));
        let call = model_call(&mut run);
        if choice == "none" {
            assert!(call.tool_names.is_empty(), "no tools are offered");
            assert_eq!(call.request.tool_choice, weft_core::ToolChoice::None);
        }
        match reply {
            Some(tool) => run.feed(tool_calls(1, 0, &[(tool, json!({"text": "x"}))])),
            None => run.feed(model_reply(1, None, 0, "no tools")),
        }
        assert_eq!(run.machine.status(), RunStatus::Failed, "{choice}");
        assert!(
            run.failure().contains(expected),
            "{choice}: {}",
            run.failure()
        );
    }
}

#[test]
fn tool_choice_must_name_an_offered_tool_and_required_needs_tools() {
    let errors = super::errors(&with_choice("multiply"));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0]
            .contains("`tool_choice` names `multiply`, which is not among the agent's `tools`"),
        "{errors:?}"
    );
    let errors = super::errors(&with_choice("required").replace("tools: [add, echo]", "tools: []"));
    assert!(
        errors
            .iter()
            .any(|error| error.contains("`tool_choice: required` needs `tools`")),
        "{errors:?}"
    );
}
