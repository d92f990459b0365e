//! Loading a workflow file: parse the YAML, check every field name against the schema,
//! read it into the spec structs, then validate and compile it. Every problem found is
//! reported with file:line:column, not only the first.
//!
//! - `session.rs`: one top-level load, with its sub-workflows (cycles, caching);
//! - `parse.rs`: YAML 1.2 text into JSON, and JSON into the spec structs, located;
//! - `fields.rs`: unknown field names, with suggestions;
//! - `compiler.rs`, `compile.rs`, `activities.rs`, `tooling.rs`: validation and compilation
//!   in one walk, and `parallel.rs`, the branches of `parallel` nodes;
//! - `file.rs` and `location.rs`: where everything in a file is, for diagnostics.

mod activities;
mod compile;
mod compiler;
mod fields;
mod file;
mod guards;
mod location;
mod memory;
mod overrides;
mod parallel;
mod parse;
mod session;
mod tooling;

pub use location::{LocationIndex, Position};
pub use overrides::ModelOverrides;
pub use parse::yaml_to_json;
// Durations are parsed in weft-core, where every layer reaches them; the CLI imports them
// from here.
pub use weft_core::duration::{DurationError, parse_duration};

use crate::error::LoadError;
use crate::texts::WorkflowTexts;
use crate::workflow::Workflow;
use session::Session;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

/// Loads and validates workflow files.
#[derive(Debug, Clone, Default)]
pub struct Loader {
    known_tools: Option<BTreeSet<String>>,
    models: ModelOverrides,
}

impl Loader {
    /// A loader that accepts any tool name (tools are checked when called).
    pub fn new() -> Self {
        Self::default()
    }

    /// A loader that rejects tool names not in `tools`.
    pub fn with_tools(tools: impl IntoIterator<Item = String>) -> Self {
        Self {
            known_tools: Some(tools.into_iter().collect()),
            models: ModelOverrides::default(),
        }
    }

    /// The same loader, replacing the models the files name with `models`.
    pub fn with_models(mut self, models: ModelOverrides) -> Self {
        self.models = models;
        self
    }

    /// Loads the workflow at `path`, with its sub-workflows.
    pub fn load(&self, path: &Path) -> Result<Arc<Workflow>, LoadError> {
        Session::new(self.known_tools.as_ref(), &self.models).load(path)
    }

    /// Loads the workflow at `path` from the texts a run kept (see [`Workflow::texts`])
    /// instead of the files, which may have changed or gone since.
    pub fn load_stored(
        &self,
        path: &Path,
        texts: &WorkflowTexts,
    ) -> Result<Arc<Workflow>, LoadError> {
        Session::new(self.known_tools.as_ref(), &self.models)
            .reading_stored(texts)
            .load(path)
    }

    /// Loads a workflow from `source`, as if read from `path` (sub-workflow paths resolve
    /// against its folder).
    pub fn load_source(&self, path: &Path, source: &str) -> Result<Arc<Workflow>, LoadError> {
        Session::new(self.known_tools.as_ref(), &self.models).load_source(path, source)
    }
}
