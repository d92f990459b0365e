//! The registry: typed tools behind one untyped boundary, each call's arguments checked
//! against the tool's schema before the tool sees them.

use crate::schema::schema_for;
use crate::tool::Tool;
use indexmap::IndexMap;
use serde_json::{Value, json};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use weft_core::{
    ErrorKind, ToolBox, ToolCall, ToolContext, ToolError, ToolFuture, ToolPolicy, ToolSpec,
};

/// A tool that could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Two tools with one name.
    #[error("a tool named `{0}` is registered already")]
    Duplicate(String),
    /// The argument type's schema does not compile (a bug in the tool's types).
    #[error("the argument schema of tool `{name}` is not a valid JSON Schema: {message}")]
    BadSchema {
        /// The tool.
        name: String,
        /// Why.
        message: String,
    },
}

type Erased = dyn Fn(Value, ToolContext) -> Pin<Box<dyn Future<Output = Result<Value, ToolError>> + Send>>
    + Send
    + Sync;

/// Where a registered tool comes from. A project's tool (an application's Rust tool, a
/// command tool, an MCP server's tool) may take a built-in tool's name: it wins, and the
/// built-in is kept aside as [`Registry::shadowed`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// One of weft's built-in tools.
    BuiltIn,
    /// Any other tool.
    Project,
}

/// One registered tool, its types erased.
struct Entry {
    origin: Origin,
    spec: ToolSpec,
    validator: jsonschema::Validator,
    idempotent: bool,
    policy: ToolPolicy,
    call: Box<Erased>,
}

/// Tools by name, in the order they were registered.
#[derive(Default)]
pub struct Registry {
    tools: IndexMap<String, Arc<Entry>>,
    /// Built-in tools that a project's tool of the same name replaced.
    shadowed: Vec<ToolSpec>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Registry")
            .field("tools", &self.tools.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tool; its schema is derived and its validator compiled here, once. A tool may
    /// replace a built-in tool of the same name, never another tool.
    pub fn register<T: Tool>(&mut self, tool: T) -> Result<&mut Self, RegistryError> {
        let entry = erase(tool, Origin::Project)?;
        self.insert(Arc::new(entry))?;
        Ok(self)
    }

    /// Adds one of weft's built-in tools, unless a project's tool already has its name.
    pub fn register_builtin<T: Tool>(&mut self, tool: T) -> Result<&mut Self, RegistryError> {
        let entry = erase(tool, Origin::BuiltIn)?;
        self.insert(Arc::new(entry))?;
        Ok(self)
    }

    /// Adds a tool known only at run time (a command tool, an MCP server's tool): its spec
    /// (whose `parameters` schema is compiled here), how it runs, and what it does.
    pub fn register_untyped(
        &mut self,
        spec: ToolSpec,
        idempotent: bool,
        policy: ToolPolicy,
        call: impl Fn(Value, ToolContext) -> ToolFuture + Send + Sync + 'static,
    ) -> Result<&mut Self, RegistryError> {
        let validator = compile(&spec)?;
        self.insert(Arc::new(Entry {
            origin: Origin::Project,
            spec,
            validator,
            idempotent,
            policy,
            call: Box::new(call),
        }))?;
        Ok(self)
    }

    /// Adds every tool of `other` as [`Registry::register`] would (built-ins as built-ins).
    pub fn extend(&mut self, other: Registry) -> Result<&mut Self, RegistryError> {
        for (_, entry) in other.tools {
            self.insert(entry)?;
        }
        self.shadowed.extend(other.shadowed);
        Ok(self)
    }

    /// Where the tool called `name` comes from.
    pub fn origin(&self, name: &str) -> Option<Origin> {
        self.tools.get(name).map(|entry| entry.origin)
    }

    /// The built-in tools that a project's tool of the same name replaced, in the order
    /// they were replaced.
    pub fn shadowed(&self) -> &[ToolSpec] {
        &self.shadowed
    }

    /// Inserts `entry` unless its name is taken; a project's tool replaces a built-in one
    /// (in its place) and a built-in one gives way to a project's.
    fn insert(&mut self, entry: Arc<Entry>) -> Result<(), RegistryError> {
        let name = entry.spec.name.clone();
        let Some(existing) = self.tools.get(&name) else {
            self.tools.insert(name, entry);
            return Ok(());
        };
        match (existing.origin, entry.origin) {
            (Origin::BuiltIn, Origin::Project) => {
                self.shadowed.push(existing.spec.clone());
                self.tools.insert(name, entry);
            }
            (Origin::Project, Origin::BuiltIn) => self.shadowed.push(entry.spec.clone()),
            (Origin::BuiltIn, Origin::BuiltIn) | (Origin::Project, Origin::Project) => {
                return Err(RegistryError::Duplicate(name));
            }
        }
        Ok(())
    }

    /// Calls `name` as a model's call is made: checked against the schema, then run.
    pub fn invoke(&self, name: &str, arguments: Value, context: ToolContext) -> ToolFuture {
        let call = ToolCall::new(format!("direct_{name}"), name.to_owned(), arguments);
        ToolBox::call(self, call, context)
    }

    /// Checks `arguments` against `name`'s schema: `Ok` or the error a model is given, a
    /// JSON document naming each problem's path and the schema expected.
    pub fn check(&self, name: &str, arguments: &Value) -> Result<(), ToolError> {
        let entry = self.entry(name)?;
        check(entry, arguments)
    }

    fn entry(&self, name: &str) -> Result<&Arc<Entry>, ToolError> {
        self.tools.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.tools.keys().map(String::as_str).collect();
            ToolError::new(
                ErrorKind::NotFound,
                json!({
                    "error": "unknown_tool",
                    "tool": name,
                    "known_tools": known,
                })
                .to_string(),
            )
        })
    }
}

/// A typed tool behind the untyped boundary: its schema derived and compiled, its calls
/// deserializing their arguments and serializing their output.
fn erase<T: Tool>(tool: T, origin: Origin) -> Result<Entry, RegistryError> {
    let mut parameters = schema_for::<T::Args>();
    tool.refine_schema(&mut parameters);
    let spec = ToolSpec {
        name: tool.name().to_owned(),
        description: tool.description().to_owned(),
        parameters,
    };
    let validator = compile(&spec)?;
    let idempotent = tool.idempotent();
    let policy = ToolPolicy {
        timeout: tool.timeout(),
        max_attempts: tool.max_attempts().max(1),
    };
    let tool = Arc::new(tool);
    let call: Box<Erased> = Box::new(move |arguments: Value, context: ToolContext| {
        let tool = tool.clone();
        Box::pin(async move {
            let args: T::Args = serde_json::from_value(arguments).map_err(|error| {
                ToolError::new(
                    ErrorKind::InvalidInput,
                    format!("the arguments do not fit the tool's types: {error}"),
                )
            })?;
            let output = tool.call(args, context).await.map_err(ToolError::from)?;
            serde_json::to_value(output).map_err(|error| {
                ToolError::new(
                    ErrorKind::Internal,
                    format!("the tool's output cannot be written as JSON: {error}"),
                )
            })
        })
    });
    Ok(Entry {
        origin,
        spec,
        validator,
        idempotent,
        policy,
        call,
    })
}

/// The validator of a tool's argument schema.
fn compile(spec: &ToolSpec) -> Result<jsonschema::Validator, RegistryError> {
    jsonschema::draft202012::new(&spec.parameters).map_err(|error| RegistryError::BadSchema {
        name: spec.name.clone(),
        message: error.to_string(),
    })
}

fn check(entry: &Entry, arguments: &Value) -> Result<(), ToolError> {
    if entry.validator.is_valid(arguments) {
        return Ok(());
    }
    let problems: Vec<Value> = entry
        .validator
        .iter_errors(arguments)
        .map(|error| {
            let path = error.instance_path().to_string();
            json!({
                "path": if path.is_empty() { "/".to_owned() } else { path },
                "message": error.to_string(),
            })
        })
        .collect();
    Err(ToolError::new(
        ErrorKind::InvalidInput,
        json!({
            "error": "invalid_arguments",
            "tool": entry.spec.name,
            "problems": problems,
            "expected_schema": entry.spec.parameters,
        })
        .to_string(),
    ))
}

impl ToolBox for Registry {
    fn spec(&self, name: &str) -> Option<ToolSpec> {
        self.tools.get(name).map(|entry| entry.spec.clone())
    }

    fn names(&self) -> Vec<String> {
        self.tools.keys().cloned().collect()
    }

    fn call(&self, call: ToolCall, context: ToolContext) -> ToolFuture {
        let entry = match self.entry(&call.name) {
            Ok(entry) => entry.clone(),
            Err(error) => return Box::pin(std::future::ready(Err(error))),
        };
        if let Some(error) = call.malformed_error(Some(&entry.spec.parameters)) {
            return Box::pin(std::future::ready(Err(error)));
        }
        if let Err(error) = check(&entry, &call.arguments) {
            return Box::pin(std::future::ready(Err(error)));
        }
        (entry.call)(call.arguments, context)
    }

    fn is_idempotent(&self, name: &str) -> bool {
        self.tools.get(name).is_some_and(|entry| entry.idempotent)
    }

    fn policy(&self, name: &str) -> ToolPolicy {
        self.tools
            .get(name)
            .map(|entry| entry.policy)
            .unwrap_or_default()
    }
}
