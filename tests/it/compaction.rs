//! Compaction through the runtime, with a real SQLite store and scripted models: a session
//! longer than a small budget is summarized before a call, and a crash in the middle of
//! compaction (the process gone while the summarizer writes) loses nothing and records no
//! summary twice: the summary committed before the crash stands, the one being written is
//! made again when the run goes on.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use weft::core::{Database, Event, RunFilter, RunStatus};
use weft::llm::ScriptedModel;
use weft::runtime::{CancellationToken, Models, Runtime};
use weft::store::OpenMode;
use weft_fixtures::languages::SENTENCES;

const FILLER: &str = "name: filler\nstate:\n  message: { type: string }\n  reply: { type: string }\nentry: talk\nnodes:\n  talk:\n    kind: llm\n    prompt: \"{{ state.message }}\"\n    writes: { reply: \"{{ reply }}\" }\n    next: end\n";

/// The same conversation with a budget of 2,000 tokens: the scripted model's window
/// (131,072) less 1,024 for the reply, an eighth for the estimate, and this margin.
const COMPACTING: &str = "name: compacting\nstate:\n  message: { type: string }\n  reply: { type: string }\nentry: talk\nmemory:\n  margin: 111664\n  summarizer: summarizer\nnodes:\n  talk:\n    kind: llm\n    prompt: \"{{ state.message }}\"\n    writes: { reply: \"{{ reply }}\" }\n    next: end\n";

const FILLER_TURNS: usize = 40;

fn scripted(script: &str) -> Arc<ScriptedModel> {
    Arc::new(ScriptedModel::from_yaml(Path::new("replies.yaml"), script).unwrap())
}

fn runtime(database: &Arc<dyn Database>, summarizer: &str) -> Runtime {
    let models = Models::new()
        .with_default(scripted(
            "replies:\n  - match: '(?s).*'\n    text: Noted, thank you.\n",
        ))
        .with_named("summarizer", scripted(summarizer));
    Runtime::builder()
        .models(Arc::new(models))
        .store(database.clone())
        .sessions(database.clone())
        .build()
}

/// A new SQLite store in `folder`.
async fn database(folder: &Path) -> Arc<dyn Database> {
    weft::store::open(
        folder.join("weft.db").to_str().unwrap(),
        OpenMode::CreateIfMissing,
    )
    .await
    .unwrap()
}

fn load(folder: &Path, name: &str, text: &str) -> Arc<weft::Workflow> {
    let file = folder.join(name);
    std::fs::write(&file, text).unwrap();
    weft::Loader::new().load(&file).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_compaction_loses_nothing_and_repeats_no_summary() {
    let folder = tempfile::tempdir().unwrap();
    let database = database(folder.path()).await;
    let filler = load(folder.path(), "filler.yaml", FILLER);
    let compacting = load(folder.path(), "compacting.yaml", COMPACTING);
    // The first summary comes at once; the second takes a minute, and the process is gone
    // before it comes.
    let before = runtime(
        &database,
        "replies:\n  - text: The first summary, written before the crash.\n  - text: never recorded\n    delay: 60s\n",
    );
    let session = before.open_session("long", &filler).await.unwrap();
    let cancel = CancellationToken::new();
    for turn in 0..FILLER_TURNS {
        let message = format!(
            "Turn {turn}: {} {}",
            SENTENCES[turn % SENTENCES.len()].1,
            SENTENCES[(turn + 3) % SENTENCES.len()].1
        );
        let run = before
            .start_in_session(
                filler.clone(),
                serde_json::json!({ "message": message }),
                None,
                session.reference(),
                &cancel,
            )
            .await
            .unwrap();
        assert_eq!(run.status(), RunStatus::Finished);
    }
    let crashed = tokio::time::timeout(
        Duration::from_secs(3),
        before.start_in_session(
            compacting.clone(),
            serde_json::json!({ "message": "Where is my parcel now?" }),
            None,
            session.reference(),
            &cancel,
        ),
    )
    .await;
    assert!(
        crashed.is_err(),
        "the run is still compacting when it is dropped"
    );
    drop(before);

    // A new process goes on with the run from its log.
    let running = database
        .runs(RunFilter {
            status: Some(RunStatus::Running),
            top_level_only: true,
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(running.len(), 1);
    let after = runtime(
        &database,
        "replies:\n  - match: '(?s).*'\n    text: A summary written after the restart.\n",
    );
    let mut run = after.load(compacting.clone(), running[0].id).await.unwrap();
    after.continue_run(&mut run, &cancel).await.unwrap();
    assert_eq!(run.status(), RunStatus::Finished, "{:?}", run.failure());

    let records = database.events(run.id(), 0).await.unwrap();
    let summaries: Vec<_> = records
        .iter()
        .filter_map(|record| match &record.event {
            Event::Compacted { summary } => Some(summary.clone()),
            _ => None,
        })
        .collect();
    assert!(summaries.len() >= 2, "{summaries:?}");
    assert_eq!(
        summaries[0].text,
        "The first summary, written before the crash."
    );
    assert!(
        summaries[1..]
            .iter()
            .all(|summary| summary.text == "A summary written after the restart."),
        "{summaries:?}"
    );
    // Each span of messages is summarized once: the spans follow one another.
    let spans: Vec<_> = summaries
        .iter()
        .filter(|summary| summary.level == 0)
        .map(|summary| (summary.first, summary.last))
        .collect();
    assert_eq!(spans[0].0, 1);
    for pair in spans.windows(2) {
        assert_eq!(pair[1].0, pair[0].1 + 1, "{spans:?}");
    }
    // Nothing was lost: every message is in the session, and the call after compaction
    // was given the summaries and fitted its budget.
    let info = database
        .find_session("default", "long")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.messages, FILLER_TURNS as u64 * 2 + 2);
    let context = records
        .iter()
        .find_map(|record| match &record.event {
            Event::ModelReplied {
                context: Some(context),
                ..
            } => Some(context.clone()),
            _ => None,
        })
        .unwrap();
    assert!(!context.summaries.is_empty(), "{context:?}");
    assert!(context.used <= context.budget, "{context:?}");
    assert_eq!(context.budget, 2_000);
}

/// A session run's messages are recorded with their tokens, counted with the tokenizer of
/// the model that answered, so the store keeps the counts with them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remembered_messages_carry_their_counts() {
    let folder = tempfile::tempdir().unwrap();
    let database = database(folder.path()).await;
    let filler = load(folder.path(), "filler.yaml", FILLER);
    let model = scripted("replies:\n  - text: Noted, thank you.\n");
    let runtime = Runtime::builder()
        .models(Arc::new(Models::new().with_default(model.clone())))
        .store(database.clone())
        .sessions(database.clone())
        .build();
    let session = runtime.open_session("counted", &filler).await.unwrap();
    let run = runtime
        .start_in_session(
            filler,
            serde_json::json!({ "message": "Where is my parcel?" }),
            None,
            session.reference(),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(run.status(), RunStatus::Finished);
    let records = database.events(run.id(), 0).await.unwrap();
    let (messages, counts) = records
        .iter()
        .find_map(|record| match &record.event {
            Event::Remembered {
                messages, counts, ..
            } => Some((messages.clone(), counts.clone())),
            _ => None,
        })
        .unwrap();
    let counts = counts.expect("the counts come with the messages");
    let counter = weft::runtime::counter_for(model.as_ref());
    assert_eq!(counts.tokenizer, counter.key());
    let expected: Vec<u32> = messages
        .iter()
        .map(|message| counter.message(message))
        .collect();
    assert_eq!(counts.tokens, expected);
    assert_eq!(messages.len(), 2, "the prompt and the reply");
}
