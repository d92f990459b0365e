//! `weft validate FILE...`: every error of every file.

use std::path::PathBuf;
use std::process::ExitCode;
use weft_workflow::{LoadError, Loader};

pub fn validate(files: &[PathBuf]) -> ExitCode {
    let loader = Loader::with_tools(super::known_tools());
    let mut error_count = 0usize;
    for file in files {
        match loader.load(file) {
            Ok(workflow) => println!(
                "{}: ok (workflow `{}`, {} nodes)",
                file.display(),
                workflow.name,
                workflow.nodes.len()
            ),
            Err(error @ LoadError::Io { .. }) => {
                error_count += 1;
                eprintln!("error: {error}");
            }
            Err(LoadError::Invalid { diagnostics }) => {
                error_count += diagnostics.len();
                for diagnostic in diagnostics {
                    eprintln!("{diagnostic}");
                }
            }
        }
    }
    if error_count == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("{error_count} error(s)");
        ExitCode::from(super::exit::INVALID)
    }
}
