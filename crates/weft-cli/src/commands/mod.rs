//! One module per subcommand, and what they share.

pub mod arguments;
pub mod bench;
pub mod bench_serve;
pub mod chat;
pub mod dev;
pub mod graph;
pub mod hints;
pub mod keys;
pub mod resume;
pub mod run;
pub mod runner;
pub mod runs;
pub mod schema;
pub mod serve;
pub mod sessions;
pub mod stored;
pub mod tools;
pub mod validate;
pub mod workflows;

use arguments::DatabaseArgument;
use std::process::ExitCode;
use std::sync::Arc;
use weft::store::{OpenError, OpenMode};
use weft_core::Database;

/// Exit codes, so scripts can tell outcomes apart.
pub mod exit {
    /// The run failed.
    pub const FAILED: u8 = 1;
    /// Bad usage or an invalid workflow.
    pub const INVALID: u8 = 2;
    /// The run waits for a person's answer.
    pub const INTERRUPTED: u8 = 3;
    /// The run needs a person's decision about a tool call a crash interrupted.
    pub const NEEDS_ATTENTION: u8 = 4;
    /// The run was stopped (Ctrl-C) or cancelled.
    pub const CANCELLED: u8 = 130;
}

/// Prints an error for a person and returns the exit code.
pub fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code)
}

/// Runs an async command on a multi-threaded tokio runtime.
pub fn block_on(command: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(command),
        Err(error) => fail(
            exit::FAILED,
            format!("cannot start the async runtime: {error}"),
        ),
    }
}

/// Opens the database `--db` names; `mode` says whether a missing SQLite file is created
/// (commands that run workflows) or an error (commands that only read or change runs).
pub async fn open_store(
    database: &DatabaseArgument,
    mode: OpenMode,
) -> Result<Arc<dyn Database>, ExitCode> {
    weft::store::open(database.location(), mode)
        .await
        .map_err(|error| match error {
            OpenError::Missing { .. } => fail(
                exit::INVALID,
                format!("{error}; runs are kept where `weft run --db` put them (the default is weft.db in the current folder)"),
            ),
            other => fail(exit::INVALID, other),
        })
}
