//! Every environment variable weft reads, in one place.

/// The default model spec, when `--model` is not given.
pub const MODEL: &str = "WEFT_MODEL";

/// The weft database, when `--db` is not given (default `weft.db`).
pub const DATABASE: &str = "WEFT_DB";

/// The configuration file (default `./weft.toml`, when there is one).
pub const CONFIG: &str = "WEFT_CONFIG";

/// What is logged to standard error, as a tracing filter (`warn`, `mistralrs_core=info`);
/// `RUST_LOG` when unset.
pub const LOG: &str = "WEFT_LOG";
