//! What a finished step does to the run: its writes, evaluated and checked against the
//! fields they write, and where it goes next.

use crate::error::WriteMismatch;
use crate::expression::Scope;
use crate::spec::FieldType;
use crate::workflow::{END, Field, Node, NodeBody, Transition, Workflow, check_schema};
use serde_json::Value;
use weft_core::{ErrorKind, FieldWrite, StateDelta, StepError, WriteOp};

/// The step error of a write or a route that failed.
pub(super) fn invalid_step(message: String) -> StepError {
    StepError::new(ErrorKind::InvalidInput, message)
}

/// The delta of a finished step: `node`'s writes, evaluated in each of `scopes`.
pub(super) fn node_writes(
    workflow: &Workflow,
    node: &Node,
    scopes: &[Scope],
) -> Result<StateDelta, StepError> {
    let mut delta = StateDelta::default();
    delta.writes.reserve(scopes.len() * node.writes.len());
    for scope in scopes {
        for write in &node.writes {
            let Some(field) = workflow.fields.get(&write.field) else {
                return Err(invalid_step(format!(
                    "state field `{}` is not declared",
                    write.field
                )));
            };
            let value = workflow
                .expressions
                .render_value(&write.value, scope)
                .map_err(|error| {
                    invalid_step(format!("writes.{} failed: {}", write.field, error.message))
                })?;
            delta.writes.push(FieldWrite {
                field: write.field.clone(),
                op: field.write_op(),
                value,
            });
        }
    }
    Ok(delta)
}

/// Where a finished step goes: the first edge whose condition holds in `scope`; `None`
/// when the run ends after it.
pub(super) fn next_node(
    workflow: &Workflow,
    node: &Node,
    scope: &Scope,
) -> Result<Option<String>, StepError> {
    let next = match &node.next {
        Transition::End => None,
        Transition::To(target) => Some(target.clone()),
        Transition::Edges(edges) => {
            let mut chosen = None;
            for edge in edges {
                if holds(workflow, edge.when.as_ref(), scope)? {
                    chosen = Some(edge.to.clone());
                    break;
                }
            }
            chosen
        }
    };
    let next = next.filter(|target| target != END || workflow.nodes.contains_key(END));
    Ok(if matches!(node.body, NodeBody::End(_)) {
        None
    } else {
        next
    })
}

/// Checks one write against its field: the value of a replace, the item of an append, the
/// number of an add, the object of a merge.
pub(super) fn check_write(field: &Field, write: &FieldWrite) -> Result<(), WriteMismatch> {
    match write.op {
        WriteOp::Replace => check_schema(&field.validator, &write.value)?,
        WriteOp::Append => {
            if let Some(items) = &field.item_validator {
                check_schema(items, &write.value)?;
            }
        }
        WriteOp::Add => match (&write.value, field.field_type) {
            (Value::Number(number), FieldType::Integer)
                if !(number.is_i64() || number.is_u64()) =>
            {
                return Err(WriteMismatch::NotAnInteger {
                    number: number.clone(),
                });
            }
            (Value::Number(_), _) => {}
            (other, _) => {
                return Err(WriteMismatch::AddNeedsNumber {
                    got: weft_core::state::type_name(other),
                });
            }
        },
        WriteOp::Merge => {
            if !write.value.is_object() {
                return Err(WriteMismatch::MergeNeedsObject {
                    got: weft_core::state::type_name(&write.value),
                });
            }
        }
    }
    Ok(())
}

/// Whether `condition` holds in `scope` (no condition always holds); one that cannot be
/// evaluated fails the step, naming it.
pub(super) fn holds(
    workflow: &Workflow,
    condition: Option<&crate::expression::Expression>,
    scope: &Scope,
) -> Result<bool, StepError> {
    let Some(condition) = condition else {
        return Ok(true);
    };
    workflow
        .expressions
        .holds(condition, scope)
        .map_err(|error| {
            invalid_step(format!(
                "`when: {}` failed: {}",
                condition.source, error.message
            ))
        })
}
