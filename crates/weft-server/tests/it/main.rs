//! weft-server over real HTTP on 127.0.0.1: a daemon in this process (its store a real
//! SQLite file or the local PostgreSQL), requests with reqwest.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api;
mod attention;
mod handover;
mod harness;
mod isolation;
mod questions;
mod queue;
mod sessions;
mod upgrade;
