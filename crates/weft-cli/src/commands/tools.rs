//! `weft tools list [--json]`: every tool a workflow can name, with its argument schema.

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
    },
}

pub fn tools(command: ToolsCommand) -> ExitCode {
    let ToolsCommand::List { json } = command;
    let registry = match super::builtin_tools() {
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
