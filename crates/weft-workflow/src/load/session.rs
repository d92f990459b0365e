//! One top-level load: the chain of files being loaded (for cycle detection) and the files
//! already loaded (a sub-workflow used twice is loaded once). Each file goes through the
//! loader's passes here: YAML, field names, spec structs, then compilation.

use super::compile::compile;
use super::compiler::{ChildError, LoadContext};
use super::fields;
use super::file::{File, invalid};
use super::location::LocationIndex;
use super::overrides::ModelOverrides;
use super::parse::{deserialize_spec, parse_yaml, schema};
use crate::error::{Diagnostic, LoadError};
use crate::texts::WorkflowTexts;
use crate::workflow::Workflow;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One top-level load and the sub-workflows it reaches.
pub(super) struct Session<'a> {
    /// The tools a workflow may name; `None` accepts any name.
    known_tools: Option<&'a BTreeSet<String>>,
    /// Models that replace what the files name.
    models: &'a ModelOverrides,
    /// The files being loaded, outermost first.
    stack: Vec<PathBuf>,
    /// The files loaded, by canonical path.
    cache: HashMap<PathBuf, Arc<Workflow>>,
    /// Where the texts come from: the files, or the texts a run kept.
    stored: Option<&'a WorkflowTexts>,
    /// The top-level file's folder, against which texts are named.
    root: Option<PathBuf>,
    /// The texts read so far, named against `root`.
    read: WorkflowTexts,
}

impl<'a> Session<'a> {
    /// A load that accepts the tools in `known_tools` (any, when `None`).
    pub(super) fn new(
        known_tools: Option<&'a BTreeSet<String>>,
        models: &'a ModelOverrides,
    ) -> Self {
        Self {
            known_tools,
            models,
            stack: Vec::new(),
            cache: HashMap::new(),
            stored: None,
            root: None,
            read: WorkflowTexts::new(),
        }
    }

    /// The same load, reading the texts in `stored` instead of the files.
    pub(super) fn reading_stored(mut self, stored: &'a WorkflowTexts) -> Self {
        self.stored = Some(stored);
        self
    }

    /// The name a text is kept under: its path from the top-level file's folder, so a
    /// run started as `workflows/a.yaml` and resumed as `/home/me/workflows/a.yaml` finds
    /// the same texts.
    fn text_name(&mut self, path: &Path) -> String {
        let root = self
            .root
            .get_or_insert_with(|| path.parent().map(Path::to_owned).unwrap_or_default());
        path.strip_prefix(&*root)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// The text of the file at `path`: from the disk, or from the texts a run kept.
    fn read_text(&mut self, path: &Path) -> Result<Arc<str>, LoadError> {
        let name = self.text_name(path);
        let text: Arc<str> = match self.stored {
            Some(stored) => Arc::from(stored.get(&name).ok_or_else(|| LoadError::NotStored {
                path: path.to_owned(),
                name: name.clone(),
            })?),
            None => std::fs::read_to_string(path)
                .map_err(|source| LoadError::Io {
                    path: path.to_owned(),
                    source,
                })?
                .into(),
        };
        self.read.insert(name, text.clone());
        Ok(text)
    }

    /// Loads the workflow at `path` (or takes it from the cache).
    pub(super) fn load(&mut self, path: &Path) -> Result<Arc<Workflow>, LoadError> {
        let key = canonical(path);
        if let Some(workflow) = self.cache.get(&key) {
            return Ok(workflow.clone());
        }
        let source = self.read_text(path)?;
        self.stack.push(key.clone());
        let result = self.load_text(path, &source);
        self.stack.pop();
        let workflow = result?;
        self.cache.insert(key, workflow.clone());
        Ok(workflow)
    }

    /// Loads `source` as the text of the file at `path`.
    pub(super) fn load_source(
        &mut self,
        path: &Path,
        source: &str,
    ) -> Result<Arc<Workflow>, LoadError> {
        let name = self.text_name(path);
        self.read.insert(name, source);
        self.stack.push(canonical(path));
        self.load_text(path, source)
    }

    fn load_text(&mut self, path: &Path, source: &str) -> Result<Arc<Workflow>, LoadError> {
        let file = File {
            path: path.to_owned(),
            locations: LocationIndex::build(source),
        };
        let document = parse_yaml(&file, source)?;
        let FieldCheck {
            cleaned,
            checkable,
            mut diagnostics,
        } = check_fields(&file, document);
        let mut spec = match deserialize_spec(&file, &cleaned) {
            Ok(spec) => spec,
            Err(type_errors) => {
                // serde repeats what the field check already said, less helpfully.
                let repeats_field_check = |diagnostic: &Diagnostic| {
                    [
                        "unknown field `",
                        "unknown variant `",
                        "missing field `kind`",
                    ]
                    .iter()
                    .any(|pattern| diagnostic.message.contains(pattern))
                };
                let field_check_found_problems = !diagnostics.is_empty();
                diagnostics.extend(type_errors.into_iter().filter(|diagnostic| {
                    !(field_check_found_problems && repeats_field_check(diagnostic))
                }));
                return Err(invalid(diagnostics));
            }
        };
        if !checkable {
            return Err(invalid(diagnostics));
        }
        self.models.apply(&mut spec, self.stack.len() == 1)?;
        match compile(self, &file, spec) {
            Ok(mut workflow) if diagnostics.is_empty() => {
                // The top-level workflow keeps every text the load read.
                if self.stack.len() == 1 {
                    workflow.texts = Some(Arc::new(std::mem::take(&mut self.read)));
                }
                Ok(Arc::new(workflow))
            }
            Ok(_) => Err(invalid(diagnostics)),
            Err(LoadError::Invalid { diagnostics: more }) => {
                diagnostics.extend(more);
                Err(invalid(diagnostics))
            }
            Err(error) => Err(error),
        }
    }
}

impl LoadContext for Session<'_> {
    fn known_tools(&self) -> Option<&BTreeSet<String>> {
        self.known_tools
    }

    fn load_child(
        &mut self,
        parent: &Path,
        written_path: &str,
    ) -> Result<Arc<Workflow>, ChildError> {
        let base = parent.parent().unwrap_or_else(|| Path::new("."));
        let path = base.join(written_path);
        let key = canonical(&path);
        if let Some(position) = self.stack.iter().position(|entry| *entry == key) {
            let mut chain: Vec<String> = self.stack[position..]
                .iter()
                .map(|entry| display_name(entry))
                .collect();
            chain.push(display_name(&key));
            return Err(ChildError::Cycle(chain.join(" -> ")));
        }
        self.load(&path).map_err(ChildError::Load)
    }
}

/// What the field check found in a document.
struct FieldCheck {
    /// The document without the unknown keys that could be removed.
    cleaned: Value,
    /// False when a problem could not be removed, so the later checks would only repeat it.
    checkable: bool,
    /// The problems, located.
    diagnostics: Vec<Diagnostic>,
}

/// Reports every unknown key of `document`, then drops it, so the checks after this one
/// still run and the file's other errors are reported in the same pass.
fn check_fields(file: &File, document: Value) -> FieldCheck {
    let problems = fields::unknown_fields(&document, schema());
    let mut cleaned = document;
    let mut checkable = true;
    let mut diagnostics = Vec::with_capacity(problems.len());
    for problem in problems {
        if problem.removable {
            fields::remove_path(&mut cleaned, &problem.path);
        } else {
            checkable = false;
        }
        let position = if problem.at_key {
            file.locations.key(&problem.path)
        } else {
            file.locations.value(&problem.path)
        };
        diagnostics.push(file.diagnostic_at(position, problem.message, problem.help));
    }
    FieldCheck {
        cleaned,
        checkable,
        diagnostics,
    }
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}
