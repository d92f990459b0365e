//! `append_line`: appends a line to a file, once per call however often the call is made.

use super::workspace::Workspace;
use schemars::JsonSchema;
use serde::Deserialize;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use weft_core::ToolContext;
use weft_tool::{Tool, ToolFailure};

/// `append_line`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AppendLineArgs {
    /// The file, relative to the workspace (created if missing).
    pub path: String,
    /// The text to append (one line).
    pub line: String,
}

/// Appends `KEY<tab>LINE` to a file unless a line with the call's key is there already, so
/// a call repeated after a crash appends once. The line is one `write` to a file opened for
/// appending: a process killed mid-call leaves the whole line or none of it.
#[derive(Debug, Clone)]
pub struct AppendLine(pub Arc<Workspace>);

impl Tool for AppendLine {
    type Args = AppendLineArgs;
    type Output = String;
    fn name(&self) -> &str {
        "append_line"
    }
    fn description(&self) -> &str {
        "Appends a line to a text file in the workspace folder. Each line is written as `KEY<tab>LINE`, KEY being the call's idempotency key, and a call whose key is in the file already writes nothing: a call repeated after a crash appends once."
    }
    fn idempotent(&self) -> bool {
        true
    }
    async fn call(
        &self,
        args: AppendLineArgs,
        context: ToolContext,
    ) -> Result<String, ToolFailure> {
        if args.line.contains('\n') {
            return Err(ToolFailure::invalid_arguments(
                "`line` must be a single line",
            ));
        }
        let path = self.0.resolve(&args.path, false)?;
        append(&path, &args.path, &args.line, &context.idempotency_key)?;
        Ok(args.line)
    }
}

fn append(file: &Path, path: &str, line: &str, key: &str) -> Result<(), ToolFailure> {
    let failed = |error: std::io::Error| ToolFailure::fatal(format!("{path}: {error}"));
    let tag = format!("{key}\t");
    match std::fs::read_to_string(file) {
        Ok(existing) if existing.lines().any(|written| written.starts_with(&tag)) => {
            return Ok(());
        }
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(failed(error)),
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .map_err(failed)?;
    file.write_all(format!("{tag}{line}\n").as_bytes())
        .map_err(failed)
}
