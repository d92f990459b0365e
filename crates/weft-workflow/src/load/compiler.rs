//! The compiler's state while it walks one file, and the helpers every part of the walk
//! uses: reporting a problem at a field, compiling templates and schemas, suggesting a node.
//! The walk itself is in `compile.rs` (the workflow, state, nodes and routing),
//! `activities.rs` (the work inside nodes) and `tooling.rs` (the tool sections).

use super::file::File;
use crate::error::{Diagnostic, LoadError, did_you_mean};
use crate::expression::{Expressions, TextTemplate, ValueTemplate};
use crate::spec::WorkflowSpec;
use crate::workflow::{END, Field, NameMap, OutputSchema, Workflow};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

/// What compiling one file needs from the load it is part of: the tools a workflow may
/// name, and its sub-workflows, which are loaded (and compiled) in turn.
pub(super) trait LoadContext {
    /// The tools a workflow may name; `None` accepts any name.
    fn known_tools(&self) -> Option<&BTreeSet<String>>;

    /// Loads the sub-workflow that the file at `parent` names as `written_path`.
    fn load_child(
        &mut self,
        parent: &Path,
        written_path: &str,
    ) -> Result<Arc<Workflow>, ChildError>;
}

/// A sub-workflow that could not be loaded.
pub(super) enum ChildError {
    /// It runs itself, directly or through others: the chain of file names.
    Cycle(String),
    /// It could not be read or is invalid.
    Load(LoadError),
}

/// One file's compilation: what it has compiled so far and every problem found.
pub(super) struct Compiler<'s> {
    pub(super) context: &'s mut dyn LoadContext,
    pub(super) file: &'s File,
    pub(super) spec: &'s WorkflowSpec,
    pub(super) diagnostics: Vec<Diagnostic>,
    pub(super) expressions: Expressions,
    pub(super) fields: NameMap<Field>,
    /// The workflow's own guards, which its nodes' guards start from.
    pub(super) guards: crate::guards::NodeGuards,
}

impl Compiler<'_> {
    /// Reports a problem at the value at `path`.
    pub(super) fn error_at_value(&mut self, path: &[&str], message: String, help: Option<String>) {
        self.diagnostics
            .push(self.file.at_value(path, message, help));
    }

    /// Reports a problem at the key of `path`.
    pub(super) fn error_at_key(&mut self, path: &[&str], message: String, help: Option<String>) {
        self.diagnostics.push(self.file.at_key(path, message, help));
    }

    /// "did you mean `x`?" for a node name, when one is close.
    pub(super) fn suggest_node(&self, name: &str) -> Option<String> {
        let mut candidates: Vec<&str> = self.spec.nodes.keys().map(String::as_str).collect();
        candidates.push(END);
        did_you_mean(name, candidates).map(|candidate| format!("did you mean `{candidate}`?"))
    }

    /// Compiles a JSON Schema, reporting it at `path` when it is not one.
    pub(super) fn schema_validator(
        &mut self,
        path: &[&str],
        schema: &Value,
    ) -> Option<Arc<jsonschema::Validator>> {
        match jsonschema::validator_for(schema) {
            Ok(validator) => Some(Arc::new(validator)),
            Err(error) => {
                self.error_at_value(path, format!("not a valid JSON Schema: {error}"), None);
                None
            }
        }
    }

    /// Compiles a text template named `name`, reporting it at `path` when it does not compile.
    pub(super) fn text(&mut self, path: &[&str], name: &str, source: &str) -> Option<TextTemplate> {
        match self.expressions.text(name.to_owned(), source) {
            Ok(template) => Some(template),
            Err(error) => {
                self.error_at_value(
                    path,
                    format!("template does not compile: {}", error.message),
                    None,
                );
                None
            }
        }
    }

    /// Compiles a value with templates in it, reporting it at `path` when one does not
    /// compile.
    pub(super) fn value_template(
        &mut self,
        path: &[&str],
        name: &str,
        value: &Value,
    ) -> Option<ValueTemplate> {
        match self.expressions.value(name, value) {
            Ok(template) => Some(template),
            Err(error) => {
                self.error_at_value(
                    path,
                    format!("template does not compile: {}", error.message),
                    None,
                );
                None
            }
        }
    }

    /// A schema with its validator (for `output_schema` and `input_schema`).
    pub(super) fn output_schema(&mut self, path: &[&str], schema: &Value) -> Option<OutputSchema> {
        let validator = self.schema_validator(path, schema)?;
        Some(OutputSchema {
            schema: schema.clone(),
            validator,
        })
    }
}
