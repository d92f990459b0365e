//! Integration tests of the workflow layer: loading and validation, and the run machine
//! driven by hand, without tokio.

// Test helpers outside `#[test]` functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod agent;
mod guards;
mod harness;
mod machine;
mod memory;
mod parallel;
mod parser_properties;
mod texts;
mod validation;
mod yaml;

use std::path::Path;
use std::sync::Arc;
use weft_workflow::{LoadError, Loader, Workflow};

/// Loads a workflow from text, as if read from `test.yaml`.
pub fn load(source: &str) -> Arc<Workflow> {
    match Loader::new().load_source(Path::new("test.yaml"), source) {
        Ok(workflow) => workflow,
        Err(error) => panic!("the workflow should load:\n{error}"),
    }
}

/// The diagnostics of a workflow that must not load, as `line:column: message` lines.
pub fn errors(source: &str) -> Vec<String> {
    match Loader::new().load_source(Path::new("test.yaml"), source) {
        Ok(_) => panic!("the workflow should not load"),
        Err(LoadError::Io { .. }) => panic!("unexpected I/O error"),
        Err(error @ (LoadError::NodeModel { .. } | LoadError::NotStored { .. })) => {
            panic!("unexpected: {error}")
        }
        Err(LoadError::Invalid { diagnostics }) => diagnostics
            .iter()
            .map(|diagnostic| {
                let help = diagnostic
                    .help
                    .as_ref()
                    .map(|help| format!(" [{help}]"))
                    .unwrap_or_default();
                format!(
                    "{}:{}: {}{help}",
                    diagnostic.line, diagnostic.column, diagnostic.message
                )
            })
            .collect(),
    }
}
