//! Finds every unknown field in a workflow document by walking it beside the JSON Schema
//! that `schemars` derives from the spec structs, so the check knows exactly the fields the
//! parser accepts. serde stops at the first unknown field; this reports all of them.

use crate::error::did_you_mean;
use serde_json::{Map, Value};

/// An unknown field, or an unknown node kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The path of the offending key (or of the `kind` value).
    pub path: Vec<String>,
    /// True when the problem is the key itself; false for a bad value.
    pub at_key: bool,
    /// What is wrong.
    pub message: String,
    /// A suggestion.
    pub help: Option<String>,
    /// True when dropping the key leaves a document that can still be checked further.
    pub removable: bool,
}

/// Removes the key at `path` from `document`.
pub fn remove_path(document: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = document;
    for segment in parents {
        current = match current {
            Value::Object(entries) => match entries.get_mut(segment) {
                Some(next) => next,
                None => return,
            },
            Value::Array(items) => match segment
                .parse::<usize>()
                .ok()
                .and_then(|index| items.get_mut(index))
            {
                Some(next) => next,
                None => return,
            },
            _ => return,
        };
    }
    if let Value::Object(entries) = current {
        entries.shift_remove(last);
    }
}

/// Checks `document` against `schema` (a root schema with `$defs`).
pub fn unknown_fields(document: &Value, schema: &Value) -> Vec<FieldProblem> {
    let mut checker = Checker {
        definitions: schema.get("$defs").and_then(Value::as_object),
        problems: Vec::new(),
    };
    checker.walk(document, schema, &mut Vec::new());
    checker.problems
}

struct Checker<'a> {
    definitions: Option<&'a Map<String, Value>>,
    problems: Vec<FieldProblem>,
}

impl<'a> Checker<'a> {
    fn resolve(&self, schema: &'a Value) -> &'a Value {
        let mut schema = schema;
        // References chain only a few levels deep in derived schemas; the bound keeps a
        // malformed schema from looping.
        for _ in 0..8 {
            let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
                break;
            };
            let name = reference.rsplit('/').next().unwrap_or_default();
            match self
                .definitions
                .and_then(|definitions| definitions.get(name))
            {
                Some(target) => schema = target,
                None => break,
            }
        }
        schema
    }

    fn walk(&mut self, value: &Value, schema: &'a Value, path: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if let Some(variants) = schema
            .get("oneOf")
            .or_else(|| schema.get("anyOf"))
            .and_then(Value::as_array)
        {
            if let Some(variant) = self.choose_variant(value, variants, path) {
                self.walk(value, variant, path);
            }
            return;
        }
        match value {
            Value::Object(entries) => self.walk_object(entries, schema, path),
            Value::Array(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (index, item) in items.iter().enumerate() {
                        path.push(index.to_string());
                        self.walk(item, item_schema, path);
                        path.pop();
                    }
                }
            }
            _ => {}
        }
    }

    fn walk_object(
        &mut self,
        entries: &Map<String, Value>,
        schema: &'a Value,
        path: &mut Vec<String>,
    ) {
        let properties = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties");
        for (key, value) in entries {
            path.push(key.clone());
            if let Some(property) = properties.and_then(|properties| properties.get(key)) {
                self.walk(value, property, path);
            } else {
                match additional {
                    Some(Value::Bool(false)) => {
                        let known: Vec<&str> = properties
                            .map(|properties| properties.keys().map(String::as_str).collect())
                            .unwrap_or_default();
                        self.problems.push(FieldProblem {
                            path: path.clone(),
                            at_key: true,
                            message: format!(
                                "unknown field `{key}`{}; expected one of: {}",
                                describe_place(path),
                                known.join(", ")
                            ),
                            help: did_you_mean(key, known.iter().copied())
                                .map(|name| format!("did you mean `{name}`?")),
                            removable: true,
                        });
                    }
                    Some(additional @ Value::Object(_)) => self.walk(value, additional, path),
                    _ => {}
                }
            }
            path.pop();
        }
    }

    /// Picks the variant of a `oneOf` that applies: by `kind` for tagged objects, otherwise
    /// by JSON type. Reports an unknown `kind`.
    fn choose_variant(
        &mut self,
        value: &Value,
        variants: &'a [Value],
        path: &mut Vec<String>,
    ) -> Option<&'a Value> {
        let resolved: Vec<&'a Value> = variants
            .iter()
            .map(|variant| self.resolve(variant))
            .collect();
        let kinds: Vec<&'a str> = resolved
            .iter()
            .filter_map(|variant| {
                variant
                    .pointer("/properties/kind/const")
                    .and_then(Value::as_str)
            })
            .collect();
        if !kinds.is_empty()
            && let Value::Object(entries) = value
        {
            let Some(kind) = entries.get("kind") else {
                self.problems.push(FieldProblem {
                    path: path.clone(),
                    at_key: true,
                    message: format!("missing field `kind`{}", describe_place(path)),
                    help: Some(format!("add `kind:` with one of: {}", kinds.join(", "))),
                    removable: false,
                });
                return None;
            };
            let kind = kind.as_str()?;
            let chosen = resolved.iter().zip(&kinds).find(|(_, name)| **name == kind);
            if chosen.is_none() {
                path.push("kind".to_owned());
                self.problems.push(FieldProblem {
                    path: path.clone(),
                    at_key: false,
                    message: format!(
                        "unknown node kind `{kind}`; expected one of: {}",
                        kinds.join(", ")
                    ),
                    help: did_you_mean(kind, kinds.iter().copied())
                        .map(|name| format!("did you mean `{name}`?")),
                    removable: false,
                });
                path.pop();
            }
            return chosen.map(|(variant, _)| *variant);
        }
        resolved
            .into_iter()
            .find(|variant| type_matches(value, variant))
    }
}

fn type_matches(value: &Value, schema: &Value) -> bool {
    let Some(declared) = schema.get("type") else {
        return true;
    };
    let matches_one = |name: &str| match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
    };
    match declared {
        Value::String(name) => matches_one(name),
        Value::Array(names) => names.iter().filter_map(Value::as_str).any(matches_one),
        _ => true,
    }
}

fn describe_place(path: &[String]) -> String {
    match path {
        [] | [_] => String::new(),
        [first, name, ..] if first == "nodes" => format!(" in node `{name}`"),
        [first, name, ..] if first == "state" => format!(" in state field `{name}`"),
        [first, ..] => format!(" in `{first}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::workflow_json_schema;
    use serde_json::json;

    #[test]
    fn reports_every_unknown_field_with_suggestions() {
        let document = json!({
            "name": "x", "entry": "a", "nmae": 1,
            "nodes": {
                "a": {"kind": "llm", "prompt": "hi", "nxt": "b"},
                "b": {"kind": "routr"},
                "c": {"kind": "map", "branch": {"kind": "tool", "tol": "echo"}},
                "d": {"kind": "router", "next": [{"to": "a", "wen": "x"}]}
            },
            "state": {"n": {"type": "integer", "reduce": "add"}}
        });
        let problems = unknown_fields(&document, &workflow_json_schema());
        let messages: Vec<(String, Option<String>)> = problems
            .iter()
            .map(|problem| (problem.path.join("."), problem.help.clone()))
            .collect();
        assert_eq!(
            messages,
            vec![
                ("nmae".into(), Some("did you mean `name`?".into())),
                ("nodes.a.nxt".into(), Some("did you mean `next`?".into())),
                ("nodes.b.kind".into(), Some("did you mean `router`?".into())),
                (
                    "nodes.c.branch.tol".into(),
                    Some("did you mean `tool`?".into())
                ),
                (
                    "nodes.d.next.0.wen".into(),
                    Some("did you mean `when`?".into())
                ),
                (
                    "state.n.reduce".into(),
                    Some("did you mean `reducer`?".into())
                ),
            ]
        );
    }
}
