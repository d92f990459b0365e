//! `weft chat FILE --session NAME`: a conversation at the terminal. Each line typed is one
//! run of the workflow in the session (the line is its input field `--field`, `message`
//! unless told otherwise); replies stream as they are written. The session keeps the
//! conversation, so a later `weft chat` goes on where this one left off.

use super::arguments;
use super::runner::{Runner, RunnerArguments};
use super::{exit, fail, open_store};
use crate::project::Project;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use weft::store::OpenMode;
use weft_core::SessionInfo;

#[derive(Debug, clap::Args)]
pub struct ChatArguments {
    /// The workflow file.
    file: PathBuf,
    /// The session to talk in (created on first use).
    #[arg(long, value_name = "NAME")]
    session: String,
    /// The input field each line is given as.
    #[arg(long, default_value = "message")]
    field: String,
    #[command(flatten)]
    runner: RunnerArguments,
}

// Read by the tensor-parallel worker, which follows its parent's arguments.
#[cfg(any(feature = "mistralrs", test))]
impl ChatArguments {
    /// The workflow file.
    pub fn file(&self) -> &std::path::Path {
        &self.file
    }

    /// The options it shares with the other commands that run workflows.
    pub fn runner(&self) -> &RunnerArguments {
        &self.runner
    }
}

pub fn run(arguments: ChatArguments) -> ExitCode {
    super::block_on(chat(arguments))
}

async fn chat(arguments: ChatArguments) -> ExitCode {
    let project = match Project::open(arguments.runner.workspace.workspace.as_deref()) {
        Ok(project) => project,
        Err(code) => return code,
    };
    let current = std::env::current_dir().unwrap_or_default();
    let models = arguments.runner.models.overrides(&current);
    let (workflow, tools) = match project.load_workflow(&arguments.file, &models).await {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    if !workflow.fields.contains_key(&arguments.field) {
        return fail(
            exit::INVALID,
            format!(
                "{} has no state field `{}` to give each line as; name one with --field",
                arguments.file.display(),
                arguments.field
            ),
        );
    }
    let store = match open_store(&arguments.runner.database, OpenMode::CreateIfMissing).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let mut runner = match Runner::open(&arguments.runner, &project, &models, store, tools) {
        Ok(runner) => runner,
        Err(code) => return code,
    };
    let session = match runner
        .runtime
        .open_session(&arguments.session, &workflow)
        .await
    {
        Ok(session) => session,
        Err(error) => return fail(exit::INVALID, error),
    };
    greet(&session);
    super::runner::say_if_made_for_another(&session, &workflow);
    let setup = arguments::setup(
        &project.workspace,
        project.settings.path.as_deref(),
        &models,
    );
    converse(
        &mut runner,
        &arguments.field,
        workflow,
        setup,
        session.reference(),
    )
    .await
}

/// Reads lines until the input ends, each one a run in the session.
async fn converse(
    runner: &mut Runner,
    field: &str,
    workflow: std::sync::Arc<weft::Workflow>,
    setup: weft_core::RunSetup,
    session: weft_core::SessionRef,
) -> ExitCode {
    let interactive = std::io::stdin().is_terminal();
    let mut lines = std::io::stdin().lock().lines();
    loop {
        if interactive {
            eprint!("> ");
            let _ = std::io::stderr().flush();
        }
        let Some(Ok(line)) = lines.next() else { break };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line == "/exit" || line == "/quit" {
            break;
        }
        let input = serde_json::json!({ field: line });
        let started = std::time::Instant::now();
        let outcome = runner
            .runtime
            .start_in_session(
                workflow.clone(),
                input,
                Some(setup.clone()),
                session.clone(),
                &runner.cancel,
            )
            .await;
        match outcome {
            Ok(mut run) => {
                let code = runner.finish(&mut run, started).await;
                if run.stopped() {
                    return code;
                }
            }
            Err(error) => eprintln!("error: {error}"),
        }
    }
    ExitCode::SUCCESS
}

/// Says where the conversation stands.
fn greet(session: &SessionInfo) {
    let name = &session.name;
    if session.messages == 0 {
        eprintln!("session `{name}`: new. Type a message; Ctrl-D or /exit ends.");
    } else {
        eprintln!(
            "session `{name}`: {} messages so far; going on where it left off. Ctrl-D or /exit ends.",
            session.messages
        );
    }
}
