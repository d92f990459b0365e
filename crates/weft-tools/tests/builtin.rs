//! The built-in tools that need no workspace setup: `now`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::json;
use weft_core::{RunId, ToolBox, ToolCall, ToolContext};

fn context() -> ToolContext {
    ToolContext {
        run: RunId::new(),
        idempotency_key: "run/1/-/0/0".into(),
        session: None,
    }
}

#[tokio::test]
async fn the_built_in_now_returns_the_time_in_two_forms() {
    let folder = tempfile::tempdir().unwrap();
    let registry =
        weft_tools::builtin::registry(&weft_tools::builtin::Workspace::new(folder.path()).unwrap());
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let now = registry
        .call(ToolCall::new("c", "now", json!({})), context())
        .await
        .unwrap();
    let millis = now["unix_millis"].as_u64().unwrap();
    assert!(millis >= before && millis - before < 60_000);
    assert_eq!(
        now["utc"],
        json!(weft_tools::builtin::rfc3339(millis)),
        "{now}"
    );
    assert_eq!(
        registry.spec("now").unwrap().parameters["additionalProperties"],
        json!(false)
    );
}
