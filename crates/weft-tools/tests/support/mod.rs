//! What several tool tests share: calling a tool as a model would, and telling whether a
//! process has gone. (Each test crate uses some of it.)
#![allow(dead_code)]

use serde_json::Value;
use weft_core::{RunId, ToolContext, ToolError};
use weft_tools::Registry;

/// Calls `name` with `arguments` through the registry, as one call of a run.
pub async fn call(registry: &Registry, name: &str, arguments: Value) -> Result<Value, ToolError> {
    let context = ToolContext {
        run: RunId::new(),
        idempotency_key: "run/1/-/0/0".into(),
        session: None,
    };
    registry.invoke(name, arguments, context).await
}

/// Reads the process id written to `pid_file` and waits up to 5 s for that process to
/// end; panics if it does not.
pub fn assert_ends(pid_file: &std::path::Path) {
    let pid: i32 = std::fs::read_to_string(pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !gone(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "process {pid} still runs"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Whether process `pid` has ended.
fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // A killed process nobody has reaped yet is a zombie: gone all the same.
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}
