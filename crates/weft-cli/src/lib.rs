//! The `weft` command: run, validate, draw and describe workflows.
//!
//! This crate is the composition root: the only place that picks concrete backends, tools
//! and sinks and wires them into the runtime. The `weft` binary of the facade package calls
//! [`main`].

mod commands;
mod environment;
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
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Commands::Run(arguments) => commands::run::run(arguments),
        Commands::Resume(arguments) => commands::resume::resume(arguments),
        Commands::Runs(command) => commands::runs::runs(command),
        Commands::Validate { files } => commands::validate::validate(&files),
        Commands::Graph { file } => commands::graph::graph(&file),
        Commands::Schema => commands::schema::schema(),
        Commands::Tools(command) => commands::tools::tools(command),
    }
}
