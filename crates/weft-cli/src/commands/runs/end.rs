//! `weft runs fail` and `weft runs cancel`: ending a run for good from the database alone,
//! so a run whose workflow file moved can still be ended.

use super::super::arguments::DatabaseArgument;
use super::super::{exit, fail, open_store};
use std::process::ExitCode;
use weft::store::OpenMode;
use weft_core::RunId;
use weft_runtime::{Ending, Runtime, RuntimeError};

/// Ends `run` and the unfinished sub-workflow runs below it.
pub async fn end(run: RunId, ending: Ending, database: &DatabaseArgument) -> ExitCode {
    let store = match open_store(database, OpenMode::MustExist).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    match store.run(run).await {
        Ok(summary) => {
            if let Some(parent) = summary.parent {
                return fail(
                    exit::INVALID,
                    format!(
                        "run {run} is a sub-workflow's run; end its parent run {} instead (which ends this one too)",
                        parent.run
                    ),
                );
            }
        }
        Err(error) => return fail(exit::INVALID, error),
    }
    let runtime = Runtime::builder().store(store).build();
    match runtime.end_run(run, &ending).await {
        Ok(ended) => {
            let (word, reason) = match &ending {
                Ending::Failed(reason) => ("failed", reason),
                Ending::Cancelled(reason) => ("cancelled", reason),
            };
            eprintln!("run {run} is {word}: {reason}");
            for child in ended.iter().filter(|ended| **ended != run) {
                eprintln!("  and its sub-workflow run {child}");
            }
            ExitCode::SUCCESS
        }
        Err(error @ RuntimeError::AlreadyOver { .. }) => fail(exit::INVALID, error),
        Err(error) => fail(exit::FAILED, error),
    }
}
