//! `weft schema`: the JSON Schema of workflow files.

use std::process::ExitCode;

pub fn schema() -> ExitCode {
    let schema = weft_workflow::workflow_json_schema();
    match serde_json::to_string_pretty(&schema) {
        Ok(text) => {
            say!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => super::fail(super::exit::FAILED, error),
    }
}
