//! weft-tools: tools as typed Rust code.
//!
//! A [`Tool`] declares its argument type (`Deserialize + JsonSchema`) and its output type
//! (`Serialize`); the [`Registry`] derives each tool's JSON Schema from its argument type
//! (draft 2020-12, subschemas inlined, `additionalProperties: false` on every object),
//! compiles a validator for it once, and checks every call's arguments before the tool
//! sees them. Types are erased only at the registry's boundary, where it serves the
//! runtime as a [`weft_core::ToolBox`].

pub mod builtin;
pub mod command;
pub mod mcp;
mod process;
mod registry;
mod schema;
mod tool;

pub use registry::{Registry, RegistryError};
pub use schema::schema_for;
pub use tool::{Tool, ToolFailure, ToolFailureKind};

/// What `#[weft::tool]`'s generated code names; not for use by hand.
#[doc(hidden)]
pub mod __private {
    pub use schemars;
    pub use serde;
}
