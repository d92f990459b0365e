//! A long conversation with a model whose window is small: a tiny random-weight Llama-3.1
//! through mistralrs on the CPU, its window cut to 2,048 tokens, counting with its own
//! tokenizer. No call may be refused for length, the pinned fact must be in every context,
//! and a fact said at turn 3 must be found by `memory_search` at the last turn. CI runs
//! 200 turns; `WEFT_LONG_SESSION_TURNS=2000 cargo test --test it long_session` runs the
//! full 2,000 (see the README).

use std::sync::Arc;
use weft::core::{Database, Event, RunStatus, SessionAccess, ToolContext};
use weft::runtime::{CancellationToken, Models, Runtime};
use weft::store::OpenMode;
use weft::tools::builtin::MemorySearch;
use weft_fixtures::{Shape, write_model};

const SENTENCES: [&str; 8] = [
    "The parcel left the warehouse on Monday.",
    "Das Paket hat das Lager am Montag verlassen.",
    "Le colis a quitté l'entrepôt lundi.",
    "Il pacco ha lasciato il magazzino lunedì.",
    "O pacote saiu do armazém na segunda-feira.",
    "पार्सल सोमवार को गोदाम से निकला।",
    "El paquete salió del almacén el lunes.",
    "พัสดุออกจากคลังสินค้าเมื่อวันจันทร์",
];

fn turns() -> usize {
    std::env::var("WEFT_LONG_SESSION_TURNS")
        .ok()
        .and_then(|turns| turns.parse().ok())
        .unwrap_or(200)
}

fn message(turn: usize) -> String {
    if turn == 3 {
        return "Please remember that my favourite colour is turquoise.".to_owned();
    }
    format!("Turn {turn}: {}", SENTENCES[turn % SENTENCES.len()])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_session_never_overflows_a_small_window() {
    let folder = tempfile::tempdir().unwrap();
    let model_folder = folder.path().join("tiny");
    write_model(&model_folder, Shape::TINY, 11).unwrap();
    let spec = format!(
        "mistralrs:{}?devices=cpu&window=2048",
        model_folder.display()
    );
    let resolved = weft::models::resolve(&spec, folder.path(), &Default::default()).unwrap();
    let model = weft::models::open(&resolved).unwrap();
    assert_eq!(model.context_window(), 2048);
    let workflow_file = folder.path().join("chat.yaml");
    std::fs::write(
        &workflow_file,
        "name: chat\nstate:\n  message: { type: string }\n  reply: { type: string }\nentry: talk\nnodes:\n  talk:\n    kind: llm\n    system: You are a helpful shop assistant.\n    prompt: \"{{ state.message }}\"\n    sampling: { max_tokens: 16, temperature: 0 }\n    writes: { reply: \"{{ reply }}\" }\n    next: end\n",
    )
    .unwrap();
    let database: Arc<dyn Database> = weft::store::open(
        folder.path().join("weft.db").to_str().unwrap(),
        OpenMode::CreateIfMissing,
    )
    .await
    .unwrap();
    let runtime = Runtime::builder()
        .models(Arc::new(Models::new().with_default_spec(spec, model)))
        .store(database.clone())
        .sessions(database.clone())
        .build();
    let workflow = weft::Loader::new().load(&workflow_file).unwrap();
    let session = runtime.open_session("long", &workflow).await.unwrap();
    database
        .pin(
            session.id,
            "The customer's account number is 8812.",
            "test/pin",
        )
        .await
        .unwrap();
    let cancel = CancellationToken::new();
    let mut compactions = 0;
    let mut fullest = 0.0f64;
    for turn in 1..=turns() {
        let input = serde_json::json!({ "message": message(turn) });
        let run = runtime
            .start_in_session(workflow.clone(), input, None, session.reference(), &cancel)
            .await
            .unwrap();
        assert_eq!(
            run.status(),
            RunStatus::Finished,
            "turn {turn}: {:?}",
            run.failure()
        );
        for record in database.events(run.id(), 0).await.unwrap() {
            match record.event {
                Event::ModelReplied {
                    context: Some(context),
                    ..
                } => {
                    assert_eq!(
                        context.pins.count, 1,
                        "turn {turn}: the pin is in every context"
                    );
                    assert!(context.used <= context.budget, "turn {turn}: {context:?}");
                    assert!(context.window == 2048);
                    fullest = fullest.max(f64::from(context.used) / f64::from(context.window));
                }
                Event::Compacted { .. } => compactions += 1,
                _ => {}
            }
        }
    }
    assert!(compactions > 0, "a long session is compacted");
    // The fact of turn 3, found by the memory tool at the end.
    let context = ToolContext {
        session: Some(SessionAccess {
            id: session.id,
            name: "long".into(),
            store: database.clone(),
        }),
        ..ToolContext::new(weft::RunId::new(), "test/search")
    };
    let found = weft::Tool::call(
        &MemorySearch,
        serde_json::from_value(serde_json::json!({"query": "turquoise"})).unwrap(),
        context,
    )
    .await
    .unwrap();
    assert_eq!(
        found[0].id, "m5",
        "turn 3's message (after two turns of two messages)"
    );
    assert!(found[0].text.contains("turquoise"));
    eprintln!(
        "{} turns, {compactions} compactions, fullest context {:.0}% of the window",
        turns(),
        fullest * 100.0
    );
}
