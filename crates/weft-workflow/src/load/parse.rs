//! Reading a workflow's text: YAML 1.2 into JSON (syntax errors located), then JSON into
//! the spec structs, with every type error located at its field.

use super::file::{File, invalid};
use super::location::Position;
use crate::error::{Diagnostic, LoadError, YamlError};
use crate::spec::{NodeSpec, WorkflowSpec, workflow_json_schema};
use serde_json::Value;
use std::sync::OnceLock;

/// How weft reads YAML: as YAML 1.2, where only `true` and `false` (in any of their three
/// spellings) are booleans. Under YAML 1.1's rules `n`, `no`, `on`, `y` and the like would
/// be booleans too, and a default of `n`, a country code `NO` or a schema property named
/// `y` would silently become `true` or `false`.
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! { strict_booleans: true }
}

/// Reads YAML text into JSON, as the loader does before checking it; the error says where.
pub fn yaml_to_json(text: &str) -> Result<Value, YamlError> {
    serde_saphyr::from_str_with_options::<Value>(text, yaml_options()).map_err(|error| YamlError {
        message: error.without_snippet().to_string(),
    })
}

/// The JSON Schema of the workflow format, built once.
pub(super) fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(workflow_json_schema)
}

/// Parses a workflow file's YAML, which must be a mapping.
pub(super) fn parse_yaml(file: &File, source: &str) -> Result<Value, LoadError> {
    match serde_saphyr::from_str_with_options::<Value>(source, yaml_options()) {
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
pub(super) fn deserialize_spec(
    file: &File,
    document: &Value,
) -> Result<WorkflowSpec, Vec<Diagnostic>> {
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
