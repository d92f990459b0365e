//! Tools every weft has, written as typed tools: `echo`, `add`, `calculator` and `now`
//! (without effects, so idempotent) and `append_line` (a file side effect, made idempotent
//! by its key).

mod append_line;
mod arithmetic;
mod calculator;
mod now;

use crate::registry::Registry;
pub use append_line::AppendLine;
pub use arithmetic::{Add, Echo};
pub use calculator::{Calculator, evaluate};
pub use now::{Clock, Now, rfc3339};

/// A registry holding every built-in tool.
pub fn registry() -> Registry {
    let mut registry = Registry::new();
    // The built-in names are distinct, so none of these can clash.
    for result in [
        registry.register(Echo).map(|_| ()),
        registry.register(Add).map(|_| ()),
        registry.register(AppendLine).map(|_| ()),
        registry.register(Calculator).map(|_| ()),
        registry.register(Clock).map(|_| ()),
    ] {
        debug_assert!(result.is_ok(), "{result:?}");
    }
    registry
}
