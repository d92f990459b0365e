//! Templates and conditions, evaluated with minijinja in a sandbox: no file system, no
//! network, strict undefined variables and a fuel limit so a template cannot loop forever.
//!
//! A string that is exactly one `{{ expression }}` keeps the expression's native value (a
//! number stays a number, a list a list); any other string renders to text.

mod scope;

pub use crate::error::ExpressionError;
pub use scope::{Scope, StateView, object_to_template_value, to_template_value};

use minijinja::{Environment, UndefinedBehavior, Value as TemplateValue};
use serde_json::Value;

/// How much work one template evaluation may do before it is stopped.
const FUEL_PER_EVALUATION: u64 = 200_000;
const VALUE_VARIABLE: &str = "__weft_value";

/// The compiled templates of one workflow.
#[derive(Debug)]
pub struct Expressions {
    environment: Environment<'static>,
}

/// A handle to a compiled text template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextTemplate {
    name: String,
    /// Text and plain `{{ dotted.path }}` holes only: rendered without the template engine
    /// when every hole holds a string or an integer (what minijinja would print the same).
    simple: Option<Vec<Segment>>,
}

/// A piece of a simple text template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Hole(Vec<String>),
}

/// A handle to a compiled expression, evaluated to a native value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expression {
    name: String,
    /// A plain dotted path (`reply`, `output.text`, `state.count`) is looked up directly,
    /// without the template engine: the common case, and much cheaper.
    path: Option<Vec<String>>,
    /// The expression's source, for messages.
    pub source: String,
}

/// A YAML value whose strings are templates.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueTemplate {
    /// A value with no template in it.
    Literal(Value),
    /// A string with template syntax, rendered to text.
    Text(TextTemplate),
    /// A string that is one `{{ expression }}`, keeping the native value.
    Expression(Expression),
    /// A list with templates inside.
    List(Vec<ValueTemplate>),
    /// A mapping with templates inside.
    Map(Vec<(String, ValueTemplate)>),
}

impl Default for Expressions {
    fn default() -> Self {
        Self::new()
    }
}

impl Expressions {
    /// An empty, sandboxed environment.
    pub fn new() -> Self {
        let mut environment = Environment::new();
        environment.set_undefined_behavior(UndefinedBehavior::Strict);
        environment.set_fuel(Some(FUEL_PER_EVALUATION));
        environment.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        Self { environment }
    }

    /// Compiles a text template under a unique `name`.
    pub fn text(&mut self, name: String, source: &str) -> Result<TextTemplate, ExpressionError> {
        self.environment
            .add_template_owned(name.clone(), source.to_owned())?;
        Ok(TextTemplate {
            name,
            simple: simple_segments(source),
        })
    }

    /// Compiles an expression under a unique `name`.
    pub fn expression(
        &mut self,
        name: String,
        source: &str,
    ) -> Result<Expression, ExpressionError> {
        // Compile alone first, so errors point into the user's text, not into our wrapper.
        self.environment.compile_expression(source)?;
        self.environment.add_template_owned(
            name.clone(),
            format!("{{% set {VALUE_VARIABLE} = ({source}) %}}"),
        )?;
        Ok(Expression {
            name,
            path: dotted_path(source),
            source: source.to_owned(),
        })
    }

    /// Compiles a YAML value: strings with `{{`/`{%` become templates.
    pub fn value(&mut self, name: &str, value: &Value) -> Result<ValueTemplate, ExpressionError> {
        Ok(match value {
            Value::String(text) => {
                if let Some(inner) = single_expression(text) {
                    ValueTemplate::Expression(self.expression(name.to_owned(), inner)?)
                } else if text.contains("{{") || text.contains("{%") || text.contains("{#") {
                    ValueTemplate::Text(self.text(name.to_owned(), text)?)
                } else {
                    ValueTemplate::Literal(value.clone())
                }
            }
            Value::Array(items) => {
                let mut compiled = Vec::with_capacity(items.len());
                for (index, item) in items.iter().enumerate() {
                    compiled.push(self.value(&format!("{name}.{index}"), item)?);
                }
                if compiled
                    .iter()
                    .all(|item| matches!(item, ValueTemplate::Literal(_)))
                {
                    ValueTemplate::Literal(value.clone())
                } else {
                    ValueTemplate::List(compiled)
                }
            }
            Value::Object(entries) => {
                let mut compiled = Vec::with_capacity(entries.len());
                for (key, entry) in entries {
                    compiled.push((key.clone(), self.value(&format!("{name}.{key}"), entry)?));
                }
                if compiled
                    .iter()
                    .all(|(_, item)| matches!(item, ValueTemplate::Literal(_)))
                {
                    ValueTemplate::Literal(value.clone())
                } else {
                    ValueTemplate::Map(compiled)
                }
            }
            _ => ValueTemplate::Literal(value.clone()),
        })
    }

    /// Renders a text template.
    pub fn render(
        &self,
        template: &TextTemplate,
        scope: &Scope,
    ) -> Result<String, ExpressionError> {
        if let Some(segments) = &template.simple
            && let Some(text) = render_simple(segments, scope)
        {
            return Ok(text);
        }
        Ok(self
            .environment
            .get_template(&template.name)?
            .render(scope.to_context())?)
    }

    /// Evaluates an expression to a JSON value.
    pub fn evaluate(
        &self,
        expression: &Expression,
        scope: &Scope,
    ) -> Result<Value, ExpressionError> {
        let value = self.evaluate_native(expression, scope)?;
        to_json(&value)
    }

    /// Evaluates a condition: true when the expression's value is truthy.
    pub fn holds(&self, expression: &Expression, scope: &Scope) -> Result<bool, ExpressionError> {
        Ok(self.evaluate_native(expression, scope)?.is_true())
    }

    fn evaluate_native(
        &self,
        expression: &Expression,
        scope: &Scope,
    ) -> Result<TemplateValue, ExpressionError> {
        if let Some(path) = &expression.path {
            return scope.lookup(path);
        }
        let template = self.environment.get_template(&expression.name)?;
        let captured = template.render_captured(scope.to_context())?;
        Ok(captured
            .state()
            .lookup(VALUE_VARIABLE)
            .unwrap_or(TemplateValue::UNDEFINED))
    }

    /// Renders a value template to JSON.
    pub fn render_value(
        &self,
        template: &ValueTemplate,
        scope: &Scope,
    ) -> Result<Value, ExpressionError> {
        Ok(match template {
            ValueTemplate::Literal(value) => value.clone(),
            ValueTemplate::Text(text) => Value::String(self.render(text, scope)?),
            ValueTemplate::Expression(expression) => self.evaluate(expression, scope)?,
            ValueTemplate::List(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.render_value(item, scope))
                    .collect::<Result<_, _>>()?,
            ),
            ValueTemplate::Map(entries) => {
                let mut object = serde_json::Map::with_capacity(entries.len());
                for (key, entry) in entries {
                    object.insert(key.clone(), self.render_value(entry, scope)?);
                }
                Value::Object(object)
            }
        })
    }
}

/// Splits a template made only of text and `{{ dotted.path }}` holes; `None` for anything
/// else (filters, tags, comments, whitespace control), which the engine renders.
fn simple_segments(source: &str) -> Option<Vec<Segment>> {
    if source.contains("{%") || source.contains("{#") || source.ends_with('\n') {
        return None;
    }
    let mut segments = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            segments.push(Segment::Text(rest[..start].to_owned()));
        }
        let after = &rest[start + 2..];
        let end = after.find("}}")?;
        let inner = &after[..end];
        if inner.starts_with('-') || inner.ends_with('-') {
            return None;
        }
        segments.push(Segment::Hole(dotted_path(inner)?));
        rest = &after[end + 2..];
    }
    if rest.contains("}}") && segments.is_empty() {
        return None;
    }
    if !rest.is_empty() {
        segments.push(Segment::Text(rest.to_owned()));
    }
    Some(segments)
}

/// Renders a simple template, or `None` when a hole holds something whose printing the
/// engine should decide (or is undefined, so the engine reports it).
fn render_simple(segments: &[Segment], scope: &Scope) -> Option<String> {
    let mut text = String::new();
    for segment in segments {
        match segment {
            Segment::Text(literal) => text.push_str(literal),
            Segment::Hole(path) => {
                let value = scope.lookup(path).ok()?;
                if let Some(string) = value.as_str() {
                    text.push_str(string);
                } else if value.is_integer() {
                    text.push_str(&value.to_string());
                } else {
                    return None;
                }
            }
        }
    }
    Some(text)
}

/// The segments of an expression that is only identifiers joined by dots.
fn dotted_path(source: &str) -> Option<Vec<String>> {
    let segments: Vec<String> = source.trim().split('.').map(str::to_owned).collect();
    let identifier = |segment: &String| {
        let mut characters = segment.chars();
        characters
            .next()
            .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
            && characters.all(|character| character.is_ascii_alphanumeric() || character == '_')
    };
    // Keywords that minijinja treats as literals are not paths.
    let literal = matches!(
        segments.first().map(String::as_str),
        Some("true" | "false" | "none" | "True" | "False" | "None")
    );
    (!literal && segments.iter().all(identifier)).then_some(segments)
}

/// The inner expression of a string that is exactly `{{ expression }}`.
fn single_expression(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    let clean = !inner.contains("{{") && !inner.contains("}}") && !inner.contains("{%");
    clean.then_some(inner.trim())
}

fn to_json(value: &TemplateValue) -> Result<Value, ExpressionError> {
    if value.is_undefined() {
        return Ok(Value::Null);
    }
    serde_json::to_value(value).map_err(|error| ExpressionError {
        message: format!("the value cannot be stored as JSON: {error}"),
    })
}
#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope() -> Scope {
        Scope::new(to_template_value(&json!({"count": 2, "notes": ["a", "b"]})))
    }

    #[test]
    fn single_expressions_keep_native_values() {
        let mut expressions = Expressions::new();
        let template = expressions
            .value("t", &json!({"n": "{{ state.count + 1 }}", "text": "n={{ state.count }}", "fixed": [1, 2]}))
            .unwrap();
        let value = expressions.render_value(&template, &scope()).unwrap();
        assert_eq!(value, json!({"n": 3, "text": "n=2", "fixed": [1, 2]}));
    }

    #[test]
    fn conditions_and_filters() {
        let mut expressions = Expressions::new();
        let condition = expressions
            .expression("c".into(), "state.notes | length >= 2")
            .unwrap();
        assert!(expressions.holds(&condition, &scope()).unwrap());
    }

    #[test]
    fn bad_syntax_and_undefined_names_are_errors() {
        let mut expressions = Expressions::new();
        let error = expressions
            .expression("c".into(), "state.count >")
            .unwrap_err();
        assert!(error.message.contains("syntax error"), "{}", error.message);
        let undefined = expressions
            .expression("u".into(), "state.missing + 1")
            .unwrap();
        let error = expressions.evaluate(&undefined, &scope()).unwrap_err();
        assert!(error.message.contains("undefined"), "{}", error.message);
    }

    #[test]
    fn simple_templates_render_as_the_engine_does() {
        let scope = {
            let mut scope = Scope::new(to_template_value(
                &json!({"count": 2, "name": "Ada", "ratio": 0.5, "flag": true, "list": [1]}),
            ));
            scope.set_json("reply", &json!("yes"));
            scope
        };
        for source in [
            "Hello {{ state.name }}, count={{state.count}} reply={{ reply }}",
            "{{ state.name }}",
            "ratio {{ state.ratio }} flag {{ state.flag }} list {{ state.list }}",
            "no holes at all",
            "brace }} alone",
            "trailing {{ state.name }}\n",
            "{{- state.name }} trimmed",
        ] {
            let mut fast = Expressions::new();
            let template = fast.text("t".into(), source).unwrap();
            let mut engine = Expressions::new();
            let mut slow = engine.text("t".into(), source).unwrap();
            slow.simple = None;
            assert_eq!(
                fast.render(&template, &scope).unwrap(),
                engine.render(&slow, &scope).unwrap(),
                "{source}"
            );
        }
        let mut expressions = Expressions::new();
        let template = expressions
            .text("u".into(), "Hi {{ state.missing }}")
            .unwrap();
        let error = expressions.render(&template, &scope).unwrap_err();
        assert!(error.message.contains("undefined"), "{}", error.message);
    }

    #[test]
    fn runaway_templates_run_out_of_fuel() {
        let mut expressions = Expressions::new();
        let template = expressions
            .text(
                "loop".into(),
                "{% for a in range(1000) %}{% for b in range(1000) %}x{% endfor %}{% endfor %}",
            )
            .unwrap();
        let error = expressions.render(&template, &scope()).unwrap_err();
        assert!(error.message.contains("fuel"), "{}", error.message);
    }
}
