//! `weft graph FILE`: a Mermaid flowchart.

use std::path::Path;
use std::process::ExitCode;

pub fn graph(file: &Path) -> ExitCode {
    super::block_on(async {
        match super::toolbox::load_workflow(file).await {
            Ok((workflow, _)) => {
                print!("{}", weft_workflow::graph::mermaid(&workflow));
                ExitCode::SUCCESS
            }
            Err(code) => code,
        }
    })
}
