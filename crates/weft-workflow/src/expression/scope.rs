//! The variables templates see: a [`Scope`] per evaluation, the run's state as a
//! [`StateView`], and the conversion of JSON values into template values.

use crate::error::ExpressionError;
use minijinja::Value as TemplateValue;
use minijinja::value::{Enumerator, Object, ObjectRepr};
use serde_json::Value;
use std::sync::Arc;

/// The variables a template sees: `state`, `input`, and, where a node sets them, `reply`,
/// `output`, `outputs`, `item` (also under the map's `as:` name) and `index`. It is handed
/// to minijinja as an object, so no map is built per evaluation.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    state: TemplateValue,
    input: TemplateValue,
    reply: Option<TemplateValue>,
    output: Option<TemplateValue>,
    outputs: Option<TemplateValue>,
    item: Option<TemplateValue>,
    index: Option<TemplateValue>,
    item_alias: Option<Arc<str>>,
}

impl Scope {
    /// A scope with the current state (see [`StateView`]).
    pub fn new(state: TemplateValue) -> Self {
        Self {
            state,
            ..Self::default()
        }
    }

    /// Sets a variable (`state`, `input`, `reply`, `output`, `outputs`, `item`, `index`).
    pub fn set(&mut self, name: &'static str, value: TemplateValue) -> &mut Self {
        match name {
            "state" => self.state = value,
            "input" => self.input = value,
            "reply" => self.reply = Some(value),
            "output" => self.output = Some(value),
            "outputs" => self.outputs = Some(value),
            "item" => self.item = Some(value),
            "index" => self.index = Some(value),
            _ => {}
        }
        self
    }

    /// Sets a JSON variable.
    pub fn set_json(&mut self, name: &'static str, value: &Value) -> &mut Self {
        self.set(name, to_template_value(value))
    }

    /// Makes the map item visible under its `as:` name too.
    pub fn alias_item(&mut self, alias: &str) -> &mut Self {
        if alias != "item" {
            self.item_alias = Some(Arc::from(alias));
        }
        self
    }

    fn variable(&self, name: &str) -> Option<TemplateValue> {
        match name {
            "state" => Some(self.state.clone()),
            "input" => Some(self.input.clone()),
            "reply" => self.reply.clone(),
            "output" => self.output.clone(),
            "outputs" => self.outputs.clone(),
            "item" => self.item.clone(),
            "index" => self.index.clone(),
            other if self.item_alias.as_deref() == Some(other) => self.item.clone(),
            _ => None,
        }
    }

    /// Looks up a dotted path as minijinja would, strictly: a missing name is an error.
    pub(super) fn lookup(&self, path: &[String]) -> Result<TemplateValue, ExpressionError> {
        let undefined = |name: &str| ExpressionError {
            message: format!("undefined value: `{name}` is not defined here"),
        };
        let (first, rest) = path.split_first().ok_or_else(|| undefined(""))?;
        let mut value = self.variable(first).ok_or_else(|| undefined(first))?;
        let mut walked = first.clone();
        for segment in rest {
            walked.push('.');
            walked.push_str(segment);
            value = value
                .get_attr(segment)
                .ok()
                .filter(|found| !found.is_undefined())
                .ok_or_else(|| undefined(&walked))?;
        }
        Ok(value)
    }

    pub(super) fn to_context(&self) -> TemplateValue {
        TemplateValue::from_object(self.clone())
    }
}

impl Object for Scope {
    fn get_value(self: &Arc<Self>, key: &TemplateValue) -> Option<TemplateValue> {
        self.variable(key.as_str()?)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let mut names = vec!["state", "input"];
        for (name, value) in [
            ("reply", &self.reply),
            ("output", &self.output),
            ("outputs", &self.outputs),
            ("item", &self.item),
            ("index", &self.index),
        ] {
            if value.is_some() {
                names.push(name);
            }
        }
        let mut keys: Vec<TemplateValue> = names.into_iter().map(TemplateValue::from).collect();
        if let Some(alias) = &self.item_alias {
            keys.push(TemplateValue::from(alias.as_ref()));
        }
        Enumerator::Values(keys)
    }
}

/// The run's state as templates see it: one converted value per declared field, so a step
/// that changes one field converts only that field. The values are shared with the run,
/// which copies them only if a view is still held when a field changes.
#[derive(Debug, Clone)]
pub struct StateView {
    names: Arc<[String]>,
    values: Arc<Vec<TemplateValue>>,
}

impl StateView {
    /// A view over `names` (the declared fields, in order) with their `values`.
    pub fn new(names: Arc<[String]>, values: Arc<Vec<TemplateValue>>) -> Self {
        Self { names, values }
    }
}

impl Object for StateView {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &TemplateValue) -> Option<TemplateValue> {
        let key = key.as_str()?;
        let index = self.names.iter().position(|name| name == key)?;
        self.values.get(index).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            self.names
                .iter()
                .map(|name| TemplateValue::from(name.as_str()))
                .collect(),
        )
    }
}

/// Converts JSON to a template value.
pub fn to_template_value(value: &Value) -> TemplateValue {
    match value {
        Value::Null => TemplateValue::from(()),
        Value::Bool(flag) => TemplateValue::from(*flag),
        Value::Number(number) => {
            if let Some(integer) = number.as_i64() {
                TemplateValue::from(integer)
            } else if let Some(integer) = number.as_u64() {
                TemplateValue::from(integer)
            } else {
                TemplateValue::from(number.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(text) => TemplateValue::from(text.as_str()),
        Value::Array(items) => items.iter().map(to_template_value).collect(),
        Value::Object(entries) => object_to_template_value(entries),
    }
}

/// Converts a JSON object to a template map, keeping its key order.
pub fn object_to_template_value(entries: &serde_json::Map<String, Value>) -> TemplateValue {
    TemplateValue::from_pairs(
        entries
            .iter()
            .map(|(key, value)| (TemplateValue::from(key.as_str()), to_template_value(value))),
    )
}
