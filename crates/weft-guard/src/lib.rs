//! weft-guard: the guards that implement weft-core's guard port.
//!
//! - [`llama_guard`]: Llama Guard 3 through any chat backend (its prompt, its reply);
//! - [`scripted`]: verdicts from a YAML file, the test double and the offline demo;
//! - [`open`]: a guard spec (`scripted:FILE`, ...) to a guard.

pub mod llama_guard;
pub mod open;
pub mod scripted;

pub use llama_guard::LlamaGuard;
pub use open::{GuardSpec, GuardSpecError};
pub use scripted::ScriptedGuard;
