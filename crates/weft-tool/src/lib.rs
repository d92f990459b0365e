//! weft-tool: what a typed tool is, without any tool's implementation.
//!
//! A [`Tool`] declares its argument type (`Deserialize + JsonSchema`) and its output type
//! (`Serialize`); the [`Registry`] derives each tool's JSON Schema from its argument type
//! (draft 2020-12, subschemas inlined, `additionalProperties: false` on every object),
//! compiles a validator for it once, and checks every call's arguments before the tool
//! sees them. Types are erased only at the registry's boundary, where it serves the
//! runtime as a [`weft_core::ToolBox`].
//!
//! This crate is what `#[weft::tool]` expands to, and all an application needs to define
//! and register its own tools: it pulls in no HTTP client, MCP client or process code (the
//! tools that need them live in `weft-tools`). The macro works through this crate alone
//! with `#[weft_macros::tool(crate = weft_tool)]`. `serde`, `serde_json` and `schemars`
//! are re-exported, so argument types can derive through them:
//!
//! ```
//! use weft_tool::{ToolBox, ToolContext, ToolFailure, serde, schemars};
//!
//! /// The arguments of `greet`.
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! #[serde(crate = "weft_tool::serde")]
//! #[schemars(crate = "weft_tool::schemars")]
//! struct GreetArgs {
//!     /// Who to greet.
//!     name: String,
//! }
//!
//! struct Greet;
//!
//! impl weft_tool::Tool for Greet {
//!     type Args = GreetArgs;
//!     type Output = String;
//!     fn name(&self) -> &str { "greet" }
//!     fn description(&self) -> &str { "Greets someone by name." }
//!     async fn call(&self, args: GreetArgs, _context: ToolContext) -> Result<String, ToolFailure> {
//!         Ok(format!("Hello, {}!", args.name))
//!     }
//! }
//!
//! let mut registry = weft_tool::Registry::new();
//! registry.register(Greet).unwrap();
//! assert_eq!(registry.names(), ["greet"]);
//! ```

mod registry;
mod schema;
mod tool;

pub use registry::{Origin, Registry, RegistryError};
pub use schema::schema_for;
pub use tool::{Tool, ToolFailure, ToolFailureKind};
pub use weft_core::{ToolBox, ToolContext, ToolError};

pub use schemars;
pub use serde;
pub use serde_json;
