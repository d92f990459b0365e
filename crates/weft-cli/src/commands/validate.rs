//! `weft validate FILE...`: every error of every file, each checked against the tools its
//! run would have. MCP servers it names are started to list their tools (a server that
//! cannot start is an error at its `mcp:` entry) unless `--offline`, which accepts any
//! tool under a server's name unchecked.

use super::arguments::WorkspaceArgument;
use crate::project::{Project, print_problem};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use weft::toolbox::WorkflowProblem;
use weft::workflow::LoadError;

#[derive(Debug, clap::Args)]
pub struct ValidateArguments {
    /// The workflow files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Do not start MCP servers: their tools are not checked.
    #[arg(long)]
    offline: bool,
    /// One JSON report per file (an array) instead of lines.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    workspace: WorkspaceArgument,
}

pub fn validate(arguments: ValidateArguments) -> ExitCode {
    super::block_on(validate_async(arguments))
}

async fn validate_async(arguments: ValidateArguments) -> ExitCode {
    let project = match Project::open(arguments.workspace.workspace.as_deref()) {
        Ok(project) => project,
        Err(code) => return code,
    };
    let mut toolbox = project.toolbox();
    toolbox.connect_mcp = !arguments.offline;
    let mut error_count = 0usize;
    let mut server_failed = false;
    let mut reports = Vec::new();
    for file in &arguments.files {
        let result = toolbox
            .load_workflow(file, weft_tools::Registry::new())
            .await;
        if let Err(problem) = &result {
            error_count += problem.count();
            server_failed |= problem.to_string().contains("MCP server `");
        }
        if arguments.json {
            reports.push(report(file, &result));
            continue;
        }
        match result {
            Ok((workflow, _)) => say!(
                "{}: ok (workflow `{}`, {} nodes)",
                file.display(),
                workflow.name,
                workflow.nodes.len()
            ),
            Err(problem) => print_problem(&problem),
        }
    }
    if arguments.json {
        say!(
            "{}",
            serde_json::to_string_pretty(&reports).unwrap_or_default()
        );
    } else if error_count > 0 {
        eprintln!("{error_count} error(s)");
        if server_failed && !arguments.offline {
            eprintln!(
                "note: `weft validate --offline` checks workflows without starting their MCP servers"
            );
        }
    }
    if error_count == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::exit::INVALID)
    }
}

/// One file's result as JSON: `ok`, the workflow's name and nodes, or every error with its
/// place.
fn report(
    file: &std::path::Path,
    result: &Result<(std::sync::Arc<weft::Workflow>, weft_tools::Registry), WorkflowProblem>,
) -> Value {
    match result {
        Ok((workflow, _)) => json!({
            "file": file.display().to_string(),
            "ok": true,
            "workflow": workflow.name,
            "nodes": workflow.nodes.len(),
        }),
        Err(WorkflowProblem::Load(LoadError::Invalid { diagnostics })) => json!({
            "file": file.display().to_string(),
            "ok": false,
            "errors": diagnostics.iter().map(|diagnostic| json!({
                "file": diagnostic.file.display().to_string(),
                "line": diagnostic.line,
                "column": diagnostic.column,
                "message": diagnostic.message,
                "help": diagnostic.help,
            })).collect::<Vec<_>>(),
        }),
        Err(other) => json!({
            "file": file.display().to_string(),
            "ok": false,
            "errors": [{"message": other.to_string()}],
        }),
    }
}
