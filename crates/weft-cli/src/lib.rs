//! The `weft` command: run, validate, draw and describe workflows.
//!
//! This crate is the composition root: the only place that picks concrete backends, tools
//! and sinks and wires them into the runtime. The `weft` binary of the facade package calls
//! [`main`].

mod commands;
mod config;
mod environment;
mod models;
mod observer;
mod render;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// weft: agent workflows in YAML, run durably.
#[derive(Debug, Parser)]
#[command(name = "weft", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Run a workflow and show its events as they happen; the run is kept in the database.
    Run(commands::run::RunArguments),
    /// Go on with a run from its log (after a crash, or to answer a `human` node).
    Resume(commands::resume::ResumeArguments),
    /// List and inspect the runs a database holds.
    #[command(subcommand)]
    Runs(commands::runs::RunsCommand),
    /// Check workflow files and report every error, with file:line:column.
    Validate {
        /// The workflow files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
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
    #[cfg(feature = "local")]
    if weft_mistralrs::worker::is_worker() {
        return worker();
    }
    let cli = Cli::parse();
    logging();
    match cli.command {
        Commands::Run(arguments) => commands::run::run(arguments),
        Commands::Resume(arguments) => commands::resume::resume(arguments),
        Commands::Runs(command) => commands::runs::runs(command),
        Commands::Validate { files } => commands::validate::validate(&files),
        Commands::Graph { file } => commands::graph::graph(&file),
        Commands::Schema => commands::schema::schema(),
        Commands::Tools(command) => commands::tools::tools(command),
        Commands::Bench(command) => commands::bench::bench(command),
        Commands::Dev(command) => commands::dev::dev(command),
    }
}

/// Sends the libraries' logs (mistralrs's above all) to standard error, filtered by
/// `WEFT_LOG` or `RUST_LOG`; warnings and errors by default.
fn logging() {
    let filter = std::env::var(environment::LOG)
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "warn".to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        .try_init();
}

/// The model a tensor-parallel worker loads: the one its parent was given.
#[cfg(feature = "local")]
fn worker() -> ExitCode {
    let arguments: Vec<String> = std::env::args().collect();
    let settings = config::load().unwrap_or_default();
    // The parent's `--model` (the environment and weft.toml as for the parent after it).
    let given = weft_mistralrs::worker::worker_model(&arguments, None);
    let Ok(Some((spec, base))) = models::default_spec(given, &settings) else {
        return ExitCode::from(commands::exit::INVALID);
    };
    match models::resolve(&spec, &base, &settings) {
        Ok(models::Resolved::Local(local)) => weft_mistralrs::worker::run_worker(&local),
        _ => ExitCode::from(commands::exit::INVALID),
    }
}
