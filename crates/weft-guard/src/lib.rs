//! weft-guard: the guards that implement weft-core's guard port.
//!
//! - [`llama_guard`]: Llama Guard 3 through any chat backend (its prompt, its reply);
//! - [`prompt_guard`]: Prompt Guard over windows of a text, through an HTTP classifier
//!   (feature `http`) or in this process (feature `prompt-guard`);
//! - [`scripted`]: verdicts from a YAML file, the test double and the offline demo;
//! - [`open`]: a guard spec (`scripted:FILE`, ...) to a guard.

pub mod llama_guard;
pub mod open;
pub mod prompt_guard;
pub mod scripted;

pub use llama_guard::LlamaGuard;
pub use open::{GuardSpec, GuardSpecError};
pub use prompt_guard::PromptGuard;
pub use scripted::ScriptedGuard;
