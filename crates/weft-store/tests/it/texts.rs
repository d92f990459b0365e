//! Workflow texts: each kept once under its hash, named in the run's setup when the
//! runtime starts it, and read back to load the workflow the run started with.

use std::path::Path;
use std::sync::Arc;
use weft_core::{Event, RunStore};
use weft_runtime::{CancellationToken, Runtime};
use weft_workflow::{Loader, content_hash};

const ASK: &str =
    "name: ask\nentry: check\nnodes:\n  check: { kind: human, ask: Go on?, next: end }\n";

/// On any backend: texts are kept once, read back by hash, and a run names its own.
pub async fn texts_are_kept_and_named_by_the_run(store: Arc<dyn RunStore>) {
    let texts = vec![
        (content_hash("one"), "one".to_owned()),
        (content_hash("two"), "two".to_owned()),
    ];
    store.save_workflow_texts(&texts).await.unwrap();
    // Saving again, and with a text kept before, changes nothing.
    store.save_workflow_texts(&texts[..1]).await.unwrap();
    let wanted = vec![
        content_hash("one"),
        content_hash("two"),
        content_hash("never kept"),
    ];
    let found = store.workflow_texts(&wanted).await.unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[&content_hash("two")], "two");

    let workflow = Loader::new()
        .load_source(Path::new("flows/ask.yaml"), ASK)
        .unwrap();
    let runtime = Runtime::builder().store(store.clone()).build();
    let run = runtime
        .start(workflow, serde_json::json!({}), &CancellationToken::new())
        .await
        .unwrap();
    let events = store.events(run.id(), 0).await.unwrap();
    let Event::RunStarted { setup, .. } = &events[0].event else {
        panic!("a run starts with run_started");
    };
    let setup = setup.as_deref().expect("the runtime names the texts");
    assert_eq!(setup.workflow_files["ask.yaml"], content_hash(ASK));
    let kept = weft_runtime::workflow_texts(store.as_ref(), Some(setup))
        .await
        .unwrap()
        .expect("the run's texts");
    assert_eq!(kept.get("ask.yaml"), Some(ASK));
    let again = Loader::new()
        .load_stored(Path::new("/elsewhere/ask.yaml"), &kept)
        .unwrap();
    assert_eq!(again.name, "ask");
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_keeps_workflow_texts() {
    let folder = tempfile::tempdir().unwrap();
    let store = weft_store::SqliteStore::open(&folder.path().join("weft.db"))
        .await
        .unwrap();
    texts_are_kept_and_named_by_the_run(Arc::new(store)).await;
}
