//! The command line as people use it: models replaced by flags and recorded by the run, a
//! run's folder, answers from files, hints that work as printed, commands that need only the
//! database, `weft runs show`, JSON output, shadowed built-in tools, YAML 1.2, colors and
//! MCP servers in `graph` and `validate`.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A folder to run `weft` in, with its files.
pub struct Folder {
    folder: tempfile::TempDir,
}

impl Folder {
    pub fn new() -> Self {
        Self {
            folder: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.folder.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> &Self {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    /// Runs `weft` here.
    pub fn weft(&self, arguments: &[&str]) -> Output {
        weft_in(self.folder.path(), arguments)
    }
}

/// The `weft` command, run in `folder` with none of weft's variables set.
pub fn command_in(folder: &Path, arguments: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weft"));
    command
        .args(arguments)
        .current_dir(folder)
        .stdin(Stdio::null())
        .env_remove("WEFT_MODEL")
        .env_remove("WEFT_DB")
        .env_remove("WEFT_CONFIG")
        .env_remove("WEFT_LOG")
        .env_remove("NO_COLOR");
    command
}

pub fn weft_in(folder: &Path, arguments: &[&str]) -> Output {
    command_in(folder, arguments).output().expect("weft runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json_output(output: &Output) -> Value {
    serde_json::from_str(&stdout(output))
        .unwrap_or_else(|error| panic!("{error}: {}\n{}", stdout(output), stderr(output)))
}

/// The last run id in a message (the run's own, after notes about earlier runs).
fn run_id_in(text: &str) -> String {
    text.split_whitespace()
        .map(|word| word.trim_end_matches([',', ')', ':']))
        .rfind(|word| word.len() == 36 && word.matches('-').count() == 4)
        .unwrap_or_else(|| panic!("no run id in: {text}"))
        .trim_end_matches([',', ')', ':'])
        .to_owned()
}

/// The replies of `ASK_TWICE`, by prompt (so a resumed run gets the right one).
const REPLIES: &str =
    "replies:\n  - match: 'first'\n    text: one\n  - match: 'second'\n    text: two\n";

/// A workflow that asks a model, waits for a person, then asks a model again.
const ASK_TWICE: &str = "name: twice
model: scripted:replies.yaml
state:
  first: { type: string }
  second: { type: string }
entry: draft
nodes:
  draft: { kind: llm, prompt: 'first', writes: { first: '{{ reply }}' }, next: check }
  check:
    kind: human
    ask: Go on?
    input_schema: { type: object, properties: { go: { type: boolean } }, required: [go] }
    next: final
  final: { kind: llm, prompt: 'second', writes: { second: '{{ reply }}' }, next: end }
output: { first: '{{ state.first }}', second: '{{ state.second }}' }
";

#[test]
fn model_flags_replace_the_workflows_models_and_the_run_keeps_them() {
    let folder = Folder::new();
    folder
        .write("twice.yaml", ASK_TWICE)
        .write("replies.yaml", "replies:\n  - text: from the workflow\n")
        .write("flag.yaml", "replies:\n  - text: from the flag\n")
        .write("node.yaml", "replies:\n  - text: from the node flag\n");
    let output = folder.weft(&[
        "run",
        "twice.yaml",
        "--model",
        "scripted:flag.yaml",
        "--node-model",
        "final=scripted:node.yaml",
    ]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let run = run_id_in(&stderr(&output));
    // Resumed from another folder and without the flags: the run's own folder and models.
    let elsewhere = tempfile::tempdir().unwrap();
    let database = folder.path("weft.db");
    let database = database.to_str().unwrap();
    let resumed = weft_in(
        elsewhere.path(),
        &[
            "resume",
            &run,
            "--answer",
            r#"{"go": true}"#,
            "--db",
            database,
        ],
    );
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let output = json_output(&resumed);
    assert_eq!(output["first"], json!("from the flag"));
    assert_eq!(output["second"], json!("from the node flag"));
    let shown = json_output(&weft_in(
        elsewhere.path(),
        &["runs", "show", &run, "--json", "--db", database],
    ));
    let specs: Vec<&str> = shown["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|usage| usage["spec"].as_str().unwrap())
        .collect();
    let flag = folder.path("flag.yaml").canonicalize().unwrap();
    let node = folder.path("node.yaml").canonicalize().unwrap();
    assert!(
        specs.contains(&format!("scripted:{}", flag.display()).as_str())
            && specs.contains(&format!("scripted:{}", node.display()).as_str()),
        "each reply records the spec that answered it: {specs:?}"
    );
    assert!(
        shown["setup"]["workspace"]
            .as_str()
            .unwrap()
            .ends_with(folder.folder.path().file_name().unwrap().to_str().unwrap()),
        "{shown}"
    );

    let wrong = folder.weft(&[
        "run",
        "twice.yaml",
        "--node-model",
        "check=scripted:node.yaml",
    ]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        stderr(&wrong).contains("cannot replace the model of node `check`: it is a `human` node"),
        "{}",
        stderr(&wrong)
    );
    let wrong = folder.weft(&[
        "run",
        "twice.yaml",
        "--node-model",
        "finall=scripted:node.yaml",
    ]);
    assert!(
        stderr(&wrong).contains("no such node; did you mean `final`?"),
        "{}",
        stderr(&wrong)
    );
    let wrong = folder.weft(&["run", "twice.yaml", "--node-model", "final"]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        stderr(&wrong).contains("is not NODE=SPEC"),
        "{}",
        stderr(&wrong)
    );
}

#[test]
fn a_run_works_in_its_own_folder_wherever_it_is_resumed() {
    let folder = Folder::new();
    folder
        .write(
            "tools/shout.yaml",
            "name: shout\ndescription: Says it louder.\ncommand: [sh, tools/shout.sh]\nparameters:\n  type: object\n  properties: { text: { type: string } }\n  required: [text]\nidempotent: true\n",
        )
        // Command tools run in the run's folder: the script and what it reads are found
        // there even when the run is resumed from another folder.
        .write(
            "tools/shout.sh",
            "read input\ntext=$(printf '%s' \"$input\" | sed 's/.*\"text\":\"\\([^\"]*\\)\".*/\\1/' | tr a-z A-Z)\nprintf '\"%s%s\"' \"$text\" \"$(cat punctuation.txt)\"\n",
        )
        .write("punctuation.txt", "!\n")
        .write(
            "flow.yaml",
            "name: flow
state: { said: { type: string }, word: { type: string } }
entry: wait
nodes:
  wait: { kind: human, ask: Say?, writes: { word: '{{ input }}' }, next: say }
  say:
    kind: tool
    tool: shout
    arguments: { text: '{{ state.word }}' }
    writes: { said: '{{ output }}' }
    next: end
output: { said: '{{ state.said }}' }
",
        );
    let output = folder.weft(&["run", "flow.yaml"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let run = run_id_in(&stderr(&output));
    let elsewhere = tempfile::tempdir().unwrap();
    let database = folder.path("weft.db");
    let resumed = weft_in(
        elsewhere.path(),
        &[
            "resume",
            &run,
            "--answer",
            "hello",
            "--db",
            database.to_str().unwrap(),
        ],
    );
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_eq!(json_output(&resumed)["said"], json!("HELLO!"));

    // `--workspace` names the folder explicitly.
    let explicit = weft_in(
        elsewhere.path(),
        &[
            "run",
            folder.path("flow.yaml").to_str().unwrap(),
            "--workspace",
            folder.path("").to_str().unwrap(),
            "--answer",
            "again",
            "--db",
            database.to_str().unwrap(),
        ],
    );
    assert!(explicit.status.success(), "{}", stderr(&explicit));
    assert_eq!(json_output(&explicit)["said"], json!("AGAIN!"));
}

#[test]
fn answers_come_from_files_and_each_flag_belongs_to_its_command() {
    let folder = Folder::new();
    folder
        .write("twice.yaml", ASK_TWICE)
        .write("replies.yaml", REPLIES)
        .write("answer.json", "{\"go\": true}\n");
    let output = folder.weft(&["run", "twice.yaml", "--answer", "@answer.json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(json_output(&output)["second"], json!("two"));

    let missing = folder.weft(&["run", "twice.yaml", "--answer", "@nothing.json"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("cannot read nothing.json"),
        "{}",
        stderr(&missing)
    );

    for arguments in [
        vec![
            "resume",
            "0190a5b4-0000-7000-8000-000000000000",
            "--input",
            "{}",
        ],
        vec![
            "runs",
            "fail",
            "0190a5b4-0000-7000-8000-000000000000",
            "--answer",
            "{}",
        ],
        vec![
            "runs",
            "show",
            "0190a5b4-0000-7000-8000-000000000000",
            "--model",
            "x",
        ],
        vec!["graph", "twice.yaml", "--db", "x.db"],
    ] {
        let output = folder.weft(&arguments);
        assert_eq!(output.status.code(), Some(2), "{arguments:?}");
        assert!(
            stderr(&output).contains("unexpected argument"),
            "{arguments:?}: {}",
            stderr(&output)
        );
    }
}

/// The command a hint prints, after `with: `, as words with `weft` replaced by the binary.
fn hint_command(text: &str, after: &str) -> Vec<String> {
    let line = text
        .lines()
        .find_map(|line| {
            line.split_once(after)
                .map(|(_, command)| command.to_owned())
        })
        .unwrap_or_else(|| panic!("no `{after}` in: {text}"));
    let line = line.split(" (the answer").next().unwrap_or(&line);
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("for word in {line}; do echo \"$word\"; done"))
        .output()
        .unwrap();
    let mut words: Vec<String> = stdout(&output).lines().map(str::to_owned).collect();
    assert_eq!(words.first().map(String::as_str), Some("weft"), "{line}");
    words.remove(0);
    words
}

#[test]
fn hints_are_commands_that_work_as_printed_with_their_database() {
    let folder = Folder::new();
    folder
        .write("twice.yaml", ASK_TWICE)
        .write("replies.yaml", REPLIES);
    let database = folder.path("my runs.db");
    let output = folder.weft(&["run", "twice.yaml", "--db", database.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let mut words = hint_command(&stderr(&output), "answer it with: ");
    assert!(
        words.iter().any(|word| word == database.to_str().unwrap()),
        "{words:?}"
    );
    let position = words.iter().position(|word| word == "<json>").unwrap();
    words[position] = r#"{"go": false}"#.to_owned();
    let arguments: Vec<&str> = words.iter().map(String::as_str).collect();
    let answered = folder.weft(&arguments);
    assert!(
        answered.status.success(),
        "{:?}: {}",
        arguments,
        stderr(&answered)
    );
    assert_eq!(json_output(&answered)["second"], json!("two"));

    // `weft run` points at unfinished runs with commands that reach them too.
    let interrupted = folder.weft(&["run", "twice.yaml", "--db", database.to_str().unwrap()]);
    let run = run_id_in(&stderr(&interrupted));
    let next = folder.weft(&["run", "twice.yaml", "--db", database.to_str().unwrap()]);
    let words = hint_command(&stderr(&next), &format!("({}): ", "interrupted"));
    assert_eq!(words[..2], ["resume".to_owned(), run.clone()]);
    let arguments: Vec<&str> = words.iter().map(String::as_str).collect();
    let shown = folder.weft(&[&arguments[..], &["--answer", r#"{"go": true}"#]].concat());
    assert!(shown.status.success(), "{}", stderr(&shown));
}

/// A sub-workflow that asks a model with a prompt `weft resume` must not see changed.
const CHILD: &str = "name: child
model: scripted:replies.yaml
state:
  said: { type: string }
entry: say
nodes:
  say: { kind: llm, prompt: 'second', writes: { said: '{{ reply }}' }, next: end }
output: '{{ state.said }}'
";

/// A workflow that waits for a person, then runs `child.yaml`.
const ASK_THEN_CHILD: &str = "name: parent
state:
  answer: { type: object }
  said: { type: string }
entry: check
nodes:
  check:
    kind: human
    ask: Go on?
    writes: { answer: '{{ input }}' }
    next: call
  call: { kind: workflow, path: parts/child.yaml, writes: { said: '{{ output }}' }, next: end }
output: { said: '{{ state.said }}' }
";

#[test]
fn a_run_goes_on_with_the_workflow_texts_it_started_with() {
    let folder = Folder::new();
    std::fs::create_dir_all(folder.path("flows/parts")).unwrap();
    folder
        .write("flows/parent.yaml", ASK_THEN_CHILD)
        .write("flows/parts/child.yaml", CHILD)
        .write("flows/parts/replies.yaml", REPLIES);
    let edited = folder.weft(&["run", "flows/parent.yaml"]);
    assert_eq!(edited.status.code(), Some(3), "{}", stderr(&edited));
    let edited = run_id_in(&stderr(&edited));
    let removed = folder.weft(&["run", "flows/parent.yaml"]);
    let removed = run_id_in(&stderr(&removed));

    // The sub-workflow's prompt changes: a new run sees the change, the waiting one not.
    folder.write(
        "flows/parts/child.yaml",
        &CHILD.replace("'second'", "'first'"),
    );
    let answered = folder.weft(&["resume", &edited, "--answer", r#"{"go": true}"#]);
    assert!(answered.status.success(), "{}", stderr(&answered));
    assert_eq!(json_output(&answered)["said"], json!("two"));
    let fresh = folder.weft(&["run", "flows/parent.yaml", "--answer", r#"{"go": true}"#]);
    assert_eq!(
        json_output(&fresh)["said"],
        json!("one"),
        "{}",
        stderr(&fresh)
    );

    let shown = stdout(&folder.weft(&["runs", "show", &removed]));
    assert!(
        shown.contains("texts     parent.yaml, parts/child.yaml (kept as the run started"),
        "{shown}"
    );

    // The files go away; the other waiting run goes on, from another folder too.
    std::fs::remove_file(folder.path("flows/parent.yaml")).unwrap();
    std::fs::remove_file(folder.path("flows/parts/child.yaml")).unwrap();
    let database = folder.path("weft.db");
    let elsewhere = tempfile::tempdir().unwrap();
    let output = weft_in(
        elsewhere.path(),
        &[
            "resume",
            &removed,
            "--answer",
            r#"{"go": false}"#,
            "--db",
            database.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(json_output(&output)["said"], json!("two"));
}

#[test]
fn runs_are_shown_failed_and_cancelled_from_the_database_alone() {
    let folder = Folder::new();
    folder
        .write("twice.yaml", ASK_TWICE)
        .write("replies.yaml", REPLIES);
    let first = folder.weft(&["run", "twice.yaml"]);
    let waiting = run_id_in(&stderr(&first));
    let second = folder.weft(&["run", "twice.yaml"]);
    let other = run_id_in(&stderr(&second));
    let finished = folder.weft(&["run", "twice.yaml", "--answer", r#"{"go": true}"#]);
    assert!(finished.status.success(), "{}", stderr(&finished));
    let done = run_id_in(&stderr(&finished));
    // The workflow file moves away.
    std::fs::rename(folder.path("twice.yaml"), folder.path("moved.yaml")).unwrap();

    let shown = folder.weft(&["runs", "show", &waiting]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let text = stdout(&shown);
    assert!(text.contains("status    interrupted"), "{text}");
    assert!(
        text.contains("question  Go on? (step 2, node `check`, id `check`)"),
        "{text}"
    );
    assert!(
        text.contains(&format!("weft resume {waiting} --answer '<json>'")),
        "{text}"
    );
    assert!(
        text.contains("\"required\":[\"go\"]"),
        "the answer's schema: {text}"
    );
    assert!(text.contains("scripted:replies.yaml: 1 call(s)"), "{text}");

    let shown = json_output(&folder.weft(&["runs", "show", &done, "--json"]));
    assert_eq!(shown["status"], json!("finished"));
    assert_eq!(shown["output"], json!({"first": "one", "second": "two"}));
    assert_eq!(shown["steps"], json!(3));
    assert_eq!(shown["models"][0]["calls"], json!(2));
    assert!(
        shown["models"][0]["prompt_tokens"].as_u64().unwrap() > 0,
        "{shown}"
    );
    assert!(shown["created_at_millis"].as_u64().unwrap() > 0, "{shown}");

    let resumed = folder.weft(&["resume", &done]);
    assert!(
        stderr(&resumed).contains("is already finished"),
        "{}",
        stderr(&resumed)
    );

    let failed = folder.weft(&["runs", "fail", &waiting, "--reason", "moved away"]);
    assert!(failed.status.success(), "{}", stderr(&failed));
    let cancelled = folder.weft(&["runs", "cancel", &other]);
    assert!(cancelled.status.success(), "{}", stderr(&cancelled));
    let listed = json_output(&folder.weft(&["runs", "list", "--json"]));
    let status_of = |run: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|summary| summary["id"] == json!(run))
            .map(|summary| summary["status"].clone())
    };
    assert_eq!(status_of(&waiting), Some(json!("failed")));
    assert_eq!(status_of(&other), Some(json!("cancelled")));
    assert_eq!(status_of(&done), Some(json!("finished")));
    let shown = folder.weft(&["runs", "show", &other]);
    assert!(
        stdout(&shown).contains("error     cancelled by hand"),
        "{}",
        stdout(&shown)
    );

    let again = folder.weft(&["runs", "cancel", &other]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("is already cancelled"),
        "{}",
        stderr(&again)
    );
    let missing = folder.weft(&["runs", "list", "--db", "nothing.db"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing)
            .contains("nothing.db does not exist; runs are kept where `weft run --db` put them"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn a_projects_tool_may_take_a_built_in_name() {
    let folder = Folder::new();
    folder
        .write(
            "tools/add.yaml",
            "name: add\ndescription: Adds up a shopping list.\ncommand: [sh, -c, \"echo '\\\"added to the list\\\"'\"]\nparameters:\n  type: object\n  properties: { item: { type: string } }\n  required: [item]\nidempotent: true\n",
        )
        .write(
            "flow.yaml",
            "name: list\nentry: put\nnodes:\n  put: { kind: tool, tool: add, arguments: { item: milk }, next: end }\noutput: { done: true }\n",
        );
    let output = folder.weft(&["run", "flow.yaml", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("added to the list"),
        "{}",
        stdout(&output)
    );
    let tools = json_output(&folder.weft(&["tools", "list", "--json"]));
    let add = tools
        .as_array()
        .unwrap()
        .iter()
        .find(|tool| tool["name"] == json!("add"))
        .unwrap();
    assert_eq!(add["origin"], json!("project"));
    assert_eq!(add["description"], json!("Adds up a shopping list."));
    assert!(add["shadows"].as_str().unwrap().contains("Adds"), "{add}");
    let text = stdout(&folder.weft(&["tools", "list"]));
    assert!(text.contains("shadows the built-in:"), "{text}");
}

#[test]
fn yaml_1_1_words_stay_text_in_workflows_and_manifests() {
    let folder = Folder::new();
    folder
        .write(
            "tools/hypot.yaml",
            "name: math_hypot\ndescription: The hypotenuse.\ncommand: [sh, -c, \"echo 5\"]\nparameters:\n  type: object\n  properties: { x: { type: number }, y: { type: number } }\n  required: [x, y]\nidempotent: true\n",
        )
        .write(
            "flow.yaml",
            "name: norway
state:
  country: { type: string, default: NO }
  answer: { type: string, default: n }
  side: { type: number }
entry: measure
nodes:
  measure: { kind: tool, tool: math_hypot, arguments: { x: 3, y: 4 }, writes: { side: '{{ output }}' }, next: end }
output: { country: '{{ state.country }}', answer: '{{ state.answer }}', side: '{{ state.side }}' }
",
        );
    let output = folder.weft(&["run", "flow.yaml"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        json_output(&output),
        json!({"country": "NO", "answer": "n", "side": 5})
    );
}

#[test]
fn graph_starts_no_server_and_validate_locates_one_that_cannot_start() {
    let folder = Folder::new();
    folder.write(
        "flow.yaml",
        "name: served
mcp:
  notes: { command: [./no-such-server] }
entry: ask
nodes:
  ask: { kind: agent, prompt: hi, tools: ['notes.*'], next: end }
",
    );
    let graph = folder.weft(&["graph", "flow.yaml"]);
    assert!(graph.status.success(), "{}", stderr(&graph));
    assert!(stdout(&graph).contains("flowchart"), "{}", stdout(&graph));

    let validated = folder.weft(&["validate", "flow.yaml"]);
    assert_eq!(validated.status.code(), Some(2));
    let text = stderr(&validated);
    assert!(
        text.contains("flow.yaml:3:3: error: MCP server `notes`: cannot start `./no-such-server`"),
        "{text}"
    );
    assert!(text.contains("1 error(s)"), "{text}");

    let offline = folder.weft(&["validate", "--offline", "flow.yaml"]);
    assert!(offline.status.success(), "{}", stderr(&offline));
    let report = json_output(&folder.weft(&["validate", "--json", "flow.yaml"]));
    assert_eq!(report[0]["ok"], json!(false));
    assert_eq!(report[0]["errors"][0]["line"], json!(3));
    let report = json_output(&folder.weft(&["validate", "--json", "--offline", "flow.yaml"]));
    assert_eq!(report[0]["ok"], json!(true));
}

#[test]
fn log_lines_are_colored_only_when_asked_or_on_a_terminal() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let folder = tempfile::tempdir().unwrap();
    let database = folder.path().join("weft.db");
    let run = |color: Option<&str>, no_color: bool| {
        let mut arguments = vec![
            "run",
            "workflows/counter.yaml",
            "--db",
            database.to_str().unwrap(),
        ];
        if let Some(color) = color {
            arguments.extend(["--color", color]);
        }
        let mut command = command_in(&root, &arguments);
        command.env("WEFT_LOG", "sqlx=debug");
        if no_color {
            command.env("NO_COLOR", "1");
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        let text = stderr(&output);
        assert!(text.contains("sqlx"), "the debug lines are there: {text}");
        text.contains('\u{1b}')
    };
    assert!(run(Some("always"), false), "--color always colors");
    assert!(!run(Some("never"), false), "--color never does not");
    assert!(!run(None, false), "standard error is no terminal here");
    assert!(!run(Some("auto"), true), "NO_COLOR");
}

#[test]
fn data_commands_print_json_for_scripts() {
    let folder = Folder::new();
    folder
        .write("twice.yaml", ASK_TWICE)
        .write("replies.yaml", REPLIES)
        .write(
            "bench.yaml",
            "replies:\n  - match: 'fox'\n    text: a steady reply\n",
        );
    let bench = folder.weft(&[
        "bench",
        "model",
        "--model",
        "scripted:bench.yaml",
        "--batch",
        "1",
        "--prompt-tokens",
        "16",
        "--decode-tokens",
        "4",
        "--json",
    ]);
    assert!(bench.status.success(), "{}", stderr(&bench));
    let report = json_output(&bench);
    assert_eq!(report["model"], json!("scripted:bench.yaml"));
    assert_eq!(report["batches"][0]["batch"], json!(1));
    assert!(
        report["batches"][0]["decode_tokens_per_second"].is_number(),
        "{report}"
    );

    folder.weft(&["run", "twice.yaml"]);
    let listed = json_output(&folder.weft(&["runs", "list", "--json"]));
    assert_eq!(listed[0]["status"], json!("interrupted"));
    assert_eq!(listed[0]["workflow"], json!("twice"));
}

#[test]
fn keys_are_shown_once_kept_as_hashes_and_revoked() {
    let folder = Folder::new();
    let made = folder.weft(&["keys", "create", "--tenant", "acme"]);
    assert!(made.status.success(), "{}", stderr(&made));
    let key = stdout(&made).trim().to_owned();
    assert!(key.starts_with("weft_") && key.len() == 69, "{key}");
    assert!(
        stderr(&made).contains("not shown again"),
        "{}",
        stderr(&made)
    );
    let other = json_output(&folder.weft(&["keys", "create", "--tenant", "globex", "--json"]));
    let other_id = other["id"].as_str().unwrap().to_owned();
    assert!(other["key"].as_str().unwrap().starts_with("weft_"));

    // The database holds neither key, only their hashes.
    let bytes = std::fs::read(folder.path("weft.db")).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains(&key[5..]), "the key is in the database");

    let listed = stdout(&folder.weft(&["keys", "list"]));
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(
        listed.contains("acme") && listed.contains("globex"),
        "{listed}"
    );
    assert!(!listed.contains("weft_"), "a key is listed: {listed}");
    let acme = json_output(&folder.weft(&["keys", "list", "--tenant", "acme", "--json"]));
    assert_eq!(acme.as_array().unwrap().len(), 1);
    assert_eq!(acme[0]["tenant"], json!("acme"));

    let revoked = folder.weft(&["keys", "revoke", &other_id]);
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    let listed = stdout(&folder.weft(&["keys", "list", "--tenant", "globex"]));
    assert!(listed.contains("revoked"), "{listed}");
    let again = folder.weft(&["keys", "revoke", &other_id]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("is revoked already"),
        "{}",
        stderr(&again)
    );
    let no_tenant = folder.weft(&["keys", "create", "--tenant", " "]);
    assert_eq!(no_tenant.status.code(), Some(2));
}
