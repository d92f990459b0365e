//! The `weft` command: run, validate, draw and describe workflows.
//!
//! The command line over the library: arguments, terminal output and exit codes. What it
//! composes (model specs, weft.toml, tools, stores) is the facade's (`weft::config`,
//! `weft::models`, `weft::toolbox`, `weft::store`), which the daemon calls too. The
//! package's `weft` binary calls [`main`].

#[macro_use]
mod output;
mod commands;
mod environment;
mod observer;
mod project;
mod render;
#[cfg(any(feature = "mistralrs", test))]
mod worker;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// weft: agent workflows in YAML, run durably.
#[derive(Debug, Parser)]
#[command(name = "weft", version, about, propagate_version = true)]
struct Cli {
    /// When to color log lines: auto (when standard error is a terminal and $NO_COLOR is
    /// unset), always or never.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    color: Color,
    #[command(subcommand)]
    command: Commands,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Color {
    /// On a terminal, unless $NO_COLOR is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

impl Color {
    /// Whether to write color codes to standard error.
    fn on_stderr(self) -> bool {
        use std::io::IsTerminal;
        match self {
            Self::Always => true,
            Self::Never => false,
            Self::Auto => {
                std::io::stderr().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
            }
        }
    }
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Run a workflow and show its events as they happen; the run is kept in the database.
    Run(commands::run::RunArguments),
    /// Go on with a run from its log (after a crash, or to answer a `human` node).
    Resume(commands::resume::ResumeArguments),
    /// Talk to a workflow at the terminal: each line is a run in the session, which
    /// remembers the conversation across restarts.
    Chat(commands::chat::ChatArguments),
    /// List, show, search, export and delete sessions (long-lived conversations).
    #[command(subcommand)]
    Sessions(commands::sessions::SessionsCommand),
    /// List and inspect the runs a database holds.
    #[command(subcommand)]
    Runs(commands::runs::RunsCommand),
    /// Make, list and revoke API keys, each bound to a tenant (only their hashes are kept).
    #[command(subcommand)]
    Keys(commands::keys::KeysCommand),
    /// Serve workflows as a daemon: an HTTP API with live event streams, sessions and runs
    /// kept in the database, workers that share a queue.
    Serve(commands::serve::ServeArguments),
    /// Check workflow files and report every error, with file:line:column.
    Validate(commands::validate::ValidateArguments),
    /// Compare workflows with what runs did.
    #[command(subcommand)]
    Workflows(commands::workflows::WorkflowsCommand),
    /// Print a workflow as a Mermaid flowchart.
    Graph {
        /// The workflow file.
        file: PathBuf,
    },
    /// Print the JSON Schema of workflow files, for editors.
    Schema,
    /// The tools workflows can use.
    #[command(subcommand)]
    Tools(commands::tools::ToolsCommand),
    /// Measure a model: prefill and decode tokens per second, memory.
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
    /// Tools for developing and testing without downloads.
    #[command(subcommand)]
    Dev(commands::dev::DevCommand),
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    // A tensor-parallel worker that mistralrs started from this program: it loads the model
    // and serves its GPU, nothing else (no run, no database, no output).
    #[cfg(feature = "mistralrs")]
    if weft_mistralrs::worker::is_worker() {
        return worker();
    }
    let cli = Cli::parse();
    match &cli.command {
        Commands::Serve(arguments) => serve_logging(arguments.log_format()),
        _ => logging(cli.color.on_stderr()),
    }
    match cli.command {
        Commands::Run(arguments) => commands::run::run(arguments),
        Commands::Resume(arguments) => commands::resume::resume(arguments),
        Commands::Chat(arguments) => commands::chat::run(arguments),
        Commands::Sessions(command) => commands::sessions::run(command),
        Commands::Runs(command) => commands::runs::runs(command),
        Commands::Keys(command) => commands::keys::run(command),
        Commands::Serve(arguments) => commands::serve::serve(arguments),
        Commands::Validate(arguments) => commands::validate::validate(arguments),
        Commands::Workflows(command) => commands::workflows::workflows(command),
        Commands::Graph { file } => commands::graph::graph(&file),
        Commands::Schema => commands::schema::schema(),
        Commands::Tools(command) => commands::tools::tools(command),
        Commands::Bench(command) => commands::bench::bench(command),
        Commands::Dev(command) => commands::dev::dev(command),
    }
}

/// Sends the libraries' logs (mistralrs's above all) to standard error, filtered by
/// `WEFT_LOG` or `RUST_LOG`; warnings and errors by default; colored only if `color`.
fn logging(color: bool) {
    let filter = std::env::var(environment::LOG)
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "warn".to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(true)
        .try_init();
}

/// A daemon logs what it does (info and up, unless `WEFT_LOG` or `RUST_LOG` says), as
/// lines or as JSON objects, with the run and step spans they happen in.
fn serve_logging(format: Option<commands::serve::LogFormat>) {
    let filter = std::env::var(environment::LOG)
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true);
    let _ = match format {
        Some(commands::serve::LogFormat::Json) => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
        Some(commands::serve::LogFormat::Text) | None => builder.with_ansi(false).try_init(),
    };
}

/// A tensor-parallel worker loads the in-process model its parent loads (see `worker`).
#[cfg(feature = "mistralrs")]
fn worker() -> ExitCode {
    let arguments: Vec<String> = std::env::args().collect();
    let Ok(current) = std::env::current_dir() else {
        return ExitCode::from(commands::exit::INVALID);
    };
    match worker::local_model(&arguments, &current) {
        Some(local) => weft_mistralrs::worker::run_worker(&local),
        None => ExitCode::from(commands::exit::INVALID),
    }
}
