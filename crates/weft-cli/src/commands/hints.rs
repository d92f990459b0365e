//! The commands weft prints as hints (how to answer, resume, retry, fail or cancel a run),
//! each one a command that works as printed: with `--db` when the run is not in the default
//! database.

use super::arguments::DatabaseArgument;
use serde_json::Value;
use weft_core::{RunId, UnsettledCall};

/// `weft resume ID`.
pub fn resume(run: RunId, database: &DatabaseArgument) -> String {
    format!("weft resume {run}{}", database.hint())
}

/// How to answer the question a run waits on.
/// How to answer a question of `run`; `id` names it where the run has several.
pub fn answer(
    run: RunId,
    id: Option<&str>,
    schema: Option<&Value>,
    database: &DatabaseArgument,
) -> String {
    let matching = schema
        .map(|schema| format!(" (the answer matches {schema})"))
        .unwrap_or_default();
    let addressed = id.map(|id| format!("{id}=")).unwrap_or_default();
    format!(
        "answer it with: weft resume {run} --answer '{addressed}<json>'{}{matching}",
        database.hint()
    )
}

/// What a run that needs attention waits on, and the two ways on.
pub fn attention(run: RunId, calls: &[UnsettledCall], database: &DatabaseArgument) -> String {
    let mut message = format!("run {run} needs attention:");
    for call in calls {
        message.push_str(&format!("\n  - {}", call.describe()));
        if call.run != run {
            message.push_str(&format!(" (in sub-workflow run {})", call.run));
        }
    }
    let db = database.hint();
    message.push_str(&format!(
        "\ncheck whether the call's effect happened, then either run it again with: weft resume {run} --retry{db}\nor fail the run with: weft runs fail {run}{db}"
    ));
    message
}

/// More to say about a run's failure, when the command line can help.
pub fn for_failure(message: &str) -> &'static str {
    if message.contains(weft_runtime::models::NO_MODEL) {
        " (name one with --model SPEC or $WEFT_MODEL, or weft.toml's `model`)"
    } else {
        ""
    }
}
