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

/// `weft serve`'s address (`--listen`).
pub const LISTEN: &str = "WEFT_LISTEN";

/// `weft serve`'s folder of workflows (`--workflows`).
pub const WORKFLOWS: &str = "WEFT_WORKFLOWS";

/// `weft serve`'s runs at once (`--workers`).
pub const WORKERS: &str = "WEFT_WORKERS";

/// `weft serve`'s model calls at once (`--model-calls`).
pub const MODEL_CALLS: &str = "WEFT_MODEL_CALLS";
