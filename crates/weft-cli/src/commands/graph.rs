//! `weft graph FILE`: a Mermaid flowchart.

use std::path::Path;
use std::process::ExitCode;
use weft_workflow::Loader;

pub fn graph(file: &Path) -> ExitCode {
    match Loader::with_tools(super::known_tools()).load(file) {
        Ok(workflow) => {
            print!("{}", weft_workflow::graph::mermaid(&workflow));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::from(super::exit::INVALID)
        }
    }
}
