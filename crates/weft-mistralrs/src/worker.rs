//! Tensor parallelism with NCCL (a build with the `nccl` feature): mistralrs re-runs the
//! current program once per extra GPU, with the same arguments and the variable
//! [`WORKER_VARIABLE`] set. Such a worker must load the same model and do nothing else
//! (no run, no database, no output): `weft` checks [`is_worker`] first thing in `main`,
//! finds the model its parent loads by the parent's own rules (the CLI's `worker` module),
//! and hands the process to [`run_worker`], which never returns while the model serves.

use crate::model::LocalModel;
use std::process::ExitCode;
use weft_llm::spec::LocalSpec;

/// The variable mistralrs 0.8.1 sets in the worker processes it starts.
pub const WORKER_VARIABLE: &str = "__MISTRALRS_DAEMON_INTERNAL";

/// Whether this process is a mistralrs tensor-parallel worker.
pub fn is_worker() -> bool {
    std::env::var_os(WORKER_VARIABLE).is_some()
}

/// Loads the model as a worker; mistralrs keeps the process serving its rank.
pub fn run_worker(spec: &LocalSpec) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(_) => return ExitCode::from(70),
    };
    match runtime.block_on(LocalModel::load(spec)) {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("weft (tensor-parallel worker): {error}");
            ExitCode::from(70)
        }
    }
}
