//! `parallel` nodes driven by hand: branches as chains of steps, conditional branches, the
//! join, nesting with maps and other parallel nodes, several questions at once, and a run
//! rebuilt from its log at every point a crash could leave it.

use super::harness::{Harness, model_reply};
use super::load;
use serde_json::{Value, json};
use weft_core::{Event, RunStatus, Within};
use weft_workflow::{Command, RunError, RunMachine};

const FAN: &str = "
name: fan
state:
  topic: { type: string }
  notes: { type: array, reducer: append }
  facts: { type: string }
  prices: { type: string }
  summary: { type: string }
entry: split
nodes:
  split:
    kind: parallel
    branches:
      - research
      - prices
      - to: extra
        when: state.topic == 'deep'
    join: combine
  research: { kind: llm, prompt: 'Research {{ state.topic }}', writes: { facts: '{{ reply }}' }, next: check }
  check: { kind: router, writes: { notes: checked }, next: combine }
  prices: { kind: llm, prompt: 'Prices of {{ state.topic }}', writes: { prices: '{{ reply }}' }, next: combine }
  extra: { kind: router, writes: { notes: extra }, next: combine }
  combine: { kind: llm, prompt: 'Combine {{ state.facts }} and {{ state.prices }}', writes: { summary: '{{ reply }}' }, next: end }
";

/// The steps started so far: node and the branch they run in.
fn started(events: &[Event]) -> Vec<(String, Option<Within>)> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::StepStarted { node, within, .. } => Some((node.clone(), *within)),
            _ => None,
        })
        .collect()
}

fn model_calls(pending: &[Command]) -> Vec<(u64, String)> {
    pending
        .iter()
        .map(|command| match command {
            Command::CallModel(call) => (
                call.step,
                call.request.messages.last().unwrap().content.clone(),
            ),
            other => panic!("expected model calls, got {other:?}"),
        })
        .collect()
}

#[test]
fn branches_run_at_once_and_the_join_waits_for_every_one() {
    let mut run = Harness::start(FAN, json!({"topic": "lamps"}));
    let within = |branch| Some(Within { step: 1, branch });
    assert_eq!(
        started(&run.events),
        [
            ("split".to_owned(), None),
            ("research".to_owned(), within(0)),
            ("prices".to_owned(), within(1)),
        ],
        "the branch whose `when` does not hold does not run"
    );
    assert_eq!(
        model_calls(&run.pending),
        [
            (2, "Research lamps".to_owned()),
            (3, "Prices of lamps".to_owned())
        ]
    );
    // The second branch answers first; the first branch goes on to its second node.
    let pending = std::mem::take(&mut run.pending);
    run.feed(model_reply(3, None, 0, "cheap"));
    assert!(
        run.pending.is_empty(),
        "the join waits for the other branch"
    );
    run.feed(model_reply(2, None, 0, "bright"));
    let steps = started(&run.events);
    assert_eq!(steps[3], ("check".to_owned(), within(0)));
    assert_eq!(steps[4], ("combine".to_owned(), None), "the join runs once");
    assert_eq!(
        model_calls(&run.pending),
        [(5, "Combine bright and cheap".to_owned())]
    );
    drop(pending);
    run.answer_models(|_| "done".to_owned());
    assert_eq!(run.machine.status(), RunStatus::Finished);
    let output = run.machine.output().unwrap();
    assert_eq!(output["notes"], json!(["checked"]));
    assert_eq!(output["summary"], "done");
    assert_eq!(run.machine.step(), 5);
}

#[test]
fn a_conditional_branch_runs_when_its_condition_holds() {
    let mut run = Harness::start(FAN, json!({"topic": "deep"}));
    assert_eq!(started(&run.events).len(), 4);
    run.answer_models(|prompt| format!("[{prompt}]"));
    let output = run.machine.output().unwrap();
    let mut notes: Vec<Value> = output["notes"].as_array().unwrap().clone();
    notes.sort_by_key(Value::to_string);
    assert_eq!(notes, [json!("checked"), json!("extra")]);
}

/// Drives `run` to its end, answering each model call with its prompt in brackets and
/// each question (by id, in id order) with `{"ok": true}`; returns where each decision's
/// events ended in the log.
fn drive(run: &mut Harness) -> Vec<usize> {
    let mut boundaries = vec![run.events.len()];
    loop {
        if let Some(command) = run.pending.pop() {
            let Command::CallModel(call) = command else {
                panic!("{command:?}")
            };
            let prompt = call.request.messages.last().unwrap().content.clone();
            run.feed(model_reply(
                call.step,
                call.branch,
                call.turn,
                &format!("[{prompt}]"),
            ));
        } else if run.machine.status() == RunStatus::Interrupted {
            let mut ids: Vec<String> = run
                .machine
                .questions()
                .into_iter()
                .map(|question| question.id)
                .collect();
            ids.sort();
            let decision = run
                .machine
                .answer(Some(&ids[0]), json!({"ok": true}))
                .unwrap();
            run.take(decision);
        } else {
            break;
        }
        boundaries.push(run.events.len());
    }
    boundaries
}

const NESTED: &str = "
name: nested
state:
  items: { type: array }
  notes: { type: array, reducer: append }
  legal: { type: any }
  brand: { type: any }
entry: split
nodes:
  split: { kind: parallel, branches: [inner, each, ask_legal], join: done }
  inner: { kind: parallel, branches: [x, y], join: after_inner }
  x: { kind: router, writes: { notes: x }, next: after_inner }
  y: { kind: llm, prompt: 'y', writes: { notes: '{{ reply }}' }, next: after_inner }
  after_inner: { kind: router, writes: { notes: inner_done }, next: ask_brand }
  ask_brand: { kind: human, ask: 'Brand?', writes: { brand: '{{ input }}' }, next: done }
  each:
    kind: map
    over: state.items
    branch: { kind: llm, prompt: 'item {{ item }}' }
    writes: { notes: '{{ output }}' }
    next: done
  ask_legal: { kind: human, ask: 'Legal?', writes: { legal: '{{ input }}' }, next: done }
  done: { kind: router, writes: { notes: done }, next: end }
";

#[test]
fn nested_branches_and_maps_join_in_order_and_ask_together() {
    let mut run = Harness::start(NESTED, json!({"items": [1, 2]}));
    drive(&mut run);
    assert_eq!(run.machine.status(), RunStatus::Finished);
    let notes = run.machine.output().unwrap()["notes"].clone();
    let notes: Vec<&str> = notes
        .as_array()
        .unwrap()
        .iter()
        .map(|note| note.as_str().unwrap())
        .collect();
    let position = |note: &str| notes.iter().position(|seen| *seen == note).unwrap();
    assert!(position("x") < position("inner_done"), "{notes:?}");
    assert!(position("[y]") < position("inner_done"), "{notes:?}");
    assert_eq!(notes.last(), Some(&"done"), "{notes:?}");
    assert!(
        notes.contains(&"[item 1]") && notes.contains(&"[item 2]"),
        "{notes:?}"
    );
    // Both questions were open at once: asked together when everything else had stopped.
    let asked: Vec<Vec<String>> = interrupted_groups(&run.events);
    assert_eq!(asked[0], ["ask_legal", "ask_brand"], "{asked:?}");
}

/// The ids of each group of `Interrupted` events in a row.
fn interrupted_groups(events: &[Event]) -> Vec<Vec<String>> {
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut previous_was_question = false;
    for event in events {
        if let Event::Interrupted { id, .. } = event {
            if !previous_was_question {
                groups.push(Vec::new());
            }
            if let Some(group) = groups.last_mut() {
                group.push(id.clone().unwrap_or_default());
            }
            previous_was_question = true;
        } else {
            previous_was_question = false;
        }
    }
    groups
}

#[test]
fn a_run_rebuilt_at_any_point_of_its_log_ends_as_the_uninterrupted_run() {
    for (source, input) in [
        (FAN, json!({"topic": "deep"})),
        (NESTED, json!({"items": ["a", "b", "c"]})),
    ] {
        let mut whole = Harness::start(source, input.clone());
        let boundaries = drive(&mut whole);
        assert_eq!(whole.machine.status(), RunStatus::Finished);
        for boundary in boundaries {
            let log = &whole.events[..boundary];
            let mut machine = RunMachine::restore(load(source), whole.machine.run_id(), log)
                .unwrap_or_else(|error| panic!("restoring at {boundary}: {error}"));
            let pending = machine.pending().unwrap();
            let mut resumed = Harness {
                machine,
                events: log.to_vec(),
                pending: Vec::new(),
            };
            resumed.take(pending);
            drive(&mut resumed);
            assert_eq!(
                resumed.machine.status(),
                RunStatus::Finished,
                "restored at {boundary}"
            );
            let (mut again, mut first) = (
                resumed.machine.output().unwrap().clone(),
                whole.machine.output().unwrap().clone(),
            );
            for output in [&mut again, &mut first] {
                if let Some(notes) = output["notes"].as_array_mut() {
                    notes.sort_by_key(Value::to_string);
                }
            }
            assert_eq!(again, first, "restored at {boundary}");
        }
    }
}

const QUESTIONS: &str = "
name: questions
state:
  legal: { type: any }
  brand: { type: any }
  draft: { type: string }
entry: split
nodes:
  split: { kind: parallel, branches: [ask_legal, ask_brand, write], join: publish }
  ask_legal:
    kind: human
    ask: Legal ok?
    input_schema: { type: object, properties: { ok: { type: boolean } }, required: [ok] }
    writes: { legal: '{{ input }}' }
    next: publish
  ask_brand: { kind: human, ask: Brand ok?, writes: { brand: '{{ input }}' }, next: publish }
  write: { kind: llm, prompt: Draft, writes: { draft: '{{ reply }}' }, next: publish }
  publish: { kind: router, next: end }
";

#[test]
fn questions_wait_for_the_working_branch_and_are_answered_by_id_in_any_order() {
    for order in [["ask_legal", "ask_brand"], ["ask_brand", "ask_legal"]] {
        let mut run = Harness::start(QUESTIONS, json!({}));
        assert_eq!(run.machine.status(), RunStatus::Running);
        assert!(
            !run.names().contains(&"interrupted"),
            "a question waits while another branch works"
        );
        run.answer_models(|_| "text".to_owned());
        assert_eq!(run.machine.status(), RunStatus::Interrupted);
        let open: Vec<String> = run.machine.questions().into_iter().map(|q| q.id).collect();
        assert_eq!(open, ["ask_legal", "ask_brand"]);
        assert!(matches!(
            run.machine.answer(None, json!({"ok": true})),
            Err(RunError::WhichQuestion { .. })
        ));
        assert!(matches!(
            run.machine.answer(Some("nope"), json!({"ok": true})),
            Err(RunError::UnknownQuestion { .. })
        ));
        assert!(matches!(
            run.machine.answer(Some("ask_legal"), json!({"ok": "yes"})),
            Err(RunError::InvalidAnswer { .. })
        ));
        let decision = run
            .machine
            .answer(Some(order[0]), json!({"ok": true}))
            .unwrap();
        run.take(decision);
        assert_eq!(run.machine.status(), RunStatus::Interrupted);
        // A new process: the run is rebuilt from its log and waits on the other question.
        let mut machine =
            RunMachine::restore(load(QUESTIONS), run.machine.run_id(), &run.events).unwrap();
        let left: Vec<String> = machine.questions().into_iter().map(|q| q.id).collect();
        assert_eq!(left, [order[1]]);
        let decision = machine.answer(None, json!({"ok": true})).unwrap();
        assert_eq!(
            machine.status(),
            RunStatus::Finished,
            "{:?}",
            decision.events
        );
        let output = machine.output().unwrap();
        assert_eq!(output["legal"], json!({"ok": true}));
        assert_eq!(output["brand"], json!({"ok": true}));
        assert_eq!(output["draft"], "text");
    }
}

fn parallel_errors(nodes: &str) -> Vec<String> {
    super::errors(&format!(
        "
name: shapes
state:
  text: {{ type: string }}
  notes: {{ type: array, reducer: append }}
entry: split
nodes:
{nodes}
"
    ))
}

#[test]
fn two_branches_writing_one_replace_field_is_a_validation_error() {
    let errors = parallel_errors(
        "  split: { kind: parallel, branches: [a, b], join: done }
  a: { kind: router, writes: { text: one, notes: a }, next: done }
  b: { kind: router, writes: { text: two, notes: b }, next: done }
  done: { kind: router, next: end }",
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("10:32: branches `a` (node `a`) and `b` (node `b`) of parallel node `split` both write `text`, a `replace` field"),
        "{errors:?}"
    );
    assert!(
        errors[0].contains("give it a reducer that combines"),
        "{errors:?}"
    );
}

#[test]
fn a_branch_must_stay_inside_and_reach_its_join() {
    let errors = parallel_errors(
        "  split: { kind: parallel, branches: [a, b, c], join: done, next: done }
  a: { kind: router, next: end }
  b: { kind: router, next: b }
  c: { kind: router, next: done }
  done: { kind: router, next: c }",
    );
    let all = errors.join("\n");
    assert!(
        all.contains("goes on at its `join`, not at `next`"),
        "{all}"
    );
    let errors = parallel_errors(
        "  split: { kind: parallel, branches: [a, b, c], join: done }
  a: { kind: router, next: end }
  b: { kind: router, next: b }
  c: { kind: router, next: done }
  done: { kind: router, next: c }",
    );
    let all = errors.join("\n");
    assert!(
        all.contains("node `a` ends the run, but it is in branch `a` of parallel node `split`"),
        "{all}"
    );
    assert!(
        all.contains("branch `b` of parallel node `split` never reaches its join `done`"),
        "{all}"
    );
    assert!(
        all.contains("node `done` goes to `c`, inside branch `c` of parallel node `split`"),
        "{all}"
    );
}

#[test]
fn parallel_nodes_need_branches_a_join_and_no_writes() {
    let errors = parallel_errors(
        "  split: { kind: parallel, branches: [], writes: { text: x } }
  done: { kind: router, next: end }",
    );
    let all = errors.join("\n");
    assert!(all.contains("parallel node `split` has no `join`"), "{all}");
    let errors = parallel_errors(
        "  split: { kind: parallel, branches: [a, a, done, { to: b, when: 'state.text ==' }], join: done, writes: { text: x } }
  a: { kind: router, next: done }
  b: { kind: router, next: done }
  done: { kind: router, next: end }",
    );
    let all = errors.join("\n");
    assert!(all.contains("branch `a` is listed twice"), "{all}");
    assert!(all.contains("branch `done` starts at the join"), "{all}");
    assert!(all.contains("`when` does not compile"), "{all}");
    assert!(
        all.contains("parallel node `split` writes nothing"),
        "{all}"
    );
}

#[test]
fn a_node_in_two_branches_is_refused() {
    let errors = parallel_errors(
        "  split: { kind: parallel, branches: [a, b], join: done }
  a: { kind: router, next: shared }
  b: { kind: router, next: shared }
  shared: { kind: router, next: done }
  done: { kind: router, next: end }",
    );
    let all = errors.join("\n");
    assert!(
        all.contains("node `shared` is in two branches of parallel node `split` (`a` and `b`)"),
        "{all}"
    );
}
