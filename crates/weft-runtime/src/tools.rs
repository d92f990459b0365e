//! The runtime's default tool set: none. The composition root (the CLI, a user's binary)
//! gives the runtime its tools, usually a `weft-tools` registry.

use weft_core::{ErrorKind, ToolBox, ToolCall, ToolContext, ToolError, ToolFuture, ToolSpec};

/// A tool box with no tools: every call is an unknown tool.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoTools;

impl ToolBox for NoTools {
    fn spec(&self, _name: &str) -> Option<ToolSpec> {
        None
    }

    fn names(&self) -> Vec<String> {
        Vec::new()
    }

    fn call(&self, call: ToolCall, _context: ToolContext) -> ToolFuture {
        let error = ToolError::new(
            ErrorKind::NotFound,
            format!(
                "unknown tool `{}`: this runtime was built without tools",
                call.name
            ),
        );
        Box::pin(std::future::ready(Err(error)))
    }
}
