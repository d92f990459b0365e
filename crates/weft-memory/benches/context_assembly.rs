//! `context_assembly`: one 128K-token context built from a session holding 10 million
//! tokens of history, every count already stored (as the store keeps them). Also prints
//! the peak memory one assembly allocates, measured by a counting allocator.
//!
//! cargo bench -p weft-memory --bench context_assembly

use criterion::{Criterion, criterion_group, criterion_main};
use peak_alloc::PeakAlloc;
use weft_core::{
    Message, Pin, SessionMessage, SessionView, Snippet, SnippetSource, Summary, TokenCounter,
    ToolCall,
};
use weft_memory::{Limits, Turn, assemble};

/// Counts the bytes allocated now and the most at once since the last reset.
#[global_allocator]
static ALLOCATOR: PeakAlloc = PeakAlloc;

const HISTORY_TOKENS: u64 = 10_000_000;

/// A session of about ten million tokens: user turns, replies, tool calls and results in
/// the eight languages, each counted once.
fn session(counter: &dyn TokenCounter) -> SessionView {
    let samples = [
        "Can you check the status of order 4471 and tell me when it ships?",
        "Die Bestellung wurde gestern verschickt und kommt am Donnerstag an.",
        "La commande est partie hier ; elle arrivera jeudi.",
        "L'ordine è stato spedito ieri e arriverà giovedì.",
        "O pedido foi enviado ontem e chega na quinta-feira.",
        "ऑर्डर कल भेजा गया था और गुरुवार को पहुंचेगा।",
        "El pedido salió ayer y llegará el jueves.",
        "คำสั่งซื้อถูกจัดส่งเมื่อวานและจะมาถึงวันพฤหัสบดี",
    ];
    let mut messages = Vec::new();
    let mut total = 0u64;
    let mut sequence = 0u64;
    while total < HISTORY_TOKENS {
        let sample = samples[(sequence as usize) % samples.len()];
        let text = sample.repeat(6);
        let message = match sequence % 4 {
            0 => Message::user(text),
            1 => Message::assistant(
                "",
                vec![ToolCall::new(
                    format!("call-{sequence}"),
                    "lookup_order",
                    serde_json::json!({"order": sequence}),
                )],
            ),
            2 => Message::tool_result(format!("call-{}", sequence - 1), text),
            _ => Message::assistant(text, Vec::new()),
        };
        sequence += 1;
        let tokens = counter.message(&message);
        total += u64::from(tokens);
        messages.push(SessionMessage {
            sequence,
            message,
            tokens: Some(tokens),
        });
    }
    SessionView {
        pins: (0..20)
            .map(|id| Pin {
                id,
                text: format!("The customer's account number {id} is on the premium plan."),
            })
            .collect(),
        summaries: (0..3)
            .map(|id| Summary {
                id,
                level: 1,
                first: id * 1000 + 1,
                last: id * 1000 + 1000,
                text: samples.join(" ").repeat(20),
                tokens: None,
            })
            .collect(),
        snippets: (0..5)
            .map(|id| Snippet {
                source: SnippetSource::Note,
                id,
                text: samples[id as usize].to_owned(),
            })
            .collect(),
        messages,
        omitted: 0,
    }
}

fn bench(criterion: &mut Criterion) {
    let Some(counter) = weft_llm::tokens::llama3() else {
        eprintln!("the llama3 vocabulary is missing");
        return;
    };
    let mut view = session(counter.as_ref());
    // Summaries are counted once, as the store keeps their counts.
    for summary in &mut view.summaries {
        let message = Message::system(format!(
            "Summary of earlier conversation (messages {} to {}):\n{}",
            summary.first, summary.last, summary.text
        ));
        summary.tokens = Some(counter.message(&message));
    }
    let turn_messages = vec![
        Message::system("You are the support agent of an online shop. Be brief."),
        Message::user("Where is my order 4471?"),
    ];
    let limits = Limits {
        window: 131_072,
        reply: 4_096,
        margin: 1_024,
    };
    let turn = Turn {
        messages: &turn_messages,
        tools: &[],
    };
    let before = ALLOCATOR.current_usage();
    ALLOCATOR.reset_peak_usage();
    let context = assemble(turn, &view, limits, 80, counter.as_ref());
    let peak = ALLOCATOR.peak_usage() - before;
    match &context {
        Ok(context) => eprintln!(
            "context_assembly: {} messages of history ({} tokens), {} of {} tokens used; session of {} messages, {} tokens; peak memory of one assembly: {:.1} MiB",
            context.report.history_part.count,
            context.report.history_part.tokens,
            context.report.used,
            context.report.budget,
            view.messages.len(),
            HISTORY_TOKENS,
            peak as f64 / (1024.0 * 1024.0)
        ),
        Err(error) => eprintln!("context_assembly failed: {error}"),
    }
    criterion.bench_function("context_assembly/128k_of_10m_tokens", |bencher| {
        bencher.iter(|| assemble(turn, &view, limits, 80, counter.as_ref()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
