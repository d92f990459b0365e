//! `weft tools list [--json] [--workflow FILE]`: every tool a workflow can name, with its
//! argument schema; with `--workflow`, also the ones that workflow turns on or brings. A
//! project's tool that takes a built-in's name is marked with what it shadows.

use super::arguments::WorkspaceArgument;
use crate::project::Project;
use serde_json::{Value, json};
use std::process::ExitCode;
use weft_core::ToolBox;
use weft_tools::{Origin, Registry};

#[derive(Debug, clap::Subcommand)]
pub enum ToolsCommand {
    /// List every tool with its description and argument schema.
    List {
        /// One JSON array of tools instead of text.
        #[arg(long)]
        json: bool,
        /// Also the tools this workflow turns on (`shell`, `http_get`) and those of its MCP
        /// servers.
        #[arg(long, value_name = "FILE")]
        workflow: Option<std::path::PathBuf>,
        #[command(flatten)]
        workspace: WorkspaceArgument,
    },
}

pub fn tools(command: ToolsCommand) -> ExitCode {
    super::block_on(tools_async(command))
}

async fn tools_async(command: ToolsCommand) -> ExitCode {
    let ToolsCommand::List {
        json,
        workflow,
        workspace,
    } = command;
    let project = match Project::open(workspace.workspace.as_deref()) {
        Ok(project) => project,
        Err(code) => return code,
    };
    let registry = match &workflow {
        Some(file) => project
            .load_workflow(file, &Default::default())
            .await
            .map(|(_, registry)| registry),
        None => project
            .toolbox()
            .assemble(&weft::workflow::ToolSettings::default(), Registry::new())
            .await
            .map_err(|error| super::fail(super::exit::INVALID, error)),
    };
    let registry = match registry {
        Ok(registry) => registry,
        Err(code) => return code,
    };
    let tools = describe(&registry);
    if json {
        match serde_json::to_string_pretty(&tools) {
            Ok(text) => say!("{text}"),
            Err(error) => return super::fail(super::exit::FAILED, error),
        }
        return ExitCode::SUCCESS;
    }
    for tool in &tools {
        let idempotent = if tool["idempotent"] == json!(true) {
            " (idempotent)"
        } else {
            ""
        };
        let shadows = match &tool["shadows"] {
            Value::String(description) => format!("\n  shadows the built-in: {description}"),
            _ => String::new(),
        };
        say!(
            "{}{idempotent}\n  {}{shadows}\n  arguments: {}\n",
            tool["name"].as_str().unwrap_or_default(),
            tool["description"].as_str().unwrap_or_default(),
            tool["parameters"]
        );
    }
    ExitCode::SUCCESS
}

/// Every tool as JSON: name, description, whether idempotent, its schema, where it comes
/// from, and the built-in it shadows when it does.
fn describe(registry: &Registry) -> Vec<Value> {
    registry
        .names()
        .iter()
        .filter_map(|name| registry.spec(name))
        .map(|spec| {
            let shadowed = registry
                .shadowed()
                .iter()
                .find(|builtin| builtin.name == spec.name)
                .map(|builtin| builtin.description.clone());
            let origin = match registry.origin(&spec.name) {
                Some(Origin::BuiltIn) => "built-in",
                Some(Origin::Project) | None => "project",
            };
            let mut tool = json!({
                "name": spec.name,
                "description": spec.description,
                "idempotent": registry.is_idempotent(&spec.name),
                "origin": origin,
                "parameters": spec.parameters,
            });
            if let (Some(description), Some(object)) = (shadowed, tool.as_object_mut()) {
                object.insert("shadows".to_owned(), Value::String(description));
            }
            tool
        })
        .collect()
}
