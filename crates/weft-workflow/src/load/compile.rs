//! Validation and compilation of a parsed workflow in one walk: names resolve, templates
//! compile, writes fit their fields, every node is reachable. Problems are collected, not
//! thrown, so a file's every error is reported at once.

use super::compiler::{Compiler, LoadContext};
use super::file::{File, invalid};
use crate::error::{LoadError, did_you_mean};
use crate::expression::{Expression, Expressions};
use crate::spec::{
    EdgeSpec, FieldSpec, FieldType, LimitsSpec, NextSpec, NodeSpec, Reducer, WorkflowSpec,
};
use crate::workflow::{
    END, Edge, EndBody, Field, HumanBody, Limits, NameMap, Node, NodeBody, Transition, Workflow,
    Write, check_schema,
};
use indexmap::IndexMap;
use serde_json::{Value, json};
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use weft_core::duration::parse_duration;

/// Validates and compiles the spec read from `file`; `context` loads its sub-workflows.
pub(super) fn compile(
    context: &mut dyn LoadContext,
    file: &File,
    spec: WorkflowSpec,
) -> Result<Workflow, LoadError> {
    let mut compiler = Compiler {
        context,
        file,
        spec: &spec,
        diagnostics: Vec::new(),
        expressions: Expressions::new(),
        fields: NameMap::default(),
        guards: crate::guards::NodeGuards::default(),
    };
    compiler.guards = compiler.workflow_guards();
    for (name, field) in &spec.state {
        if let Some(compiled) = compiler.field(name, field) {
            compiler.fields.insert(name.clone(), compiled);
        }
    }
    if !spec.nodes.contains_key(&spec.entry) {
        let help = compiler.suggest_node(&spec.entry);
        compiler.error_at_value(
            &["entry"],
            format!("entry node `{}` does not exist", spec.entry),
            help,
        );
    }
    let mut nodes = NameMap::default();
    for (name, node) in &spec.nodes {
        if let Some(compiled) = compiler.node(name, node) {
            nodes.insert(name.clone(), compiled);
        }
    }
    compiler.check_reachable(&nodes);
    if compiler.diagnostics.is_empty() {
        compiler.check_branches(&nodes);
    }
    let output = spec
        .output
        .as_ref()
        .and_then(|output| compiler.value_template(&["output"], "output", output));
    let limits = compiler.limits(&["limits"], Some(&spec.limits));
    let tools = compiler.tool_settings();
    let memory = Arc::new(compiler.memory());
    let Compiler {
        diagnostics,
        expressions,
        fields,
        guards,
        ..
    } = compiler;
    if !diagnostics.is_empty() {
        return Err(invalid(diagnostics));
    }
    let field_names: Arc<[String]> = fields.keys().cloned().collect();
    Ok(Workflow {
        name: spec.name.clone(),
        source: file.path.clone(),
        location: std::fs::canonicalize(&file.path).unwrap_or_else(|_| file.path.clone()),
        model: spec.model.clone(),
        field_names,
        fields,
        entry: spec.entry.clone(),
        nodes,
        output,
        limits,
        tools,
        memory,
        guards: Arc::new(guards),
        expressions,
        spec,
        texts: None,
    })
}

impl Compiler<'_> {
    /// A state field: its reducer fits its type, its default fits its schema.
    fn field(&mut self, name: &str, spec: &FieldSpec) -> Option<Field> {
        let fits = match spec.reducer {
            Reducer::Replace => true,
            Reducer::Append => matches!(spec.field_type, FieldType::Array | FieldType::Any),
            Reducer::Merge => matches!(spec.field_type, FieldType::Object | FieldType::Any),
            Reducer::Add => matches!(
                spec.field_type,
                FieldType::Integer | FieldType::Number | FieldType::Any
            ),
        };
        if !fits {
            let needed = match spec.reducer {
                Reducer::Append => "array",
                Reducer::Merge => "object",
                _ => "integer or number",
            };
            self.error_at_value(
                &["state", name, "reducer"],
                format!(
                    "reducer `{}` does not fit field `{name}` of type `{}`; it needs type {needed}",
                    spec.reducer.as_str(),
                    spec.field_type.as_str()
                ),
                Some(format!(
                    "change the type to {needed} or use `reducer: replace`"
                )),
            );
            return None;
        }
        if spec.items.is_some() && spec.field_type != FieldType::Array {
            self.error_at_key(
                &["state", name, "items"],
                format!(
                    "`items` only applies to array fields, and `{name}` is {}",
                    spec.field_type.as_str()
                ),
                None,
            );
        }
        let mut schema = match spec.field_type {
            FieldType::Any => json!({}),
            other => json!({ "type": other.as_str() }),
        };
        if let Some(items) = &spec.items {
            schema["items"] = items.clone();
        }
        let validator = self.schema_validator(&["state", name], &schema)?;
        let item_validator = match &spec.items {
            Some(items) => Some(self.schema_validator(&["state", name, "items"], items)?),
            None => None,
        };
        let initial = match &spec.default {
            Some(default) => {
                if let Err(problem) = check_schema(&validator, default) {
                    self.error_at_value(
                        &["state", name, "default"],
                        format!("the default of `{name}` does not fit its type: {problem}"),
                        None,
                    );
                }
                default.clone()
            }
            None => empty_value(spec.field_type),
        };
        Some(Field {
            field_type: spec.field_type,
            reducer: spec.reducer,
            initial,
            validator,
            item_validator,
        })
    }

    fn node(&mut self, name: &str, spec: &NodeSpec) -> Option<Node> {
        let path = ["nodes", name];
        let kind = spec.kind_name();
        if name == END && kind != END {
            self.error_at_key(
                &path,
                format!("the node name `{END}` is reserved for finishing the run"),
                Some("rename this node, or make it `kind: end`".into()),
            );
        }
        let (writes, limits) = (spec.writes(), spec.limits());
        let next = self.transition(name, kind, spec);
        let writes = self.writes(name, writes);
        let limits = self.limits(&["nodes", name, "limits"], limits);
        let body = match spec {
            NodeSpec::Agent(agent) => self.agent(&path, agent).map(NodeBody::Activity),
            NodeSpec::Llm(llm) => self.llm(&path, llm).map(NodeBody::Activity),
            NodeSpec::Tool(tool) => Some(NodeBody::Activity(self.tool(&path, tool))),
            NodeSpec::Workflow(child) => self.child(&path, child).map(NodeBody::Activity),
            NodeSpec::Router(_) => Some(NodeBody::Router),
            NodeSpec::Map(map) => self.map(name, map).map(NodeBody::Map),
            NodeSpec::Parallel(parallel) => self.parallel(name, parallel).map(NodeBody::Parallel),
            NodeSpec::Human(human) => {
                let ask = self.text(
                    &["nodes", name, "ask"],
                    &format!("nodes.{name}.ask"),
                    &human.ask,
                );
                let input_schema = human.input_schema.as_ref().and_then(|schema| {
                    self.output_schema(&["nodes", name, "input_schema"], schema)
                });
                if human.ask.trim().is_empty() {
                    self.error_at_key(
                        &path,
                        format!("human node `{name}` has no `ask`"),
                        Some("add `ask: <the question>`".into()),
                    );
                }
                ask.map(|ask| NodeBody::Human(HumanBody { ask, input_schema }))
            }
            NodeSpec::End(end) => {
                let output = end.output.as_ref().and_then(|output| {
                    self.value_template(
                        &["nodes", name, "output"],
                        &format!("nodes.{name}.output"),
                        output,
                    )
                });
                Some(NodeBody::End(EndBody { output }))
            }
        }?;
        Some(Node {
            name: name.to_owned(),
            body,
            writes: writes?,
            next: next?,
            limits,
        })
    }

    /// Where a node goes next; an `end` node goes nowhere, every other node must say.
    fn transition(&mut self, name: &str, kind: &str, spec: &NodeSpec) -> Option<Transition> {
        let next = spec.next();
        if kind == END {
            if next.is_some() {
                self.error_at_key(
                    &["nodes", name, "next"],
                    format!("end node `{name}` cannot have `next`"),
                    Some("remove `next`".into()),
                );
            }
            return Some(Transition::End);
        }
        if let NodeSpec::Parallel(parallel) = spec {
            if next.is_some() {
                self.error_at_key(
                    &["nodes", name, "next"],
                    format!("parallel node `{name}` goes on at its `join`, not at `next`"),
                    Some(
                        "remove `next`; the run goes on at `join` once every branch got there"
                            .into(),
                    ),
                );
                return None;
            }
            return Some(self.target(&parallel.join));
        }
        let Some(next) = next else {
            self.error_at_key(
                &["nodes", name],
                format!("node `{name}` has no `next`"),
                Some("add `next: end` to finish the run here, or `next: <node>`".into()),
            );
            return None;
        };
        match next {
            NextSpec::Node(target) => {
                self.check_target(&["nodes", name, "next"], target)?;
                Some(self.target(target))
            }
            NextSpec::Edges(edges) => self.edges(name, edges),
        }
    }

    /// Conditional edges: each has a `when` but the last, the default, which has none.
    fn edges(&mut self, name: &str, edges: &[EdgeSpec]) -> Option<Transition> {
        if edges.is_empty() {
            self.error_at_value(
                &["nodes", name, "next"],
                "`next` has no edges".into(),
                Some("add `- to: <node>`".into()),
            );
            return None;
        }
        let mut compiled = Vec::with_capacity(edges.len());
        let mut ok = true;
        for (index, edge) in edges.iter().enumerate() {
            let is_last = index + 1 == edges.len();
            match self.edge(name, index, is_last, edge) {
                Some(edge) => compiled.push(edge),
                None => ok = false,
            }
        }
        ok.then_some(Transition::Edges(compiled))
    }

    /// Edge `index` of node `name`: its condition compiles, only the last one lacks a
    /// condition, and its target exists. Every problem is reported, not only the first.
    fn edge(&mut self, name: &str, index: usize, is_last: bool, edge: &EdgeSpec) -> Option<Edge> {
        let index_text = index.to_string();
        let edge_path = ["nodes", name, "next", index_text.as_str()];
        let mut ok = true;
        let when = match &edge.when {
            Some(condition) => {
                let compiled = self.condition(&edge_path, condition);
                ok &= compiled.is_some();
                compiled
            }
            None => {
                if !is_last {
                    self.error_at_value(
                        &edge_path,
                        format!("edge {index} of node `{name}` has no `when`, so the edges after it can never be taken"),
                        Some("give it a `when`, or move it last as the default".into()),
                    );
                    ok = false;
                }
                None
            }
        };
        if is_last && edge.when.is_some() {
            self.error_at_value(
                &edge_path,
                format!("the edges of node `{name}` need a final default edge without `when`"),
                Some("add `- to: <node>` (or `- to: end`) as the last edge".into()),
            );
            ok = false;
        }
        if self
            .check_target(&[&edge_path[..], &["to"][..]].concat(), &edge.to)
            .is_none()
        {
            ok = false;
        }
        ok.then(|| Edge {
            when,
            to: edge.to.clone(),
        })
    }

    /// The `when` condition under `path` (an edge or a branch), compiled; a condition that
    /// does not compile is reported there.
    pub(super) fn condition(&mut self, path: &[&str], condition: &str) -> Option<Expression> {
        let name = format!("{}.when", path.join("."));
        match self.expressions.expression(name, condition) {
            Ok(expression) => Some(expression),
            Err(error) => {
                self.error_at_value(
                    &[path, &["when"][..]].concat(),
                    format!("`when` does not compile: {}", error.message),
                    None,
                );
                None
            }
        }
    }

    fn target(&self, target: &str) -> Transition {
        if target == END && !self.spec.nodes.contains_key(END) {
            Transition::End
        } else {
            Transition::To(target.to_owned())
        }
    }

    pub(super) fn check_target(&mut self, path: &[&str], target: &str) -> Option<()> {
        if target == END || self.spec.nodes.contains_key(target) {
            return Some(());
        }
        let help = self.suggest_node(target);
        self.error_at_value(path, format!("unknown node `{target}`"), help);
        None
    }

    fn writes(&mut self, node: &str, writes: &IndexMap<String, Value>) -> Option<Vec<Write>> {
        let mut compiled = Vec::with_capacity(writes.len());
        let mut ok = true;
        for (field_name, value) in writes {
            let path = ["nodes", node, "writes", field_name.as_str()];
            let Some(field) = self.fields.get(field_name) else {
                if !self.spec.state.contains_key(field_name) {
                    let help = did_you_mean(field_name, self.spec.state.keys().map(String::as_str))
                        .map(|name| format!("did you mean `{name}`?"))
                        .or_else(|| {
                            Some(format!(
                                "declare it under `state:`, e.g. `{field_name}: {{ type: string }}`"
                            ))
                        });
                    self.error_at_key(
                        &path,
                        format!("node `{node}` writes to undeclared state field `{field_name}`"),
                        help,
                    );
                }
                ok = false;
                continue;
            };
            let literal_problem = match value {
                Value::String(text) if text.contains("{{") || text.contains("{%") => None,
                literal => {
                    let validator = match field.reducer {
                        Reducer::Append => field.item_validator.clone(),
                        _ => Some(field.validator.clone()),
                    };
                    match field.reducer {
                        Reducer::Add if !literal.is_number() => {
                            Some("`add` needs a number".to_owned())
                        }
                        Reducer::Merge if !literal.is_object() => {
                            Some("`merge` needs an object".to_owned())
                        }
                        _ => validator.and_then(|validator| {
                            check_schema(&validator, literal)
                                .err()
                                .map(|violation| violation.to_string())
                        }),
                    }
                }
            };
            if let Some(problem) = literal_problem {
                self.error_at_value(
                    &path,
                    format!("the value written to `{field_name}` does not fit it: {problem}"),
                    None,
                );
                ok = false;
                continue;
            }
            match self.value_template(&path, &format!("nodes.{node}.writes.{field_name}"), value) {
                Some(template) => compiled.push(Write {
                    field: field_name.clone(),
                    value: template,
                }),
                None => ok = false,
            }
        }
        ok.then_some(compiled)
    }

    /// A workflow's or node's limits; a bad timeout or a zero step count is reported.
    fn limits(&mut self, path: &[&str], spec: Option<&LimitsSpec>) -> Limits {
        let Some(spec) = spec else {
            return Limits::default();
        };
        let timeout = spec
            .timeout
            .as_ref()
            .and_then(|text| match parse_duration(text) {
                Ok(duration) => Some(duration),
                Err(error) => {
                    let mut timeout_path = path.to_vec();
                    timeout_path.push("timeout");
                    self.error_at_value(&timeout_path, error.to_string(), None);
                    None
                }
            });
        if spec.max_steps == Some(0) {
            let mut steps_path = path.to_vec();
            steps_path.push("max_steps");
            self.error_at_value(&steps_path, "`max_steps` must be at least 1".into(), None);
        }
        Limits {
            max_steps: spec.max_steps,
            timeout,
        }
    }

    fn check_reachable(&mut self, nodes: &NameMap<Node>) {
        if !self.spec.nodes.contains_key(&self.spec.entry) || nodes.len() != self.spec.nodes.len() {
            // Broken nodes were reported already; reachability would only add noise.
            return;
        }
        let mut seen: HashSet<&str> = HashSet::new();
        let mut queue = VecDeque::from([self.spec.entry.as_str()]);
        while let Some(name) = queue.pop_front() {
            if !seen.insert(name) {
                continue;
            }
            let Some(node) = nodes.get(name) else {
                continue;
            };
            queue.extend(super::parallel::successors(node));
        }
        for name in self.spec.nodes.keys() {
            if !seen.contains(name.as_str()) {
                self.error_at_key(
                    &["nodes", name],
                    format!(
                        "node `{name}` is never reached from entry `{}`",
                        self.spec.entry
                    ),
                    Some("point a `next` at it, or remove it".into()),
                );
            }
        }
    }
}

fn empty_value(field_type: FieldType) -> Value {
    match field_type {
        FieldType::String => json!(""),
        FieldType::Integer => json!(0),
        FieldType::Number => json!(0.0),
        FieldType::Boolean => json!(false),
        FieldType::Array => json!([]),
        FieldType::Object => json!({}),
        FieldType::Any => Value::Null,
    }
}
