//! Tools every weft has, written as typed tools: `echo`, `add`, `calculator`, `now`,
//! `read_file` and `list_files` (without effects, so idempotent), `write_file` (idempotent:
//! the same content twice leaves the same file) and `append_line` (a side effect made
//! idempotent by its key), and the memory tools over the run's session (`memory_search`,
//! `memory_save`, `memory_read`, `memory_pin`, `memory_unpin`). The file tools are confined to a [`Workspace`]. Two more are off
//! unless enabled: `Shell` (by a workflow's `shell: { allow: [...] }`; feature `process`)
//! and `http_get` (by its `http_get:` section; feature `http`). A project's own tool of the
//! same name replaces a built-in one (see [`weft_tool::Origin`]).

mod append_line;
mod arithmetic;
mod calculator;
mod files;
#[cfg(feature = "http")]
mod http_get;
mod memory;
mod now;
#[cfg(feature = "process")]
mod shell;
mod workspace;

pub use append_line::AppendLine;
pub use arithmetic::{Add, Echo};
pub use calculator::{Calculator, evaluate};
pub use files::{Entry, ListFiles, ReadFile, WriteFile};
#[cfg(feature = "http")]
pub use http_get::{HttpClientError, HttpGet, HttpGetArgs, HttpGetOutput, HttpPolicy};
pub use memory::{MemoryPin, MemoryRead, MemorySave, MemorySearch, MemoryUnpin};
pub use now::{Clock, Now, rfc3339};
#[cfg(feature = "process")]
pub use shell::{SHELL_MAX_OUTPUT_BYTES, Shell, ShellArgs, ShellOutput};
use std::sync::Arc;
use weft_tool::Registry;
pub use workspace::Workspace;

/// The built-in tools' names, in the registry's order.
pub const NAMES: [&str; 13] = [
    "echo",
    "add",
    "calculator",
    "now",
    "read_file",
    "list_files",
    "write_file",
    "append_line",
    "memory_search",
    "memory_save",
    "memory_read",
    "memory_pin",
    "memory_unpin",
];

/// A registry holding every built-in tool, the file tools confined to `workspace`.
pub fn registry(workspace: &Workspace) -> Registry {
    let mut registry = Registry::new();
    add_to(&mut registry, workspace);
    registry
}

/// Adds every built-in tool to `registry` as a built-in: a tool `registry` already has
/// under a built-in's name stays, and the built-in is listed as shadowed.
pub fn add_to(registry: &mut Registry, workspace: &Workspace) {
    let workspace = Arc::new(workspace.clone());
    // Built-in names are distinct, and a built-in only gives way to a project's tool, so
    // none of these can fail.
    for result in [
        registry.register_builtin(Echo).map(|_| ()),
        registry.register_builtin(Add).map(|_| ()),
        registry.register_builtin(Calculator).map(|_| ()),
        registry.register_builtin(Clock).map(|_| ()),
        registry
            .register_builtin(ReadFile(workspace.clone()))
            .map(|_| ()),
        registry
            .register_builtin(ListFiles(workspace.clone()))
            .map(|_| ()),
        registry
            .register_builtin(WriteFile(workspace.clone()))
            .map(|_| ()),
        registry.register_builtin(AppendLine(workspace)).map(|_| ()),
        registry.register_builtin(MemorySearch).map(|_| ()),
        registry.register_builtin(MemorySave).map(|_| ()),
        registry.register_builtin(MemoryRead).map(|_| ()),
        registry.register_builtin(MemoryPin).map(|_| ()),
        registry.register_builtin(MemoryUnpin).map(|_| ()),
    ] {
        debug_assert!(result.is_ok(), "{result:?}");
    }
}
