//! Workflow state as a fold of deltas. A delta records each write with the reducer that
//! applies it, so a step stores what it changed, never the whole state.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

/// How a write combines with a field's current value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteOp {
    /// The value replaces the field.
    Replace,
    /// The value is added to the end of the field's list.
    Append,
    /// The value's keys are merged into the field's object (top level; the write wins).
    Merge,
    /// The value is added to the field's number.
    Add,
}

/// One write to one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldWrite {
    /// The field.
    pub field: String,
    /// The reducer that applies it.
    pub op: WriteOp,
    /// The value written.
    pub value: Value,
}

/// What one step changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StateDelta {
    /// The writes, applied in order.
    pub writes: Vec<FieldWrite>,
}

/// A write that does not fit the field it targets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state field `{field}`: {message}")]
pub struct StateError {
    /// The field.
    pub field: String,
    /// What was wrong.
    pub message: String,
}

impl StateDelta {
    /// Applies the delta to `state`. On error `state` may hold the writes before the bad one;
    /// callers that need all-or-nothing apply to a copy first.
    pub fn apply_to(&self, state: &mut Map<String, Value>) -> Result<(), StateError> {
        for write in &self.writes {
            apply_write(state, write)?;
        }
        Ok(())
    }
}

fn apply_write(state: &mut Map<String, Value>, write: &FieldWrite) -> Result<(), StateError> {
    let error = |message: String| StateError {
        field: write.field.clone(),
        message,
    };
    match write.op {
        WriteOp::Replace => {
            state.insert(write.field.clone(), write.value.clone());
        }
        WriteOp::Append => match state.get_mut(&write.field) {
            Some(Value::Array(items)) => items.push(write.value.clone()),
            None | Some(Value::Null) => {
                state.insert(write.field.clone(), Value::Array(vec![write.value.clone()]));
            }
            Some(other) => {
                return Err(error(format!(
                    "`append` needs a list, but the field holds {}",
                    type_name(other)
                )));
            }
        },
        WriteOp::Merge => {
            let Value::Object(incoming) = &write.value else {
                return Err(error(format!(
                    "`merge` needs an object to merge, got {}",
                    type_name(&write.value)
                )));
            };
            match state.get_mut(&write.field) {
                Some(Value::Object(existing)) => {
                    for (key, value) in incoming {
                        existing.insert(key.clone(), value.clone());
                    }
                }
                None | Some(Value::Null) => {
                    state.insert(write.field.clone(), write.value.clone());
                }
                Some(other) => {
                    return Err(error(format!(
                        "`merge` needs an object, but the field holds {}",
                        type_name(other)
                    )));
                }
            }
        }
        WriteOp::Add => {
            let current = match state.get(&write.field) {
                None | Some(Value::Null) => Value::from(0),
                Some(value) => value.clone(),
            };
            let sum = add_numbers(&current, &write.value).ok_or_else(|| {
                error(format!(
                    "`add` needs two numbers, got {} + {}",
                    type_name(&current),
                    type_name(&write.value)
                ))
            })?;
            state.insert(write.field.clone(), sum);
        }
    }
    Ok(())
}

/// Adds two JSON numbers, exactly for integers and in f64 otherwise.
fn add_numbers(left: &Value, right: &Value) -> Option<Value> {
    let (Value::Number(left), Value::Number(right)) = (left, right) else {
        return None;
    };
    if let (Some(a), Some(b)) = (left.as_i64(), right.as_i64())
        && let Some(sum) = a.checked_add(b)
    {
        return Some(Value::from(sum));
    }
    let sum = left.as_f64()? + right.as_f64()?;
    Number::from_f64(sum).map(Value::Number)
}

/// A JSON value's type, for messages.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(number) if number.is_f64() => "a number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write(field: &str, op: WriteOp, value: Value) -> FieldWrite {
        FieldWrite {
            field: field.into(),
            op,
            value,
        }
    }

    #[test]
    fn reducers_fold_into_state() {
        let mut state = Map::new();
        let delta = StateDelta {
            writes: vec![
                write("count", WriteOp::Add, json!(2)),
                write("count", WriteOp::Add, json!(3)),
                write("notes", WriteOp::Append, json!("a")),
                write("notes", WriteOp::Append, json!("b")),
                write("meta", WriteOp::Merge, json!({"x": 1})),
                write("meta", WriteOp::Merge, json!({"y": 2, "x": 3})),
                write("answer", WriteOp::Replace, json!("done")),
                write("score", WriteOp::Add, json!(0.5)),
            ],
        };
        delta.apply_to(&mut state).unwrap();
        assert_eq!(
            Value::Object(state),
            json!({"count": 5, "notes": ["a", "b"], "meta": {"x": 3, "y": 2},
                   "answer": "done", "score": 0.5})
        );
    }

    #[test]
    fn mismatched_writes_are_errors() {
        let mut state = Map::new();
        state.insert("name".into(), json!("x"));
        let error = StateDelta {
            writes: vec![write("name", WriteOp::Add, json!(1))],
        }
        .apply_to(&mut state)
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "state field `name`: `add` needs two numbers, got a string + an integer"
        );
        let error = StateDelta {
            writes: vec![write("name", WriteOp::Append, json!(1))],
        }
        .apply_to(&mut state)
        .unwrap_err();
        assert!(error.message.contains("needs a list"), "{error}");
    }

    #[test]
    fn integer_overflow_falls_back_to_float() {
        let mut state = Map::new();
        state.insert("n".into(), json!(i64::MAX));
        StateDelta {
            writes: vec![write("n", WriteOp::Add, json!(1))],
        }
        .apply_to(&mut state)
        .unwrap();
        assert!(state["n"].is_f64());
    }
}
