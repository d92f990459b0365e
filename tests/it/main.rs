//! End-to-end tests of the facade package: the `weft` binary and the layering rules.

// Test helpers outside `#[test]` functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod architecture;
mod cli;
mod crash;
mod macros;
mod models;
mod tools;
