//! Tools a workflow turns on or brings, end to end through the `weft` binary: `shell`,
//! MCP servers from the workflow and from `weft.toml`, and the errors for each.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The example MCP server of `weft-tools`, built by `cargo test --workspace`.
fn mcp_server() -> PathBuf {
    let program = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("examples")
        .join("mcp_server");
    assert!(
        program.exists(),
        "{} is missing: run the tests with `cargo test --workspace`, or build it with `cargo build -p weft-tools --example mcp_server`",
        program.display()
    );
    program
}

/// Runs `weft` in `folder` (its `weft.toml` and `tools/` are the ones that count).
fn weft_in(folder: &Path, arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(arguments)
        .current_dir(folder)
        .stdin(Stdio::null())
        .env_remove("WEFT_MODEL")
        .env_remove("WEFT_CONFIG")
        .env("WEFT_DB", folder.join("weft.db"))
        .output()
        .expect("weft runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const REPLIES: &str = r#"replies:
  - match: '^Tidy up'
    tool_calls:
      - { name: shell, arguments: { program: wc, arguments: [-w, notes.txt] } }
      - { name: notes.add_note, arguments: { text: buy milk } }
  - match: 'count'
    text: done
"#;

#[test]
fn shell_and_an_mcp_server_serve_an_agent() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("notes.txt"), "one two three four\n").unwrap();
    std::fs::write(folder.path().join("replies.yaml"), REPLIES).unwrap();
    let workflow = format!(
        "name: tidy\nshell: {{ allow: [wc] }}\nmcp:\n  notes: {{ command: ['{}'] }}\nentry: a\nnodes:\n  a: {{ kind: agent, prompt: Tidy up, tools: [shell, notes.*], next: end }}\n",
        mcp_server().display()
    );
    std::fs::write(folder.path().join("tidy.yaml"), workflow).unwrap();
    let output = weft_in(
        folder.path(),
        &[
            "run",
            "--json",
            "--model",
            "scripted:replies.yaml",
            "tidy.yaml",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let results: Vec<Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|event| event["event"]["type"] == "tool_call_finished")
        .map(|event| event["event"].clone())
        .collect();
    assert_eq!(results.len(), 2, "{}", stdout(&output));
    let text = results.iter().map(Value::to_string).collect::<String>();
    assert!(text.contains("4 notes.txt"), "{text}");
    assert!(text.contains(r#""count":1"#), "{text}");

    // `weft tools list --workflow` shows what the file turns on and brings.
    let listed = weft_in(
        folder.path(),
        &["tools", "list", "--json", "--workflow", "tidy.yaml"],
    );
    assert!(listed.status.success(), "{}", stderr(&listed));
    let names: Vec<String> = serde_json::from_str::<Value>(&stdout(&listed))
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["name"].as_str().unwrap().to_owned())
        .collect();
    for name in ["shell", "notes.add_note", "notes.list_notes", "notes.fail"] {
        assert!(names.contains(&name.to_owned()), "{name} in {names:?}");
    }
}

#[test]
fn tools_that_are_off_or_misspelled_are_located_errors_with_a_way_out() {
    let folder = tempfile::tempdir().unwrap();
    let workflow = format!(
        "name: t\nmcp:\n  notes: {{ command: ['{}'] }}\nentry: a\nnodes:\n  a: {{ kind: agent, prompt: Go, tools: [shell, notes.add_not, http_get], next: end }}\n",
        mcp_server().display()
    );
    std::fs::write(folder.path().join("t.yaml"), workflow).unwrap();
    let output = weft_in(folder.path(), &["validate", "t.yaml"]);
    assert_eq!(output.status.code(), Some(2));
    let errors = stderr(&output);
    assert!(
        errors.contains("t.yaml:6:41: error: unknown tool `shell`"),
        "{errors}"
    );
    assert!(
        errors.contains("add `shell: { allow: [<program>, ...] }`"),
        "{errors}"
    );
    assert!(errors.contains("unknown tool `notes.add_not`"), "{errors}");
    assert!(
        errors.contains("did you mean `notes.add_note`?"),
        "{errors}"
    );
    assert!(
        errors.contains("add `http_get: { allow_hosts: [<host>, ...] }`"),
        "{errors}"
    );

    std::fs::write(
        folder.path().join("bad.yaml"),
        "name: t\nshell: { allow: [] }\nhttp_get: { allow_hosts: ['https://x.test'], timeout: soon }\nmcp:\n  both: { command: [a], url: 'http://127.0.0.1:1/mcp' }\n  'no good': { url: 'ftp://x' }\nentry: a\nnodes:\n  a: { kind: end }\n",
    )
    .unwrap();
    let output = weft_in(folder.path(), &["validate", "bad.yaml"]);
    assert_eq!(output.status.code(), Some(2));
    let errors = stderr(&output);
    for expected in [
        "bad.yaml:2:17: error: `shell.allow` is empty",
        "bad.yaml:3:26: error: `https://x.test` is not a host name",
        "bad.yaml:3:55: error: `soon` is not a duration",
        "bad.yaml:5:3: error: an MCP server has either `command` or `url`, not both",
        "bad.yaml:6:3: error: `no good` cannot name an MCP server",
        "bad.yaml:6:21: error: `ftp://x` is not an http:// or https:// URL",
    ] {
        assert!(errors.contains(expected), "{expected}\n{errors}");
    }
}

#[test]
fn weft_toml_lists_mcp_servers_for_every_run_and_its_mistakes_are_located() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(
        folder.path().join("weft.toml"),
        format!(
            "[mcp.notes]\ncommand = ['{}']\ntimeout = '5s'\n",
            mcp_server().display()
        ),
    )
    .unwrap();
    let listed = weft_in(folder.path(), &["tools", "list"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(
        stdout(&listed).contains("notes.add_note\n  Adds a note"),
        "{}",
        stdout(&listed)
    );

    std::fs::write(
        folder.path().join("weft.toml"),
        "[mcp.notes]\ncommand = ['x']\ntimeuot = '5s'\n",
    )
    .unwrap();
    let listed = weft_in(folder.path(), &["tools", "list"]);
    assert_eq!(listed.status.code(), Some(2));
    assert!(
        stderr(&listed).contains("weft.toml:3:1: unknown field `timeuot`"),
        "{}",
        stderr(&listed)
    );

    // A server that cannot start stops the run before anything is recorded, saying why.
    std::fs::write(
        folder.path().join("weft.toml"),
        "[mcp.broken]\ncommand = ['sh', '-c', 'echo no API key >&2; exit 1']\n",
    )
    .unwrap();
    let listed = weft_in(folder.path(), &["tools", "list"]);
    assert_eq!(listed.status.code(), Some(2));
    let errors = stderr(&listed);
    assert!(errors.contains("MCP server `broken`"), "{errors}");
    assert!(errors.contains("no API key"), "{errors}");
    assert!(!errors.contains("panicked"), "{errors}");
}

#[tokio::test]
async fn cancelling_a_run_kills_a_running_command_tool_with_what_it_started() {
    let folder = tempfile::tempdir().unwrap();
    let pid_file = folder.path().join("grandchild.pid");
    std::fs::write(
        folder.path().join("slow.yaml"),
        format!(
            "name: slow\ndescription: Starts a long job.\ncommand: [sh, -c, 'sleep 60 & echo $! > {}; wait']\nparameters: {{ type: object }}\n",
            pid_file.display()
        ),
    )
    .unwrap();
    let mut tools = weft::tools::Registry::new();
    weft::tools::command::register_folder(&mut tools, folder.path()).unwrap();
    let runtime = weft::Runtime::builder()
        .tools(std::sync::Arc::new(tools))
        .build();
    let workflow = weft::Loader::new()
        .load_source(
            Path::new("slow.yaml"),
            "name: t\nentry: a\nnodes:\n  a: { kind: tool, tool: slow, next: end }\n",
        )
        .unwrap();
    let cancel = weft::runtime::CancellationToken::new();
    let trigger = cancel.clone();
    let watched = pid_file.clone();
    tokio::spawn(async move {
        while !watched.exists() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        trigger.cancel();
    });
    let run = runtime.start(workflow, Value::Null, &cancel).await.unwrap();
    assert_eq!(run.status(), weft::RunStatus::Cancelled);
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let gone = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        };
        if gone {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{pid} still runs");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

const CHOOSY: &str = r#"name: choosy
model: scripted:choosy-replies.yaml
state: { answer: { type: string } }
entry: think
nodes:
  think:
    kind: agent
    prompt: "CHOICE"
    tools: [add, echo]
    tool_choice: CHOICE
    writes: { answer: "{{ reply }}" }
    next: end
"#;

/// A model that must call a tool and answers in text fails the step, whichever backend
/// it is (here the scripted one, which cannot be constrained); one that calls the named
/// tool goes on, and may answer in text after it.
#[test]
fn an_agent_holds_its_model_to_its_tool_choice() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(
        folder.path().join("choosy-replies.yaml"),
        "replies:\n  - match: '^required$'\n    text: I will not.\n  - match: '^add$'\n    tool_calls: [{ name: add, arguments: { a: 2, b: 3 } }]\n  - match: '5'\n    text: five\n",
    )
    .unwrap();
    for (choice, code, said) in [
        (
            "required",
            Some(1),
            "answered without calling a tool although the node's tool_choice is required",
        ),
        ("add", Some(0), "five"),
    ] {
        std::fs::write(
            folder.path().join("choosy.yaml"),
            CHOOSY.replace("CHOICE", choice),
        )
        .unwrap();
        let output = weft_in(folder.path(), &["run", "choosy.yaml"]);
        assert_eq!(output.status.code(), code, "{choice}: {}", stderr(&output));
        let all = format!("{}{}", stdout(&output), stderr(&output));
        assert!(all.contains(said), "{choice}: {all}");
    }
}
