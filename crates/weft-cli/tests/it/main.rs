//! End-to-end tests of the `weft` binary: the example workflows, crashes and resumes,
//! models and tools, through the command line as people use it.

// Test helpers outside `#[test]` functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod answers;
mod cli;
mod command_line;
mod crash;
mod diffs;
mod examples;
mod guards;
mod help;
mod models;
mod parallel;
mod pipes;
mod recorded;
mod serve;
mod sessions;
mod terminal;
mod tools;
