//! One module per subcommand.

pub mod bench;
pub mod dev;
pub mod graph;
pub mod resume;
pub mod run;
pub mod runs;
pub mod schema;
pub mod session;
pub mod toolbox;
pub mod tools;
pub mod validate;

use std::process::ExitCode;

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
    /// The run was cancelled (Ctrl-C).
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
