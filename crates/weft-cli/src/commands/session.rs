//! What `weft run` and `weft resume` share: the store, the runtime with its observer, and
//! driving a run to its end while answering `human` nodes.

use super::{exit, fail};
use crate::environment;
use crate::observer::{JsonLines, Terminal};
use serde_json::Value;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use weft_core::RunStore;
use weft_core::{ChatModel, ErrorKind, ModelError, RunStatus};
use weft_runtime::{ActiveRun, CancellationToken, Models, RunObserver, Runtime};
use weft_store::{PostgresStore, SqliteStore};

/// Options every command that runs workflows takes.
#[derive(Debug, Clone, clap::Args)]
pub struct SessionArguments {
    /// The default model: `openai:URL[#model]`, `tgi:URL[#model]`,
    /// `mistralrs:PATH_OR_HUB_ID[?isq=fp8&devices=0,1]`, `scripted:FILE`, or a name defined
    /// in weft.toml (default: $WEFT_MODEL, then weft.toml's `model`).
    #[arg(long, short)]
    pub model: Option<String>,
    /// Print one JSON event per line on standard output instead of lines for people.
    #[arg(long)]
    pub json: bool,
    /// An answer (JSON) for a `human` node; repeat for several, used in order.
    #[arg(long = "answer", value_name = "JSON")]
    pub answers: Vec<String>,
    /// The weft database that keeps runs: an SQLite file, or a `postgres://` URL.
    #[arg(long, default_value = "weft.db", env = environment::DATABASE)]
    pub db: String,
    /// Events between two snapshots of a run's state (0: none); resuming a run replays
    /// only the events after its latest snapshot.
    #[arg(long, value_name = "EVENTS", default_value_t = weft_runtime::SNAPSHOT_EVERY)]
    pub snapshot_every: u64,
}

/// A runtime over a store, ready to drive runs.
pub struct Session {
    pub runtime: Runtime,
    pub store: Arc<dyn RunStore>,
    pub terminal: Arc<Terminal>,
    pub json: bool,
    answers: std::vec::IntoIter<Value>,
    pub cancel: CancellationToken,
}

/// Builds a session over `store` with `tools`; a message for a person when the options are
/// wrong.
pub async fn open(
    arguments: &SessionArguments,
    store: Arc<dyn RunStore>,
    tools: weft_tools::Registry,
) -> Result<Session, ExitCode> {
    let mut answers: Vec<Value> = Vec::with_capacity(arguments.answers.len());
    for answer in &arguments.answers {
        match parse_answer(answer) {
            Ok(value) => answers.push(value),
            Err(message) => {
                return Err(fail(
                    exit::INVALID,
                    format!("--answer {answer:?}: {message}"),
                ));
            }
        }
    }
    let models = models(arguments.model.clone()).map_err(|message| fail(exit::INVALID, message))?;
    let terminal = Arc::new(Terminal::new(
        !arguments.json && std::io::stderr().is_terminal(),
    ));
    let observer: Arc<dyn RunObserver> = if arguments.json {
        Arc::new(JsonLines)
    } else {
        terminal.clone()
    };
    let runtime = Runtime::builder()
        .models(Arc::new(models))
        .store(store.clone())
        .observer(observer)
        .tools(Arc::new(tools))
        .snapshot_every(arguments.snapshot_every)
        .build();
    let cancel = CancellationToken::new();
    let on_interrupt = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_interrupt.cancel();
        }
    });
    Ok(Session {
        runtime,
        store,
        terminal,
        json: arguments.json,
        answers: answers.into_iter(),
        cancel,
    })
}

/// Opens the store `--db` names: a `postgres://` URL or an SQLite file.
pub async fn open_store(db: &str) -> Result<Arc<dyn RunStore>, ExitCode> {
    if db.starts_with("postgres://") || db.starts_with("postgresql://") {
        let store = PostgresStore::connect(db)
            .await
            .map_err(|error| fail(exit::INVALID, error))?;
        return Ok(Arc::new(store));
    }
    let store = SqliteStore::open(Path::new(db))
        .await
        .map_err(|error| fail(exit::INVALID, error))?;
    Ok(Arc::new(store))
}

/// The summary of a top-level run of `store`, its workflow read again from the file the
/// run recorded, with that workflow's tools; `verb` ("resume", "fork") words the errors.
pub async fn top_level_run(
    store: &dyn RunStore,
    run: weft_core::RunId,
    verb: &str,
) -> Result<
    (
        weft_core::RunSummary,
        Arc<weft_workflow::Workflow>,
        weft_tools::Registry,
    ),
    ExitCode,
> {
    let summary = store
        .run(run)
        .await
        .map_err(|error| fail(exit::INVALID, error))?;
    if let Some(parent) = &summary.parent {
        return Err(fail(
            exit::INVALID,
            format!(
                "run {run} is a sub-workflow's run; {verb} its parent run {} instead",
                parent.run
            ),
        ));
    }
    match super::toolbox::load_checked(Path::new(&summary.source)).await {
        Ok((workflow, tools)) => Ok((summary, workflow, tools)),
        Err(problem) => {
            problem.print();
            Err(fail(
                exit::INVALID,
                format!("run {run} needs its workflow file {}", summary.source),
            ))
        }
    }
}

impl Session {
    /// Answers the run's `human` nodes until it ends or no answer is at hand, then reports.
    pub async fn finish(&mut self, run: &mut ActiveRun, started: std::time::Instant) -> ExitCode {
        while run.status() == RunStatus::Interrupted {
            let Some(answer) = next_answer(run, &mut self.answers, &self.terminal) else {
                break;
            };
            match self.runtime.resume(run, answer, &self.cancel).await {
                Ok(()) => {}
                Err(weft_runtime::RuntimeError::Run(
                    error @ weft_workflow::RunError::InvalidAnswer { .. },
                )) => {
                    eprintln!("error: {error}");
                    if !std::io::stdin().is_terminal() {
                        return ExitCode::from(exit::INVALID);
                    }
                }
                Err(error) => return fail(exit::FAILED, error),
            }
        }
        self.terminal.finish();
        report(run, self.json, started.elapsed())
    }
}

pub fn report(run: &ActiveRun, json: bool, elapsed: std::time::Duration) -> ExitCode {
    match run.status() {
        RunStatus::Finished => {
            if !json {
                eprintln!(
                    "finished in {} ms ({} events, run {})",
                    elapsed.as_millis(),
                    run.event_count(),
                    run.id()
                );
                let output = run.output().cloned().unwrap_or_default();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&output).unwrap_or_else(|_| output.to_string())
                );
            }
            ExitCode::SUCCESS
        }
        RunStatus::Interrupted => {
            if let Some(question) = run.question() {
                eprintln!(
                    "the run is waiting at node `{}`: {}\nanswer it with: weft resume {} --input '<json>'{}",
                    question.node,
                    question.question,
                    run.id(),
                    question
                        .input_schema
                        .map(|schema| format!(" (matching {schema})"))
                        .unwrap_or_default()
                );
            }
            ExitCode::from(exit::INTERRUPTED)
        }
        RunStatus::Failed => {
            if !json && let Some(error) = run.failure() {
                eprintln!("error: the run failed ({}): {}", error.kind, error.message);
            }
            ExitCode::from(exit::FAILED)
        }
        RunStatus::Cancelled => ExitCode::from(exit::CANCELLED),
        RunStatus::NeedsAttention => {
            eprintln!("{}", attention_message(run));
            ExitCode::from(exit::NEEDS_ATTENTION)
        }
        RunStatus::Running => fail(
            exit::FAILED,
            "the run stopped while still running; this is a bug in weft",
        ),
    }
}

/// What a run that needs attention waits on, and the two ways on.
pub fn attention_message(run: &ActiveRun) -> String {
    let mut message = format!("run {} needs attention:", run.id());
    if let Some(attention) = run.attention() {
        for call in &attention.calls {
            message.push_str(&format!("\n  - {}", call.describe()));
            if call.run != run.id() {
                message.push_str(&format!(" (in sub-workflow run {})", call.run));
            }
        }
    }
    message.push_str(&format!(
        "\ncheck whether the call's effect happened, then either run it again with: weft resume {0} --retry\nor fail the run with: weft runs fail {0}",
        run.id()
    ));
    message
}

/// The next answer: from `--answer`, else asked on the terminal (again after a typo), else
/// a line of standard input.
fn next_answer(
    run: &ActiveRun,
    answers: &mut impl Iterator<Item = Value>,
    terminal: &Terminal,
) -> Option<Value> {
    if let Some(answer) = answers.next() {
        return Some(answer);
    }
    let question = run.question()?;
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    loop {
        if interactive {
            terminal.finish();
            let hint = question
                .input_schema
                .as_ref()
                .map(|schema| format!(" (JSON matching {schema})"))
                .unwrap_or_default();
            eprint!("{}{hint}\n> ", question.question);
            let _ = std::io::stderr().flush();
        }
        let mut line = String::new();
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => return None,
            Ok(_) => match parse_answer(line.trim()) {
                Ok(answer) => return Some(answer),
                Err(message) if interactive => eprintln!("error: {message}"),
                Err(message) => {
                    eprintln!("error: the answer on standard input: {message}");
                    return None;
                }
            },
        }
    }
}

/// An answer is JSON; text that does not look like JSON is taken as a string.
pub fn parse_answer(text: &str) -> Result<Value, String> {
    if text.is_empty() {
        return Err("the answer is empty".into());
    }
    match serde_json::from_str(text) {
        Ok(value) => Ok(value),
        Err(error) if text.starts_with(['{', '[', '"']) => {
            Err(format!("the answer is not valid JSON: {error}"))
        }
        Err(_) => Ok(Value::String(text.to_owned())),
    }
}

pub fn read_input(argument: Option<&str>) -> Result<Value, String> {
    let Some(argument) = argument else {
        return Ok(Value::Null);
    };
    let (text, origin) = match argument.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path)
                .map_err(|error| format!("cannot read --input file {path}: {error}"))?,
            path.to_owned(),
        ),
        None => (argument.to_owned(), "--input".to_owned()),
    };
    serde_json::from_str(&text).map_err(|error| {
        format!(
            "{origin}:{}:{}: the input is not valid JSON: {error}; give a JSON object such as '{{\"question\": \"...\"}}'",
            error.line(),
            error.column()
        )
    })
}

fn models(argument: Option<String>) -> Result<Models, String> {
    let settings = Arc::new(crate::config::load()?);
    let opener_settings = settings.clone();
    let opener = Box::new(
        move |spec: &str, base: &Path| -> Result<Arc<dyn ChatModel>, ModelError> {
            crate::models::resolve(spec, base, &opener_settings)
                .and_then(|resolved| crate::models::open(&resolved))
                .map_err(|message| ModelError::new(ErrorKind::InvalidInput, message))
        },
    );
    let mut models = Models::new().with_opener(opener);
    if let Some((spec, base)) = crate::models::default_spec(argument, &settings)? {
        let resolved = crate::models::resolve(&spec, &base, &settings)?;
        models = models.with_default(crate::models::open(&resolved)?);
    }
    Ok(models)
}
