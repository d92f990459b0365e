//! `weft bench model`: prefill and decode speed of any model spec, at several batch sizes,
//! and the memory it takes.

use super::{block_on, exit, fail};
use futures::StreamExt;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use weft::models::{self, Resolved};
use weft_core::{ChatEvent, ChatModel, ChatRequest, Message, Sampling};

/// `weft bench ...`
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Prefill and decode tokens per second at batch 1 and 8, and the memory used.
    Model(ModelBenchArguments),
    /// A daemon driven by many concurrent sessions over loopback (scripted model): durable
    /// steps per second and the API's latency.
    Serve(super::bench_serve::ServeBenchArguments),
}

/// `weft bench model` options.
#[derive(Debug, clap::Args)]
pub struct ModelBenchArguments {
    /// The model spec (as for `weft run --model`; default: $WEFT_MODEL, weft.toml's
    /// `model`).
    #[arg(long, short, value_name = "SPEC")]
    pub model: Option<String>,
    /// Tokens in each prompt (exact for mistralrs: models, approximate for servers).
    #[arg(long, default_value_t = 512)]
    pub prompt_tokens: usize,
    /// Tokens to generate per sequence (mistralrs: models never stop early).
    #[arg(long, default_value_t = 128)]
    pub decode_tokens: u32,
    /// Batch sizes: this many requests at once.
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    pub batch: Vec<usize>,
    /// One JSON report instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One request's timings.
struct Timing {
    first: Duration,
    end: Duration,
    prompt_tokens: usize,
    completion_tokens: usize,
}

/// Runs `weft bench`.
pub fn bench(command: BenchCommand) -> ExitCode {
    match command {
        BenchCommand::Model(arguments) => block_on(bench_model(arguments)),
        BenchCommand::Serve(arguments) => block_on(super::bench_serve::bench_serve(arguments)),
    }
}

async fn bench_model(arguments: ModelBenchArguments) -> ExitCode {
    let project = match crate::project::Project::open(None) {
        Ok(project) => project,
        Err(code) => return code,
    };
    let given = arguments
        .model
        .clone()
        .or_else(|| std::env::var(crate::environment::MODEL).ok());
    let Some(default) = models::default_spec(given, &project.workspace, &project.settings) else {
        return fail(exit::INVALID, "name a model: --model SPEC");
    };
    let resolved = match models::resolve(&default.spec, &default.base, &project.settings) {
        Ok(resolved) => resolved,
        Err(error) => return fail(exit::INVALID, error),
    };
    let (model, exact_tokens, notes) = match open_for_bench(&resolved) {
        Ok(opened) => opened,
        Err(error) => return fail(exit::FAILED, error),
    };
    let request = prompt(
        exact_tokens.as_deref(),
        arguments.prompt_tokens,
        arguments.decode_tokens,
    );
    let report = BenchReport {
        model: default.spec.clone(),
        notes,
        prompt_tokens: exact_tokens
            .as_ref()
            .map_or(arguments.prompt_tokens, |count| count(&request)),
        exact: exact_tokens.is_some(),
        decode_tokens: arguments.decode_tokens,
        batches: Vec::new(),
        memory: String::new(),
    };
    if !arguments.json {
        report.print_header();
    }
    match measure(report, &model, &request, &arguments).await {
        Ok(report) if arguments.json => match serde_json::to_string_pretty(&report) {
            Ok(text) => {
                say!("{text}");
                ExitCode::SUCCESS
            }
            Err(error) => fail(exit::FAILED, error),
        },
        Ok(report) => {
            say!("memory: {}", report.memory);
            ExitCode::SUCCESS
        }
        Err(message) => fail(exit::FAILED, message),
    }
}

/// What `weft bench model` measured.
#[derive(Debug, serde::Serialize)]
struct BenchReport {
    /// The spec measured.
    model: String,
    /// What weft changed or chose for it.
    notes: Vec<String>,
    /// Tokens in each prompt.
    prompt_tokens: usize,
    /// Whether `prompt_tokens` is exact (weft tokenizes) or approximate.
    exact: bool,
    /// Tokens generated per sequence.
    decode_tokens: u32,
    /// One row per batch size.
    batches: Vec<BatchRow>,
    /// GPU memory and the process's peak memory.
    memory: String,
}

/// The speeds at one batch size.
#[derive(Debug, serde::Serialize)]
struct BatchRow {
    batch: usize,
    prefill_tokens_per_second: f64,
    decode_tokens_per_second: f64,
    decode_tokens_per_second_per_sequence: f64,
}

impl BenchReport {
    fn print_header(&self) {
        say!("model: {}", self.model);
        for note in &self.notes {
            say!("note: {note}");
        }
        say!(
            "prompt: {} tokens{}, {} new tokens per sequence, greedy{}",
            self.prompt_tokens,
            if self.exact { "" } else { " (approximate)" },
            self.decode_tokens,
            if self.exact {
                ", end tokens ignored"
            } else {
                ""
            },
        );
    }
}

/// Runs the batches (after a warm-up), printing each row as it comes unless `--json`.
async fn measure(
    mut report: BenchReport,
    model: &Arc<dyn ChatModel>,
    request: &ChatRequest,
    arguments: &ModelBenchArguments,
) -> Result<BenchReport, String> {
    // Warm-up: first-use costs (kernel compilation, caches) are not measured.
    batch(model, request, 1).await?;
    if !arguments.json {
        say!(
            "| batch | prefill tok/s | decode tok/s, all sequences | decode tok/s, one sequence |"
        );
        say!("|---|---|---|---|");
    }
    for size in &arguments.batch {
        let timings = batch(model, request, (*size).max(1)).await?;
        let (prefill, all, one) = rates(&timings);
        if !arguments.json {
            say!("| {size} | {prefill:.0} | {all:.1} | {one:.1} |");
        }
        report.batches.push(BatchRow {
            batch: *size,
            prefill_tokens_per_second: prefill,
            decode_tokens_per_second: all,
            decode_tokens_per_second_per_sequence: one,
        });
    }
    report.memory = memory();
    Ok(report)
}

/// Prefill tokens per second (every prompt, until the last first token), decode tokens per
/// second of all sequences (from the first first token to the last end, so requests a
/// model queues count in full), and the mean decode speed of one sequence.
fn rates(timings: &[Timing]) -> (f64, f64, f64) {
    let seconds = |duration: Duration| duration.as_secs_f64().max(1e-9);
    let firsts = timings.iter().map(|timing| timing.first);
    let last_first = firsts.clone().max().unwrap_or_default();
    let first_first = firsts.min().unwrap_or_default();
    let last_end = timings
        .iter()
        .map(|timing| timing.end)
        .max()
        .unwrap_or_default();
    let prompt: usize = timings.iter().map(|timing| timing.prompt_tokens).sum();
    let decoded = |timing: &Timing| timing.completion_tokens.saturating_sub(1) as f64;
    let all: f64 = timings.iter().map(decoded).sum();
    let one = timings
        .iter()
        .map(|timing| decoded(timing) / seconds(timing.end.saturating_sub(timing.first)))
        .sum::<f64>()
        / timings.len().max(1) as f64;
    (
        prompt as f64 / seconds(last_first),
        all / seconds(last_end.saturating_sub(first_first)),
        one,
    )
}

type TokenCount = dyn Fn(&ChatRequest) -> usize + Send + Sync;

/// The model, an exact token counter when weft tokenizes (in-process), and notes.
#[allow(clippy::type_complexity)]
fn open_for_bench(
    resolved: &Resolved,
) -> Result<(Arc<dyn ChatModel>, Option<Arc<TokenCount>>, Vec<String>), models::ModelSetupError> {
    #[cfg(feature = "mistralrs")]
    if let Resolved::Local(spec) = resolved {
        let model = models::load_local(spec)?.ignoring_stop_tokens();
        let plan = model.plan();
        let mut notes = plan.notes.clone();
        notes.push(format!(
            "{} on {}, {:?}, paged attention {}, up to {} sequences at once",
            plan.isq
                .map_or_else(|| "no ISQ".to_owned(), |isq| format!("ISQ {isq:?}")),
            if plan.cpu { "the CPU" } else { "CUDA" },
            plan.dtype,
            if plan.paged_attention { "on" } else { "off" },
            plan.max_sequences
        ));
        let model = Arc::new(model);
        let counter = model.clone();
        let count: Arc<TokenCount> = Arc::new(move |request: &ChatRequest| {
            counter
                .prompt_tokens(request)
                .map_or(0, |tokens| tokens.len())
        });
        return Ok((model, Some(count), notes));
    }
    Ok((models::open(resolved)?, None, Vec::new()))
}

/// A request whose prompt is about `tokens` long (exactly, with a counter).
fn prompt(count: Option<&TokenCount>, tokens: usize, decode: u32) -> ChatRequest {
    const SENTENCE: &str = "The quick brown fox jumps over the lazy dog near the river bank. ";
    let request = |text: String| ChatRequest {
        messages: vec![Message::user(text)],
        sampling: Sampling {
            max_tokens: Some(decode),
            ..Sampling::default()
        },
        ..ChatRequest::default()
    };
    let Some(count) = count else {
        // About one token per word for Llama-3's tokenizer.
        let words: Vec<&str> = SENTENCE.split_whitespace().cycle().take(tokens).collect();
        return request(words.join(" "));
    };
    // Start from an estimate (tokenizing is linear, so growing a long prompt one sentence
    // at a time would be quadratic), then grow and trim to the exact length.
    let base = count(&request(String::new()));
    let per_sentence = count(&request(SENTENCE.to_owned()))
        .saturating_sub(base)
        .max(1);
    let mut text = SENTENCE.repeat(tokens.saturating_sub(base) / per_sentence);
    while count(&request(text.clone())) < tokens {
        text.push_str(SENTENCE);
    }
    // Trim back to at most the asked length.
    while count(&request(text.clone())) > tokens && !text.is_empty() {
        text.pop();
    }
    request(text)
}

/// Runs `size` copies of `request` at once.
async fn batch(
    model: &Arc<dyn ChatModel>,
    request: &ChatRequest,
    size: usize,
) -> Result<Vec<Timing>, String> {
    let started = Instant::now();
    let runs = (0..size).map(|_| {
        let model = model.clone();
        let request = request.clone();
        async move {
            let mut stream = model.chat(request);
            let mut first = None;
            let mut usage = None;
            let mut deltas = 0usize;
            while let Some(event) = stream.next().await {
                match event.map_err(|error| error.message)? {
                    ChatEvent::TextDelta(_) | ChatEvent::ToolCall(_) => {
                        first.get_or_insert_with(|| started.elapsed());
                        deltas += 1;
                    }
                    ChatEvent::Usage(reported) => usage = Some(reported),
                    _ => {}
                }
            }
            let end = started.elapsed();
            Ok::<Timing, String>(Timing {
                first: first.unwrap_or(end),
                end,
                prompt_tokens: usage.map_or(0, |usage| usage.prompt_tokens as usize),
                completion_tokens: usage.map_or(deltas, |usage| usage.completion_tokens as usize),
            })
        }
    });
    futures::future::join_all(runs).await.into_iter().collect()
}

/// GPU memory in use (nvidia-smi, when there is one) and this process's peak memory.
fn memory() -> String {
    let mut parts = Vec::new();
    if let Ok(output) = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=memory.used", "--format=csv,noheader,nounits"])
        .output()
        && output.status.success()
    {
        let used: f64 = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.trim().parse::<f64>().ok())
            .sum();
        parts.push(format!("GPU {:.1} GiB in use (nvidia-smi)", used / 1024.0));
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(line) = status.lines().find(|line| line.starts_with("VmHWM:"))
    {
        let kibibytes: f64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|value| value.parse().ok())
            .unwrap_or(0.0);
        parts.push(format!(
            "weft's peak resident memory {:.2} GiB",
            kibibytes / (1024.0 * 1024.0)
        ));
    }
    if parts.is_empty() {
        "not measured on this system".to_owned()
    } else {
        parts.join(", ")
    }
}
