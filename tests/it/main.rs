//! Tests of the facade package: the layering rules and `#[weft::tool]` through the facade.

// Test helpers outside `#[test]` functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod architecture;
mod compaction;
#[cfg(feature = "mistralrs")]
mod long_session;
mod macros;
mod sources;
