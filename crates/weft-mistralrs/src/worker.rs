//! Tensor parallelism with NCCL (a build with the `nccl` feature): mistralrs re-runs the
//! current program once per extra GPU, with the same arguments and the variable
//! [`WORKER_VARIABLE`] set. Such a worker must load the same model and do nothing else
//! (no run, no database, no output): `weft` checks [`is_worker`] first thing in `main` and
//! hands the process to [`run_worker`], which never returns while the model serves.

use crate::model::LocalModel;
use std::process::ExitCode;
use weft_llm::spec::LocalSpec;

/// The variable mistralrs 0.8.1 sets in the worker processes it starts.
pub const WORKER_VARIABLE: &str = "__MISTRALRS_DAEMON_INTERNAL";

/// Whether this process is a mistralrs tensor-parallel worker.
pub fn is_worker() -> bool {
    std::env::var_os(WORKER_VARIABLE).is_some()
}

/// The model spec a worker loads, from the arguments the parent was started with: the
/// value of `--model SPEC`, `--model=SPEC`, `-m SPEC` or `-mSPEC`, else `environment_model` (`WEFT_MODEL`).
pub fn worker_model(arguments: &[String], environment_model: Option<String>) -> Option<String> {
    let mut iterator = arguments.iter();
    let mut found = None;
    while let Some(argument) = iterator.next() {
        if argument == "--" {
            break;
        }
        if argument == "--model" || argument == "-m" {
            found = iterator.next().cloned();
        } else if let Some(value) = argument.strip_prefix("--model=") {
            found = Some(value.to_owned());
        } else if let Some(value) = argument
            .strip_prefix("-m")
            .filter(|value| !value.is_empty())
        {
            found = Some(value.strip_prefix('=').unwrap_or(value).to_owned());
        }
    }
    found
        .or(environment_model)
        .filter(|spec| !spec.trim().is_empty())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn arguments(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn a_worker_finds_the_model_its_parent_was_given() {
        assert_eq!(
            worker_model(
                &arguments("weft run flow.yaml --model mistralrs:/m?isq=fp8 --input {}"),
                None
            )
            .as_deref(),
            Some("mistralrs:/m?isq=fp8")
        );
        assert_eq!(
            worker_model(&arguments("weft bench model --model=mistralrs:/m"), None).as_deref(),
            Some("mistralrs:/m")
        );
        assert_eq!(
            worker_model(
                &arguments("weft run flow.yaml"),
                Some("mistralrs:/env".into())
            )
            .as_deref(),
            Some("mistralrs:/env")
        );
        // The last --model wins, as with the parent's own parser; after `--` nothing counts.
        assert_eq!(
            worker_model(
                &arguments("weft --model a run --model b -- --model c"),
                None
            )
            .as_deref(),
            Some("b")
        );
        assert_eq!(
            worker_model(&arguments("weft run flow.yaml -m mistralrs:/short"), None).as_deref(),
            Some("mistralrs:/short")
        );
        assert_eq!(
            worker_model(&arguments("weft run flow.yaml -m=mistralrs:/x"), None).as_deref(),
            Some("mistralrs:/x")
        );
        assert_eq!(
            worker_model(&arguments("weft run flow.yaml --model"), None),
            None
        );
    }
}
