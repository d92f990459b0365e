//! `read_file`, `write_file` and `list_files`, confined to a [`Workspace`].

use super::workspace::Workspace;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use weft_core::ToolContext;
use weft_tool::{Tool, ToolFailure};

/// The largest file `read_file` returns, and the most entries `list_files` lists.
const MAX_READ_BYTES: u64 = 1024 * 1024;
const MAX_ENTRIES: usize = 1_000;

fn io_failure(path: &str, error: &std::io::Error) -> ToolFailure {
    ToolFailure::fatal(format!("`{path}`: {error}"))
}

/// `read_file`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReadFileArgs {
    /// The file, relative to the workspace.
    pub path: String,
}

/// Reads a text file of the workspace (at most 1 MiB).
#[derive(Debug, Clone)]
pub struct ReadFile(pub Arc<Workspace>);

impl Tool for ReadFile {
    type Args = ReadFileArgs;
    type Output = String;
    fn name(&self) -> &str {
        "read_file"
    }
    fn description(&self) -> &str {
        "Reads a UTF-8 text file (at most 1 MiB) from the workspace folder."
    }
    fn idempotent(&self) -> bool {
        true
    }
    async fn call(&self, args: ReadFileArgs, _context: ToolContext) -> Result<String, ToolFailure> {
        let path = self.0.resolve(&args.path, true)?;
        let size = std::fs::metadata(&path)
            .map_err(|error| io_failure(&args.path, &error))?
            .len();
        if size > MAX_READ_BYTES {
            return Err(ToolFailure::invalid_arguments(format!(
                "`{}` has {size} bytes, more than the {MAX_READ_BYTES} read_file returns",
                args.path
            )));
        }
        let bytes = std::fs::read(&path).map_err(|error| io_failure(&args.path, &error))?;
        String::from_utf8(bytes).map_err(|_| {
            ToolFailure::invalid_arguments(format!("`{}` is not UTF-8 text", args.path))
        })
    }
}

/// `write_file`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct WriteFileArgs {
    /// The file, relative to the workspace; its folder must exist.
    pub path: String,
    /// The whole new content.
    pub content: String,
}

/// Writes (creates or replaces) a text file of the workspace. Writing the same content
/// twice leaves the same file, so the tool is idempotent.
#[derive(Debug, Clone)]
pub struct WriteFile(pub Arc<Workspace>);

impl Tool for WriteFile {
    type Args = WriteFileArgs;
    type Output = String;
    fn name(&self) -> &str {
        "write_file"
    }
    fn description(&self) -> &str {
        "Creates or replaces a text file in the workspace folder with the given content."
    }
    fn idempotent(&self) -> bool {
        true
    }
    async fn call(
        &self,
        args: WriteFileArgs,
        _context: ToolContext,
    ) -> Result<String, ToolFailure> {
        let path = self.0.resolve(&args.path, false)?;
        if path.is_dir() {
            return Err(ToolFailure::invalid_arguments(format!(
                "`{}` is a folder",
                args.path
            )));
        }
        std::fs::write(&path, args.content.as_bytes())
            .map_err(|error| io_failure(&args.path, &error))?;
        Ok(format!(
            "wrote {} bytes to {}",
            args.content.len(),
            args.path
        ))
    }
}

/// `list_files`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListFilesArgs {
    /// The folder, relative to the workspace (default: the workspace itself).
    #[serde(default)]
    pub path: Option<String>,
}

/// One entry of a folder.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Entry {
    /// Its name.
    pub name: String,
    /// `file`, `folder` or `other`.
    pub kind: &'static str,
    /// Its size in bytes (files only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

/// Lists a folder of the workspace, sorted by name.
#[derive(Debug, Clone)]
pub struct ListFiles(pub Arc<Workspace>);

impl Tool for ListFiles {
    type Args = ListFilesArgs;
    type Output = Vec<Entry>;
    fn name(&self) -> &str {
        "list_files"
    }
    fn description(&self) -> &str {
        "Lists the files and folders in a folder of the workspace (not recursive)."
    }
    fn idempotent(&self) -> bool {
        true
    }
    async fn call(
        &self,
        args: ListFilesArgs,
        _context: ToolContext,
    ) -> Result<Vec<Entry>, ToolFailure> {
        let shown = args.path.unwrap_or_else(|| ".".into());
        let folder = self.0.resolve(&shown, true)?;
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(&folder).map_err(|error| io_failure(&shown, &error))? {
            let entry = entry.map_err(|error| io_failure(&shown, &error))?;
            let kind = entry
                .file_type()
                .map_err(|error| io_failure(&shown, &error))?;
            let (kind, bytes) = if kind.is_file() {
                ("file", entry.metadata().ok().map(|metadata| metadata.len()))
            } else if kind.is_dir() {
                ("folder", None)
            } else {
                ("other", None)
            };
            entries.push(Entry {
                name: entry.file_name().to_string_lossy().into_owned(),
                kind,
                bytes,
            });
            if entries.len() > MAX_ENTRIES {
                return Err(ToolFailure::invalid_arguments(format!(
                    "`{shown}` has more than {MAX_ENTRIES} entries; list a folder inside it"
                )));
            }
        }
        entries.sort_by(|left, right| left.name.cmp(&right.name));
        Ok(entries)
    }
}
