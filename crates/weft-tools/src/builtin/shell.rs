//! `shell`: runs one program from an allowlist the workflow gives. Off unless a workflow
//! enables it (`shell: { allow: [git, wc] }`). There is no shell in between: the arguments
//! reach the program as they are, so pipes, globs, `$VAR` and `;` mean nothing. The program
//! runs in the workspace folder with a small environment (`PATH`, `HOME`, `LANG`), its
//! output capped, and its process group killed if the call times out or is cancelled.

use super::workspace::Workspace;
use crate::process::{self, Program};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use weft_core::ToolContext;
use weft_tool::{Tool, ToolFailure};

/// The most bytes of standard output, and of standard error, the model is given.
pub const SHELL_MAX_OUTPUT_BYTES: u64 = 64 * 1024;

/// Arguments of `shell`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ShellArgs {
    /// The program to run: one of the allowed programs, by name.
    pub program: String,
    /// Its arguments, each passed as is (no shell: quotes, pipes, globs and variables are
    /// plain text).
    #[serde(default)]
    pub arguments: Vec<String>,
    /// Text written to its standard input.
    #[serde(default)]
    pub stdin: Option<String>,
}

/// What `shell` returns: the exit status and the output, even when the status is not 0.
#[derive(Debug, Serialize)]
pub struct ShellOutput {
    /// The exit status; `null` when a signal ended the program.
    pub exit_code: Option<i32>,
    /// Standard output (invalid UTF-8 replaced).
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Whether some output was left out past the limit.
    pub truncated: bool,
}

/// The `shell` tool, allowed to run the programs of its list.
#[derive(Debug, Clone)]
pub struct Shell {
    allow: Vec<String>,
    workspace: Arc<Workspace>,
    description: String,
}

impl Shell {
    /// A shell tool that runs only `allow`'s programs, in `workspace`'s folder. A program
    /// is named as the workflow wrote it: a bare name is looked up on `PATH`.
    pub fn new(allow: Vec<String>, workspace: Arc<Workspace>) -> Self {
        let description = format!(
            "Runs one program, without a shell, in the workspace folder and returns its exit \
             code and output. Allowed programs: {}.",
            allow.join(", ")
        );
        Self {
            allow,
            workspace,
            description,
        }
    }
}

impl Tool for Shell {
    type Args = ShellArgs;
    type Output = ShellOutput;

    fn name(&self) -> &str {
        "shell"
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn max_attempts(&self) -> u32 {
        1
    }

    fn refine_schema(&self, schema: &mut Value) {
        if let Some(program) = schema.pointer_mut("/properties/program")
            && let Some(program) = program.as_object_mut()
        {
            program.insert("enum".to_owned(), Value::from(self.allow.clone()));
        }
    }

    async fn call(
        &self,
        args: ShellArgs,
        _context: ToolContext,
    ) -> Result<ShellOutput, ToolFailure> {
        // The schema already holds the list; this check keeps the tool safe without it.
        if !self.allow.contains(&args.program) {
            return Err(ToolFailure::invalid_arguments(format!(
                "`{}` is not an allowed program; allowed: {}",
                args.program,
                self.allow.join(", ")
            )));
        }
        let finished = process::run(Program {
            program: &args.program,
            arguments: &args.arguments,
            environment: &[],
            clear_environment: true,
            folder: Some(self.workspace.root()),
            input: args.stdin.unwrap_or_default().into_bytes(),
            max_output: SHELL_MAX_OUTPUT_BYTES,
        })
        .await
        .map_err(|error| ToolFailure::fatal(format!("shell: {error}")))?;
        Ok(ShellOutput {
            exit_code: finished.status.code(),
            stdout: String::from_utf8_lossy(&finished.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&finished.stderr).into_owned(),
            truncated: finished.stdout_truncated || finished.stderr_truncated,
        })
    }
}
