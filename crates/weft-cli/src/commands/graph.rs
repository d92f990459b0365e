//! `weft graph FILE`: a Mermaid flowchart. It reads the file alone: no tools are checked
//! and no MCP server is started.

use std::path::Path;
use std::process::ExitCode;
use weft::toolbox::WorkflowProblem;

pub fn graph(file: &Path) -> ExitCode {
    match weft::Loader::new().load(file) {
        Ok(workflow) => {
            say_partial!("{}", weft_workflow::graph::mermaid(&workflow));
            ExitCode::SUCCESS
        }
        Err(error) => {
            crate::project::print_problem(&WorkflowProblem::Load(error));
            ExitCode::from(super::exit::INVALID)
        }
    }
}
