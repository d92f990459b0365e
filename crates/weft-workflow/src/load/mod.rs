//! Loading a workflow file: parse the YAML, check every field name against the schema,
//! read it into the spec structs, then validate and compile it. Every problem found is
//! reported with file:line:column, not only the first.

mod activities;
mod compile;
mod duration;
mod fields;
mod location;
mod tooling;

pub use duration::parse_duration;
pub use location::{LocationIndex, Position};

use crate::error::{Diagnostic, LoadError};
use crate::spec::{NodeSpec, WorkflowSpec, workflow_json_schema};
use crate::workflow::Workflow;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// Loads and validates workflow files.
#[derive(Debug, Clone, Default)]
pub struct Loader {
    known_tools: Option<BTreeSet<String>>,
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
        }
    }

    /// Loads the workflow at `path`, with its sub-workflows.
    pub fn load(&self, path: &Path) -> Result<Arc<Workflow>, LoadError> {
        let mut session = Session {
            loader: self,
            stack: Vec::new(),
            cache: HashMap::new(),
        };
        session.load(path)
    }

    /// Loads a workflow from `source`, as if read from `path` (sub-workflow paths resolve
    /// against its folder).
    pub fn load_source(&self, path: &Path, source: &str) -> Result<Arc<Workflow>, LoadError> {
        let mut session = Session {
            loader: self,
            stack: vec![canonical(path)],
            cache: HashMap::new(),
        };
        session.load_text(path, source)
    }
}

/// One top-level load: the chain of files being loaded (for cycle detection) and the files
/// already loaded (a sub-workflow used twice is loaded once).
struct Session<'a> {
    loader: &'a Loader,
    stack: Vec<PathBuf>,
    cache: HashMap<PathBuf, Arc<Workflow>>,
}

impl Session<'_> {
    fn load(&mut self, path: &Path) -> Result<Arc<Workflow>, LoadError> {
        let key = canonical(path);
        if let Some(workflow) = self.cache.get(&key) {
            return Ok(workflow.clone());
        }
        let source = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: path.to_owned(),
            source,
        })?;
        self.stack.push(key.clone());
        let result = self.load_text(path, &source);
        self.stack.pop();
        let workflow = result?;
        self.cache.insert(key, workflow.clone());
        Ok(workflow)
    }

    fn load_text(&mut self, path: &Path, source: &str) -> Result<Arc<Workflow>, LoadError> {
        let file = File {
            path: path.to_owned(),
            locations: LocationIndex::build(source),
        };
        let document = parse_yaml(&file, source)?;
        let problems = fields::unknown_fields(&document, schema());
        // Unknown keys are reported and then dropped, so the checks after them still run
        // and the file's other errors are reported in the same pass.
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
        let spec = match deserialize_spec(&file, &cleaned) {
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
        match compile::compile(self, &file, spec) {
            Ok(workflow) if diagnostics.is_empty() => Ok(Arc::new(workflow)),
            Ok(_) => Err(invalid(diagnostics)),
            Err(LoadError::Invalid { diagnostics: more }) => {
                diagnostics.extend(more);
                Err(invalid(diagnostics))
            }
            Err(error) => Err(error),
        }
    }

    /// Loads a sub-workflow named in `parent` at `written_path`.
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

    fn known_tools(&self) -> Option<&BTreeSet<String>> {
        self.loader.known_tools.as_ref()
    }
}

enum ChildError {
    Cycle(String),
    Load(LoadError),
}

/// A file being loaded: its path and where everything in it is.
struct File {
    path: PathBuf,
    locations: LocationIndex,
}

impl File {
    fn diagnostic_at(
        &self,
        position: Position,
        message: String,
        help: Option<String>,
    ) -> Diagnostic {
        Diagnostic {
            file: self.path.clone(),
            line: position.line,
            column: position.column,
            message,
            help,
        }
    }

    fn at_value(&self, path: &[&str], message: String, help: Option<String>) -> Diagnostic {
        let path: Vec<String> = path.iter().map(|part| (*part).to_owned()).collect();
        self.diagnostic_at(self.locations.value(&path), message, help)
    }

    fn at_key(&self, path: &[&str], message: String, help: Option<String>) -> Diagnostic {
        let path: Vec<String> = path.iter().map(|part| (*part).to_owned()).collect();
        self.diagnostic_at(self.locations.key(&path), message, help)
    }
}

/// Reads YAML text into JSON, as the loader does before checking it; the error says where.
pub fn yaml_to_json(text: &str) -> Result<Value, String> {
    serde_saphyr::from_str::<Value>(text).map_err(|error| error.without_snippet().to_string())
}

fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(workflow_json_schema)
}

fn invalid(mut diagnostics: Vec<Diagnostic>) -> LoadError {
    diagnostics.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    diagnostics.dedup();
    LoadError::Invalid { diagnostics }
}

fn parse_yaml(file: &File, source: &str) -> Result<Value, LoadError> {
    match serde_saphyr::from_str::<Value>(source) {
        Ok(Value::Object(entries)) => Ok(Value::Object(entries)),
        Ok(other) => Err(invalid(vec![file.diagnostic_at(
            Position { line: 1, column: 1 },
            format!(
                "a workflow file must be a YAML mapping (with `name`, `entry` and `nodes`), but this one is {}",
                weft_core::state::type_name(&other)
            ),
            Some("start from an example in workflows/, or run `weft schema` for the format".into()),
        )])),
        Err(error) => {
            let position = error
                .location()
                .map(|location| Position {
                    line: usize::try_from(location.line()).unwrap_or(1),
                    column: usize::try_from(location.column()).unwrap_or(1),
                })
                .unwrap_or(Position { line: 1, column: 1 });
            let text = error.without_snippet().to_string();
            let message = strip_location_prefix(&text);
            Err(invalid(vec![file.diagnostic_at(
                position,
                format!("invalid YAML: {message}"),
                None,
            )]))
        }
    }
}

/// serde-saphyr prefixes messages with `error: line L column C: `; we print our own.
fn strip_location_prefix(text: &str) -> &str {
    let first_line = text.lines().next().unwrap_or(text);
    let without_error = first_line.strip_prefix("error: ").unwrap_or(first_line);
    if without_error.starts_with("line ")
        && let Some(index) = without_error.find(": ")
    {
        return &without_error[index + 2..];
    }
    without_error
}

/// Reads the document into the spec structs, reporting type errors by location. When the
/// whole document fails, each node is tried alone so that every bad node is reported.
fn deserialize_spec(file: &File, document: &Value) -> Result<WorkflowSpec, Vec<Diagnostic>> {
    let first_error = match serde_path_to_error::deserialize::<_, WorkflowSpec>(document) {
        Ok(spec) => return Ok(spec),
        Err(error) => error,
    };
    let mut diagnostics = Vec::new();
    let first_path = path_segments(first_error.path());
    let in_nodes =
        first_path.first().is_some_and(|segment| segment == "nodes") && first_path.len() > 1;
    if in_nodes && let Some(Value::Object(nodes)) = document.get("nodes") {
        for (name, node) in nodes {
            if let Some((inner_path, message)) = node_type_error(node) {
                let mut path = vec!["nodes".to_owned(), name.clone()];
                path.extend(inner_path);
                diagnostics.push(type_error(file, &path, &message));
            }
        }
    }
    if diagnostics.is_empty() {
        diagnostics.push(type_error(
            file,
            &first_path,
            &first_error.inner().to_string(),
        ));
    }
    Err(diagnostics)
}

/// The first type error inside one node, with its path. The node is read as its kind's
/// struct directly (not through the tagged enum, which would lose the path).
fn node_type_error(node: &Value) -> Option<(Vec<String>, String)> {
    fn check<T: serde::de::DeserializeOwned>(value: &Value) -> Option<(Vec<String>, String)> {
        serde_path_to_error::deserialize::<_, T>(value)
            .err()
            .map(|error| (path_segments(error.path()), error.inner().to_string()))
    }
    let mut fields = node.as_object()?.clone();
    let kind = fields.remove("kind");
    let rest = Value::Object(fields);
    match kind.as_ref().and_then(Value::as_str) {
        Some("agent") => check::<crate::spec::AgentSpec>(&rest),
        Some("llm") => check::<crate::spec::LlmSpec>(&rest),
        Some("tool") => check::<crate::spec::ToolNodeSpec>(&rest),
        Some("router") => check::<crate::spec::RouterSpec>(&rest),
        Some("map") => check::<crate::spec::MapSpec>(&rest),
        Some("workflow") => check::<crate::spec::SubWorkflowSpec>(&rest),
        Some("human") => check::<crate::spec::HumanSpec>(&rest),
        Some("end") => check::<crate::spec::EndSpec>(&rest),
        _ => check::<NodeSpec>(node),
    }
}

fn type_error(file: &File, path: &[String], message: &str) -> Diagnostic {
    let place = if path.is_empty() {
        String::new()
    } else {
        format!("`{}`: ", path.join("."))
    };
    file.diagnostic_at(
        file.locations.value(path),
        format!("{place}{message}"),
        None,
    )
}

fn path_segments(path: &serde_path_to_error::Path) -> Vec<String> {
    path.iter()
        .filter_map(|segment| match segment {
            serde_path_to_error::Segment::Map { key } => Some(key.clone()),
            serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
            serde_path_to_error::Segment::Enum { .. } | serde_path_to_error::Segment::Unknown => {
                None
            }
        })
        .collect()
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}
