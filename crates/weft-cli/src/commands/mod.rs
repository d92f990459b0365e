//! One module per subcommand.

pub mod graph;
pub mod resume;
pub mod run;
pub mod runs;
pub mod schema;
pub mod session;
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

/// The tool names the CLI's runtime provides, for validation.
pub fn known_tools() -> Vec<String> {
    use weft_core::ToolBox;
    match tool_registry() {
        Ok(registry) => registry.names(),
        // The command that runs a workflow reports the problem; validation still knows the
        // built-in tools.
        Err(_) => weft_tools::builtin::NAMES
            .iter()
            .map(|name| (*name).to_owned())
            .collect(),
    }
}

/// The tools of the CLI's runtime: the built-in ones (file tools confined to the current
/// folder) and the command tools of `./tools/*.yaml`.
pub fn builtin_tools() -> Result<weft_tools::Registry, ExitCode> {
    tool_registry().map_err(|message| fail(exit::INVALID, message))
}

fn tool_registry() -> Result<weft_tools::Registry, String> {
    let workspace = weft_tools::builtin::Workspace::new(std::path::Path::new("."))
        .map_err(|error| format!("the current folder cannot be the tools' workspace: {error}"))?;
    let mut registry = weft_tools::builtin::registry(&workspace);
    let folder = std::path::Path::new("tools");
    if folder.is_dir() {
        weft_tools::command::register_folder(&mut registry, folder)
            .map_err(|error| format!("command tool manifest {error}"))?;
    }
    Ok(registry)
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
