//! `weft tools list [--json] [--workflow FILE]`: every tool a workflow can name, with its
//! argument schema; with `--workflow`, also the ones that workflow turns on or brings.

use serde_json::{Value, json};
use std::process::ExitCode;
use weft_core::ToolBox;

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
    },
}

pub fn tools(command: ToolsCommand) -> ExitCode {
    super::block_on(tools_async(command))
}

async fn tools_async(command: ToolsCommand) -> ExitCode {
    let ToolsCommand::List { json, workflow } = command;
    let registry = match &workflow {
        Some(file) => super::toolbox::load_workflow(file)
            .await
            .map(|(_, registry)| registry),
        None => super::toolbox::default_registry().await,
    };
    let registry = match registry {
        Ok(registry) => registry,
        Err(code) => return code,
    };
    let tools: Vec<Value> = registry
        .names()
        .iter()
        .filter_map(|name| registry.spec(name))
        .map(|spec| {
            json!({
                "name": spec.name,
                "description": spec.description,
                "idempotent": registry.is_idempotent(&spec.name),
                "parameters": spec.parameters,
            })
        })
        .collect();
    if json {
        match serde_json::to_string_pretty(&tools) {
            Ok(text) => println!("{text}"),
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
        println!(
            "{}{idempotent}\n  {}\n  arguments: {}\n",
            tool["name"].as_str().unwrap_or_default(),
            tool["description"].as_str().unwrap_or_default(),
            tool["parameters"]
        );
    }
    ExitCode::SUCCESS
}
