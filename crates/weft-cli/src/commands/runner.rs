//! What `weft run`, `weft resume` and `weft runs fork` share: the runner (a runtime over a
//! store, with its observer, its answers and Ctrl-C), and driving a run to its end while
//! answering `human` nodes.

use super::arguments::{
    AnswerArguments, DatabaseArgument, GivenAnswer, ModelArguments, WorkspaceArgument, parse_answer,
};
use super::{exit, fail, hints};
use crate::observer::{JsonLines, Terminal};
use crate::project::Project;
use serde_json::Value;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use weft::workflow::ModelOverrides;
use weft_core::{Database, RunStatus, RunStore, SessionInfo, SessionStore};
use weft_runtime::{ActiveRun, CancellationToken, Models, RunObserver, Runtime};
use weft_workflow::Workflow;

/// Options of every command that runs a workflow.
#[derive(Debug, Clone, clap::Args)]
pub struct RunnerArguments {
    #[command(flatten)]
    pub models: ModelArguments,
    #[command(flatten)]
    pub answers: AnswerArguments,
    /// Print one JSON event per line on standard output instead of lines for people.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub database: DatabaseArgument,
    #[command(flatten)]
    pub workspace: WorkspaceArgument,
    /// Events between two snapshots of a run's state (0: none); resuming a run replays
    /// only the events after its latest snapshot.
    #[arg(long, value_name = "EVENTS", default_value_t = weft_runtime::SNAPSHOT_EVERY)]
    pub snapshot_every: u64,
    /// How long a run in a session waits while another run writes that session (`30s`,
    /// `2m`; `0s`: fail at once).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = super::arguments::parse_wait)]
    pub wait_timeout: std::time::Duration,
}

/// A runtime over a store, ready to drive runs.
pub struct Runner {
    pub runtime: Runtime,
    pub store: Arc<dyn RunStore>,
    terminal: Arc<Terminal>,
    json: bool,
    answers: std::vec::IntoIter<GivenAnswer>,
    /// Never fired: the CLI stops runs with the runtime's shutdown instead, and cancels
    /// them for good with `weft runs cancel`.
    pub cancel: CancellationToken,
    /// Whether weft waits for a person to type an answer (Ctrl-C then quits at once).
    asking: Arc<AtomicBool>,
    database: DatabaseArgument,
}

impl Runner {
    /// A runner over `store` with `tools`; a message for a person when the options are
    /// wrong.
    /// `replaced` are the models that replace the workflow's (opened now, so a bad one
    /// fails before the run starts).
    pub fn open(
        arguments: &RunnerArguments,
        project: &Project,
        replaced: &ModelOverrides,
        database: Arc<dyn Database>,
        tools: weft_tools::Registry,
    ) -> Result<Self, ExitCode> {
        let store: Arc<dyn RunStore> = database.clone();
        let sessions: Arc<dyn SessionStore> = database;
        let answers = arguments
            .answers
            .read()
            .map_err(|message| fail(exit::INVALID, message))?;
        let models = models(project, replaced)?;
        let interactive = !arguments.json && std::io::stderr().is_terminal();
        let terminal = Arc::new(Terminal::new(interactive));
        let observer: Arc<dyn RunObserver> = if arguments.json {
            Arc::new(JsonLines)
        } else {
            terminal.clone()
        };
        let shutdown = CancellationToken::new();
        let asking = Arc::new(AtomicBool::new(false));
        stop_on_interrupt(shutdown.clone(), asking.clone());
        let guards = weft::guards::guards(project.settings.clone());
        let runtime = Runtime::builder()
            .models(Arc::new(models))
            .guards(Arc::new(guards))
            .store(store.clone())
            .sessions(sessions)
            .session_wait(arguments.wait_timeout)
            .observer(observer)
            .tools(Arc::new(tools))
            .snapshot_every(arguments.snapshot_every)
            .shutdown(shutdown)
            .build();
        Ok(Self {
            runtime,
            store,
            terminal,
            json: arguments.json,
            answers: answers.into_iter(),
            cancel: CancellationToken::new(),
            asking,
            database: arguments.database.clone(),
        })
    }

    /// Whether events go out as JSON lines.
    pub fn json(&self) -> bool {
        self.json
    }

    /// Answers the run's `human` nodes until it ends or no answer is at hand, then reports.
    pub async fn finish(&mut self, run: &mut ActiveRun, started: std::time::Instant) -> ExitCode {
        while run.status() == RunStatus::Interrupted && !run.stopped() {
            self.asking.store(true, Ordering::SeqCst);
            let answer = next_answer(run, &mut self.answers, &self.terminal);
            self.asking.store(false, Ordering::SeqCst);
            let Some((question, answer)) = answer else {
                break;
            };
            match self
                .runtime
                .answer(run, Some(&question), answer, &self.cancel)
                .await
            {
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
        self.report(run, started.elapsed())
    }

    /// Says how the run ended and returns the exit code for it.
    fn report(&self, run: &ActiveRun, elapsed: std::time::Duration) -> ExitCode {
        let database = &self.database;
        if run.stopped() {
            eprintln!(
                "stopped: run {} can go on from where it stopped with: {}",
                run.id(),
                hints::resume(run.id(), database)
            );
            return ExitCode::from(exit::CANCELLED);
        }
        match run.status() {
            RunStatus::Finished => {
                if !self.json {
                    eprintln!(
                        "finished in {} ms ({} events, run {})",
                        elapsed.as_millis(),
                        run.event_count(),
                        run.id()
                    );
                    let output = run.output().cloned().unwrap_or_default();
                    say!(
                        "{}",
                        serde_json::to_string_pretty(&output)
                            .unwrap_or_else(|_| output.to_string())
                    );
                }
                ExitCode::SUCCESS
            }
            RunStatus::Interrupted => {
                let questions = run.questions();
                let several = questions.len() > 1;
                for question in questions {
                    let id = several.then_some(question.id.as_str());
                    let named = id
                        .map(|id| format!(" (question `{id}`)"))
                        .unwrap_or_default();
                    eprintln!(
                        "the run is waiting at node `{}`{named}: {}\n{}",
                        question.node,
                        question.question,
                        hints::answer(run.id(), id, question.input_schema.as_ref(), database)
                    );
                }
                ExitCode::from(exit::INTERRUPTED)
            }
            RunStatus::Failed => {
                if !self.json
                    && let Some(error) = run.failure()
                {
                    eprintln!(
                        "error: the run failed ({}): {}{}",
                        error.kind,
                        error.message,
                        hints::for_failure(&error.message)
                    );
                }
                ExitCode::from(exit::FAILED)
            }
            RunStatus::Cancelled => ExitCode::from(exit::CANCELLED),
            RunStatus::NeedsAttention => {
                let calls = run
                    .attention()
                    .map(|attention| attention.calls.clone())
                    .unwrap_or_default();
                eprintln!("{}", hints::attention(run.id(), &calls, database));
                ExitCode::from(exit::NEEDS_ATTENTION)
            }
            RunStatus::Queued | RunStatus::Running => fail(
                exit::FAILED,
                "the run stopped while still running; this is a bug in weft",
            ),
        }
    }
}

/// The runtime's models: the default for nodes and workflows that name none (weft.toml's
/// `model`), and the models that replace the workflow's (`--model`, `$WEFT_MODEL`,
/// `--node-model`), opened now.
fn models(project: &Project, replaced: &ModelOverrides) -> Result<Models, ExitCode> {
    let default = weft::models::default_spec(None, &project.workspace, &project.settings);
    let models = weft::models::models(project.settings.clone(), default.as_ref())
        .map_err(|error| fail(exit::INVALID, error))?;
    let specs = replaced
        .workflow
        .iter()
        .chain(replaced.nodes.values())
        .map(String::as_str);
    // Replacing specs are anchored already; names read weft.toml.
    weft::models::with_opened(models, specs, &project.workspace, &project.settings)
        .map_err(|error| fail(exit::INVALID, error))
}

/// Ctrl-C stops the run the way a crash would, but cleanly (the runtime's shutdown): model
/// calls are dropped, tool calls in flight get a few seconds, and the run stays resumable.
/// A second Ctrl-C, or one while weft waits for a typed answer, quits at once.
fn stop_on_interrupt(shutdown: CancellationToken, asking: Arc<AtomicBool>) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        if asking.load(Ordering::SeqCst) {
            eprintln!();
            std::process::exit(i32::from(exit::CANCELLED));
        }
        eprintln!(
            "\nstopping: model calls are dropped and tool calls in flight have {} s to finish; press Ctrl-C again to quit at once",
            weft_runtime::SHUTDOWN_GRACE.as_secs()
        );
        shutdown.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(i32::from(exit::CANCELLED));
        }
    });
}

/// The next answer: from `--answer`, else asked on the terminal (again after a typo), else
/// a line of standard input.
fn next_answer(
    run: &ActiveRun,
    answers: &mut impl Iterator<Item = GivenAnswer>,
    terminal: &Terminal,
) -> Option<(String, Value)> {
    let questions = run.questions();
    let question = questions.first()?;
    if let Some(given) = answers.next() {
        let open: Vec<&str> = questions
            .iter()
            .map(|question| question.id.as_str())
            .collect();
        return match given.resolve(&open) {
            Ok(answer) => Some(answer),
            Err(message) => {
                eprintln!("error: {message}");
                None
            }
        };
    }
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
                Ok(answer) => return Some((question.id.clone(), answer)),
                Err(message) if interactive => eprintln!("error: {message}"),
                Err(message) => {
                    eprintln!("error: the answer on standard input: {message}");
                    return None;
                }
            },
        }
    }
}

/// Says so when `session` was made for another workflow than `workflow` (the command line
/// may run any workflow in a session; a daemon runs the session's own).
pub fn say_if_made_for_another(session: &SessionInfo, workflow: &Workflow) {
    if session.workflow != workflow.name {
        eprintln!(
            "note: session `{}` was made for workflow `{}` ({}); running `{}` in it",
            session.name, session.workflow, session.source, workflow.name
        );
    }
}
