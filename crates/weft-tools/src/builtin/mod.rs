//! Tools every weft has, written as typed tools: `echo`, `add`, `calculator`, `now`,
//! `read_file` and `list_files` (without effects, so idempotent), `write_file` (idempotent:
//! the same content twice leaves the same file) and `append_line` (a side effect made
//! idempotent by its key). The file tools are confined to a [`Workspace`]. Two more are off
//! unless enabled: [`Shell`] (by a workflow's `shell: { allow: [...] }`) and `http_get`.

mod append_line;
mod arithmetic;
mod calculator;
mod files;
mod http_get;
mod now;
mod shell;
mod workspace;

use crate::registry::Registry;
pub use append_line::AppendLine;
pub use arithmetic::{Add, Echo};
pub use calculator::{Calculator, evaluate};
pub use files::{Entry, ListFiles, ReadFile, WriteFile};
pub use http_get::{HttpGet, HttpGetArgs, HttpGetOutput, HttpPolicy};
pub use now::{Clock, Now, rfc3339};
pub use shell::{SHELL_MAX_OUTPUT_BYTES, Shell, ShellArgs, ShellOutput};
use std::sync::Arc;
pub use workspace::Workspace;

/// The built-in tools' names, in the registry's order.
pub const NAMES: [&str; 8] = [
    "echo",
    "add",
    "calculator",
    "now",
    "read_file",
    "list_files",
    "write_file",
    "append_line",
];

/// A registry holding every built-in tool, the file tools confined to `workspace`.
pub fn registry(workspace: &Workspace) -> Registry {
    let workspace = Arc::new(workspace.clone());
    let mut registry = Registry::new();
    // The built-in names are distinct, so none of these can clash.
    for result in [
        registry.register(Echo).map(|_| ()),
        registry.register(Add).map(|_| ()),
        registry.register(Calculator).map(|_| ()),
        registry.register(Clock).map(|_| ()),
        registry.register(ReadFile(workspace.clone())).map(|_| ()),
        registry.register(ListFiles(workspace.clone())).map(|_| ()),
        registry.register(WriteFile(workspace.clone())).map(|_| ()),
        registry.register(AppendLine(workspace)).map(|_| ()),
    ] {
        debug_assert!(result.is_ok(), "{result:?}");
    }
    registry
}
