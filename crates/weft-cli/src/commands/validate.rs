//! `weft validate FILE...`: every error of every file, each checked against the tools its
//! run would have (MCP servers it names are started to list theirs).

use std::path::PathBuf;
use std::process::ExitCode;

pub fn validate(files: &[PathBuf]) -> ExitCode {
    super::block_on(validate_async(files))
}

async fn validate_async(files: &[PathBuf]) -> ExitCode {
    let mut error_count = 0usize;
    for file in files {
        match super::toolbox::load_checked(file).await {
            Ok((workflow, _)) => println!(
                "{}: ok (workflow `{}`, {} nodes)",
                file.display(),
                workflow.name,
                workflow.nodes.len()
            ),
            Err(problem) => {
                error_count += problem.count();
                problem.print();
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
