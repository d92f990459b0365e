//! The run machine, driven by hand: no tokio, no model, no clock.

use super::harness::{Harness, model_reply};
use super::load;
use serde_json::json;
use weft_core::{ErrorKind, Event, RunId, RunStatus, StepError};
use weft_workflow::{Command, RunError, RunMachine};

const CHAIN: &str = "
name: chain
state:
  topic: { type: string }
  first: { type: string }
  second: { type: string }
entry: a
nodes:
  a: { kind: llm, prompt: 'About {{ state.topic }}', writes: { first: '{{ reply }}' }, next: b }
  b: { kind: llm, system: 'Be brief.', prompt: 'After {{ state.first }}', writes: { second: '{{ reply | upper }}' }, next: end }
";

#[test]
fn a_chain_records_steps_deltas_and_the_output() {
    let mut run = Harness::start(CHAIN, json!({"topic": "rust"}));
    assert_eq!(run.names(), ["run_started", "step_started"]);
    let Command::CallModel(call) = &run.pending[0] else {
        panic!()
    };
    assert_eq!(call.request.messages[0].content, "About rust");
    run.answer_models(|prompt| format!("reply to {prompt}"));
    assert_eq!(
        run.names(),
        [
            "run_started",
            "step_started",
            "model_replied",
            "state_changed",
            "step_finished",
            "step_started",
            "model_replied",
            "state_changed",
            "step_finished",
            "run_finished"
        ]
    );
    assert_eq!(run.machine.status(), RunStatus::Finished);
    assert_eq!(
        run.machine.output().unwrap(),
        &json!({"topic": "rust", "first": "reply to About rust", "second": "REPLY TO AFTER REPLY TO ABOUT RUST"})
    );
    let Event::StateChanged { delta, .. } = &run.events[3] else {
        panic!()
    };
    assert_eq!(
        delta.writes.len(),
        1,
        "a delta holds what the step changed, not the whole state"
    );
}

const LOOP: &str = "
name: loop
state:
  count: { type: integer, reducer: add }
entry: tick
nodes:
  tick:
    kind: router
    writes: { count: 1 }
    next:
      - when: state.count < 5
        to: tick
      - to: end
    limits: { max_steps: LIMIT }
output: '{{ state.count }}'
";

#[test]
fn a_router_loop_counts_and_stops_at_its_condition() {
    let run = Harness::start(&LOOP.replace("LIMIT", "10"), json!({}));
    assert_eq!(run.machine.status(), RunStatus::Finished);
    assert_eq!(run.machine.output(), Some(&json!(5)));
    assert_eq!(run.machine.step(), 5);
}

#[test]
fn a_node_limit_stops_a_loop_with_a_clear_error() {
    let run = Harness::start(&LOOP.replace("LIMIT", "3"), json!({}));
    assert_eq!(run.machine.status(), RunStatus::Failed);
    assert_eq!(
        run.machine.failure().unwrap().kind,
        ErrorKind::LimitExceeded
    );
    assert!(
        run.failure().contains("node `tick` already ran 3 times"),
        "{}",
        run.failure()
    );
}

#[test]
fn a_workflow_step_limit_stops_the_run() {
    let source = LOOP
        .replace("LIMIT", "100")
        .replace("output:", "limits: { max_steps: 2 }\noutput:");
    let run = Harness::start(&source, json!({}));
    assert_eq!(run.machine.status(), RunStatus::Failed);
    assert!(
        run.failure().contains("limit of 2 steps"),
        "{}",
        run.failure()
    );
}

const MAP: &str = "
name: map
state:
  items: { type: array, items: { type: string } }
  results: { type: array, items: { type: string }, reducer: append }
  total: { type: integer, reducer: add }
entry: each
nodes:
  each:
    kind: map
    over: state.items
    as: word
    max_parallel: 2
    branch: { kind: llm, prompt: '{{ index }}:{{ word }}' }
    writes: { results: '{{ index }}={{ output }}', total: '{{ word | length }}' }
    next:
      - when: outputs | length == 5
        to: end
      - to: each
";

#[test]
fn a_map_keeps_to_max_parallel_and_folds_results_in_list_order() {
    let mut run = Harness::start(MAP, json!({"items": ["a", "bb", "ccc", "dddd", "eeeee"]}));
    assert_eq!(run.pending.len(), 2, "max_parallel is 2");
    // Answer branch 1 before branch 0: completion order must not change the fold.
    let second = run.pending.pop().unwrap();
    let first = run.pending.pop().unwrap();
    for command in [second, first] {
        let Command::CallModel(call) = command else {
            panic!()
        };
        let prompt = call.request.messages[0].content.clone();
        run.feed(model_reply(
            call.step,
            call.branch,
            call.turn,
            &format!("[{prompt}]"),
        ));
        assert!(run.pending.len() <= 2);
    }
    run.answer_models(|prompt| format!("[{prompt}]"));
    assert_eq!(
        run.machine.status(),
        RunStatus::Finished,
        "{}",
        run.failure()
    );
    assert_eq!(
        run.machine.state()["results"],
        json!([
            "0=[0:a]",
            "1=[1:bb]",
            "2=[2:ccc]",
            "3=[3:dddd]",
            "4=[4:eeeee]"
        ])
    );
    assert_eq!(run.machine.state()["total"], json!(15));
}

#[test]
fn a_map_over_something_that_is_not_a_list_fails_the_step() {
    let source = MAP.replace(
        "items: { type: array, items: { type: string } }",
        "items: { type: string }",
    );
    let run = Harness::start(&source, json!({"items": "oops"}));
    assert_eq!(run.machine.status(), RunStatus::Failed);
    assert!(
        run.failure().contains("gave a string, not a list"),
        "{}",
        run.failure()
    );
}

const HUMAN: &str = "
name: approve
state:
  approved: { type: boolean }
entry: ask
nodes:
  ask:
    kind: human
    ask: Ship it?
    input_schema: { type: object, properties: { ok: { type: boolean } }, required: [ok] }
    writes: { approved: '{{ input.ok }}' }
    next: [{ when: input.ok, to: end }, { to: ask }]
";

#[test]
fn a_human_node_interrupts_checks_the_answer_and_resumes() {
    let mut run = Harness::start(HUMAN, json!({}));
    assert_eq!(run.machine.status(), RunStatus::Interrupted);
    let question = run.machine.question().unwrap();
    assert_eq!(question.question, "Ship it?");
    assert!(question.input_schema.is_some());
    let error = run.machine.resume(json!({"ok": "yes"})).unwrap_err();
    assert!(matches!(error, RunError::InvalidAnswer { .. }), "{error}");
    assert!(error.to_string().contains("at /ok"), "{error}");
    assert_eq!(
        run.machine.status(),
        RunStatus::Interrupted,
        "a refused answer changes nothing"
    );
    let decision = run.machine.resume(json!({"ok": false})).unwrap();
    run.take(decision);
    assert_eq!(
        run.machine.status(),
        RunStatus::Interrupted,
        "not approved: asked again"
    );
    let decision = run.machine.resume(json!({"ok": true})).unwrap();
    run.take(decision);
    assert_eq!(run.machine.status(), RunStatus::Finished);
    assert_eq!(run.machine.state()["approved"], json!(true));
    assert_eq!(
        run.names()
            .iter()
            .filter(|name| **name == "interrupted")
            .count(),
        2
    );
    assert_eq!(
        run.names()
            .iter()
            .filter(|name| **name == "resumed")
            .count(),
        2
    );
}

#[test]
fn resuming_a_run_that_is_not_interrupted_is_refused() {
    let mut run = Harness::start(CHAIN, json!({}));
    let error = run.machine.resume(json!(1)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the run is running, not interrupted; only an interrupted run takes input"
    );
}

#[test]
fn an_expression_failing_at_run_time_fails_the_step_with_a_clear_event() {
    let source = "name: t\nstate: { n: { type: integer } }\nentry: a\nnodes:\n  a: { kind: router, writes: { n: '{{ state.missing + 1 }}' }, next: end }\n";
    let run = Harness::start(source, json!({}));
    assert_eq!(
        run.names(),
        ["run_started", "step_started", "step_failed", "run_failed"]
    );
    let Event::StepFailed { node, error, .. } = &run.events[2] else {
        panic!()
    };
    assert_eq!(node, "a");
    assert!(
        error.message.contains("writes.n failed"),
        "{}",
        error.message
    );
    assert!(error.message.contains("state.missing"), "{}", error.message);
    assert!(
        run.failure()
            .starts_with("node `a` (step 1): writes.n failed"),
        "{}",
        run.failure()
    );
}

#[test]
fn a_write_of_the_wrong_type_fails_the_step() {
    let source = "name: t\nstate: { n: { type: integer } }\nentry: a\nnodes:\n  a: { kind: router, writes: { n: '{{ \"text\" }}' }, next: end }\n";
    let run = Harness::start(source, json!({}));
    assert_eq!(run.machine.status(), RunStatus::Failed);
    assert!(
        run.failure().contains("does not fit its type integer"),
        "{}",
        run.failure()
    );
}

#[test]
fn structured_output_that_does_not_match_fails_with_the_json_path() {
    let source = "name: t\nstate: { answer: { type: integer } }\nentry: a\nnodes:\n  a:\n    kind: llm\n    prompt: hi\n    output_schema: { type: object, properties: { answer: { type: integer } }, required: [answer] }\n    writes: { answer: '{{ output.answer }}' }\n    next: end\n";
    let mut run = Harness::start(source, json!({}));
    run.answer_models(|_| "{\"answer\": \"forty-two\"}".into());
    assert_eq!(run.machine.status(), RunStatus::Failed);
    assert!(
        run.failure()
            .contains("does not match output_schema: at /answer"),
        "{}",
        run.failure()
    );

    let mut run = Harness::start(source, json!({}));
    run.answer_models(|_| "Sure! The answer is 42.".into());
    assert!(
        run.failure().contains("the model's reply is not JSON"),
        "{}",
        run.failure()
    );

    let mut run = Harness::start(source, json!({}));
    run.answer_models(|_| "```json\n{\"answer\": 42}\n```".into());
    assert_eq!(run.machine.state()["answer"], json!(42));
}

#[test]
fn a_model_failure_fails_the_run() {
    let mut run = Harness::start(CHAIN, json!({}));
    run.pending.clear();
    run.feed(Event::ModelFailed {
        step: 1,
        branch: None,
        turn: 0,
        error: StepError::new(ErrorKind::Upstream, "server said 500"),
    });
    assert_eq!(run.machine.status(), RunStatus::Failed);
    assert_eq!(run.failure(), "node `a` (step 1): server said 500");
}

#[test]
fn replaying_the_log_rebuilds_the_run_and_its_outstanding_work() {
    let items = json!({"items": ["a", "bb", "ccc", "dddd", "eeeee"]});
    let mut run = Harness::start(MAP, items.clone());
    let Command::CallModel(call) = run.pending.remove(0) else {
        panic!()
    };
    run.feed(model_reply(call.step, call.branch, call.turn, "first"));
    // Crash here: rebuild from the log alone.
    let mut restored = RunMachine::restore(load(MAP), run.machine.run_id(), &run.events).unwrap();
    assert_eq!(restored.state(), run.machine.state());
    let pending = restored.pending().unwrap();
    assert!(pending.events.is_empty(), "replay records nothing new");
    let mut branches: Vec<Option<u32>> = pending
        .commands
        .iter()
        .map(|command| match command {
            Command::CallModel(call) => call.branch,
            other => panic!("{other:?}"),
        })
        .collect();
    branches.sort();
    assert_eq!(
        branches,
        [Some(1), Some(2)],
        "the call in flight and the next branch are redone"
    );
    let mut resumed = Harness {
        machine: restored,
        events: run.events.clone(),
        pending: pending.commands,
    };
    resumed.answer_models(|prompt| format!("[{prompt}]"));
    run.answer_models(|prompt| format!("[{prompt}]"));
    assert_eq!(resumed.machine.state(), run.machine.state());
    assert_eq!(resumed.machine.output(), run.machine.output());
}

#[test]
fn a_log_that_does_not_fit_the_workflow_is_refused() {
    let events = vec![
        Event::RunStarted {
            workflow: "chain".into(),
            source: "test.yaml".into(),
            input: json!({}),
            parent: None,
            forked_from: None,
            setup: None,
            session: None,
        },
        Event::StepStarted {
            step: 1,
            node: "nonexistent".into(),
            kind: weft_core::NodeKind::Llm,
            within: None,
        },
    ];
    let error = RunMachine::restore(load(CHAIN), RunId::new(), &events).unwrap_err();
    assert!(
        error.to_string().contains("no node `nonexistent`"),
        "{error}"
    );
}

#[test]
fn bad_input_is_refused_before_the_run_starts() {
    let error =
        RunMachine::start(load(CHAIN), RunId::new(), json!({"topik": "x"}), None).unwrap_err();
    assert!(
        error.to_string().contains("`topik` is not a state field"),
        "{error}"
    );
    assert!(
        error.to_string().contains("did you mean `topic`?"),
        "{error}"
    );
    let error =
        RunMachine::start(load(CHAIN), RunId::new(), json!({"topic": 5}), None).unwrap_err();
    assert!(
        error.to_string().contains("field `topic` (string)"),
        "{error}"
    );
    let error = RunMachine::start(load(CHAIN), RunId::new(), json!([1]), None).unwrap_err();
    assert!(
        error.to_string().contains("must be a JSON object"),
        "{error}"
    );
}

#[test]
fn timeouts_and_cancellation_are_recorded() {
    let mut run = Harness::start(CHAIN, json!({}));
    let decision = run
        .machine
        .fail_step(StepError::new(ErrorKind::Timeout, "too slow"))
        .unwrap();
    run.take(decision);
    assert_eq!(run.names()[2..], ["step_failed", "run_failed"]);
    assert_eq!(run.machine.failure().unwrap().kind, ErrorKind::Timeout);

    let mut run = Harness::start(CHAIN, json!({}));
    let decision = run.machine.cancel("stop").unwrap();
    run.take(decision);
    assert_eq!(run.machine.status(), RunStatus::Cancelled);
    assert_eq!(run.names().last(), Some(&"run_cancelled"));
}

#[test]
fn a_sub_workflow_is_started_as_a_child_run_and_its_output_mapped() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("child.yaml"), "name: child\nstate: { x: { type: integer } }\nentry: a\nnodes:\n  a: { kind: router, next: end }\noutput: { doubled: '{{ state.x * 2 }}' }\n").unwrap();
    std::fs::write(folder.path().join("parent.yaml"), "name: parent\nstate: { y: { type: integer } }\nentry: call\nnodes:\n  call: { kind: workflow, path: child.yaml, input: { x: 21 }, writes: { y: '{{ output.doubled }}' }, next: end }\n").unwrap();
    let workflow = weft_workflow::Loader::new()
        .load(&folder.path().join("parent.yaml"))
        .unwrap();
    let (mut machine, decision) =
        RunMachine::start(workflow, RunId::new(), json!({}), None).unwrap();
    let [Command::StartChild(child)] = decision.commands.as_slice() else {
        panic!("{:?}", decision.commands)
    };
    assert_eq!(child.workflow.name, "child");
    assert_eq!(child.input, json!({"x": 21}));
    machine
        .on_event(&Event::ChildStarted {
            step: 1,
            branch: None,
            run: RunId::new(),
            workflow: "child".into(),
        })
        .unwrap();
    machine
        .on_event(&Event::ChildFinished {
            step: 1,
            branch: None,
            output: json!({"doubled": 42}),
        })
        .unwrap();
    assert_eq!(machine.status(), RunStatus::Finished);
    assert_eq!(machine.state()["y"], json!(42));
}
