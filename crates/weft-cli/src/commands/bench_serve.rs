//! `weft bench serve`: a daemon in this process, on loopback, driven by many concurrent
//! sessions over HTTP with the scripted model. Each turn posts a message (answered 202
//! once its start is committed) and then waits for the run (`GET /v1/runs/{id}?wait=true`).
//! It reports durable steps per second (steps the daemon's workers finished, each committed
//! before it counts) and the API's latency: the message's acknowledgement and the whole
//! turn.
//!
//! The sessions join at a steady rate over `--ramp-ms` (half a second by default), as
//! clients that arrive do; with `--ramp-ms 0` every session sends its first message at the
//! same instant, and the first acknowledgements wait behind a thousand others. The report
//! also gives the acknowledgements after each session's first message: the steady state.
//! A whole turn at saturation waits for the runs ahead of it (on average, sessions divided
//! by runs per second), so its latency says how the daemon orders work, not how fast it is.

use super::arguments::DatabaseArgument;
use super::{exit, fail};
use serde_json::{Value, json};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use weft::store::OpenMode;
use weft_server::{Daemon, DaemonParts, ServeOptions, Serving};

/// `weft bench serve` options.
#[derive(Debug, clap::Args)]
pub struct ServeBenchArguments {
    /// Concurrent sessions.
    #[arg(long, default_value_t = 1000)]
    pub sessions: usize,
    /// Messages each session sends, one after another.
    #[arg(long, default_value_t = 3)]
    pub turns: usize,
    /// Milliseconds over which the sessions join: session `i` of `n` sends its first
    /// message `i/n` of this after the start, as clients that arrive at a steady rate
    /// would. 0: every session sends its first message at the same instant.
    #[arg(long, default_value_t = 500)]
    pub ramp_ms: u64,
    /// The daemon's workers.
    #[arg(long, default_value_t = 64)]
    pub workers: usize,
    /// One JSON report instead of lines.
    #[arg(long)]
    pub json: bool,
    /// The database (default: a new SQLite file in a temporary folder); a `postgres://`
    /// URL benchmarks PostgreSQL.
    #[command(flatten)]
    pub database: DatabaseArgument,
}

const WORKFLOW: &str = r#"name: chat
state:
  message: { type: string }
  reply: { type: string }
entry: answer
nodes:
  answer:
    kind: llm
    model: scripted:replies.yaml
    prompt: "{{ state.message }}"
    writes: { reply: "{{ reply }}" }
    next: end
output: "{{ state.reply }}"
"#;

const REPLIES: &str = "replies:\n  - match: \"(.+)\"\n    text: \"you said: $1\"\n";

/// What one session measured.
#[derive(Default)]
struct Measured {
    acknowledged: Vec<Duration>,
    /// Those of messages after a session's first.
    acknowledged_later: Vec<Duration>,
    turns: Vec<Duration>,
    failures: Vec<String>,
}

pub async fn bench_serve(arguments: ServeBenchArguments) -> ExitCode {
    let folder = match tempfile::tempdir() {
        Ok(folder) => folder,
        Err(error) => return fail(exit::FAILED, format!("cannot make a folder: {error}")),
    };
    let workflows = folder.path().join("workflows");
    let written = std::fs::create_dir_all(&workflows)
        .and_then(|()| std::fs::write(workflows.join("chat.yaml"), WORKFLOW))
        .and_then(|()| std::fs::write(workflows.join("replies.yaml"), REPLIES));
    if let Err(error) = written {
        return fail(exit::FAILED, format!("cannot write the workflow: {error}"));
    }
    let location = match &arguments.database.db {
        Some(location) => location.clone(),
        None => folder.path().join("bench.db").display().to_string(),
    };
    let postgres = location.starts_with("postgres://") || location.starts_with("postgresql://");
    let database = match weft::store::open(&location, OpenMode::CreateIfMissing).await {
        Ok(database) => database,
        Err(error) => return fail(exit::INVALID, error),
    };
    let settings = Arc::new(weft::config::Settings::default());
    let models = match weft::models::models(settings.clone(), None) {
        Ok(models) => models,
        Err(error) => return fail(exit::FAILED, error),
    };
    let options = ServeOptions {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        workflows,
        workers: arguments.workers.max(1),
        no_auth: true,
        poll: Duration::from_millis(100),
        ..ServeOptions::default()
    };
    let daemon = Daemon::new(DaemonParts {
        database,
        exclusive: !postgres,
        workspace: folder.path().to_owned(),
        settings,
        models: Arc::new(models),
        options,
    });
    let serving = match Serving::start(daemon.clone()).await {
        Ok(serving) => serving,
        Err(error) => return fail(exit::FAILED, error),
    };
    let base = match serving.address() {
        Ok(address) => format!("http://{address}"),
        Err(error) => return fail(exit::FAILED, error),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serving.run(async move {
        let _ = stopped.await;
    }));
    let report = drive(&arguments, &base, &daemon).await;
    let _ = stop.send(());
    let _ = server.await;
    match report {
        Ok(report) => {
            print_report(&report, &arguments, &location);
            ExitCode::SUCCESS
        }
        Err(message) => fail(exit::FAILED, message),
    }
}

/// Creates the sessions, then has each send its turns; the report.
async fn drive(
    arguments: &ServeBenchArguments,
    base: &str,
    daemon: &Daemon,
) -> Result<Value, String> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(arguments.sessions)
        .build()
        .map_err(|error| format!("cannot make an HTTP client: {error}"))?;
    let prefix = format!("bench-{}", daemon.id());
    // All at once, as that many clients would: each opens its connection here, before the
    // timed turns.
    let mut creating = Vec::with_capacity(arguments.sessions);
    for index in 0..arguments.sessions {
        let client = client.clone();
        let url = format!("{base}/v1/sessions");
        let name = format!("{prefix}-{index}");
        creating.push(tokio::spawn(async move {
            create_session(&client, &url, &name).await
        }));
    }
    let mut sessions = Vec::with_capacity(arguments.sessions);
    for created in creating {
        sessions.push(created.await.map_err(|error| error.to_string())??);
    }
    let steps_before = daemon.metrics.steps();
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(sessions.len());
    let count = sessions.len().max(1) as u64;
    for (index, session) in sessions.into_iter().enumerate() {
        let client = client.clone();
        let base = base.to_owned();
        let turns = arguments.turns;
        let joins = started + Duration::from_millis(arguments.ramp_ms * index as u64 / count);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(joins.into()).await;
            talk(&client, &base, &session, turns).await
        }));
    }
    let mut measured = Measured::default();
    for task in tasks {
        let one = task.await.map_err(|error| error.to_string())?;
        measured.acknowledged.extend(one.acknowledged);
        measured.acknowledged_later.extend(one.acknowledged_later);
        measured.turns.extend(one.turns);
        measured.failures.extend(one.failures);
    }
    let elapsed = started.elapsed();
    let steps = daemon.metrics.steps() - steps_before;
    if let Some(failure) = measured.failures.first() {
        return Err(format!(
            "{} of the turns failed; the first: {failure}",
            measured.failures.len()
        ));
    }
    Ok(json!({
        "sessions": arguments.sessions,
        "ramp_ms": arguments.ramp_ms,
        "turns": measured.turns.len(),
        "seconds": elapsed.as_secs_f64(),
        "durable_steps": steps,
        "durable_steps_per_second": steps as f64 / elapsed.as_secs_f64(),
        "acknowledged_ms": percentiles(&mut measured.acknowledged),
        "acknowledged_after_first_ms": percentiles(&mut measured.acknowledged_later),
        "turn_ms": percentiles(&mut measured.turns),
    }))
}

/// Creates a session of the benchmark's workflow; its id.
async fn create_session(client: &reqwest::Client, url: &str, name: &str) -> Result<String, String> {
    let created = client
        .post(url)
        .json(&json!({"name": name, "workflow": "chat"}))
        .send()
        .await
        .map_err(|error| error.to_string())?;
    let body: Value = created.json().await.map_err(|error| error.to_string())?;
    body["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("a session was not made: {body}"))
}

/// One session's turns.
async fn talk(client: &reqwest::Client, base: &str, session: &str, turns: usize) -> Measured {
    let mut measured = Measured::default();
    for turn in 0..turns {
        let started = Instant::now();
        let posted = client
            .post(format!("{base}/v1/sessions/{session}/messages"))
            .json(&json!({"text": format!("turn {turn}")}))
            .send()
            .await;
        let body: Value = match posted {
            Ok(response) if response.status().as_u16() == 202 => {
                response.json().await.unwrap_or_default()
            }
            Ok(response) => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                measured.failures.push(format!("{status}: {text}"));
                continue;
            }
            Err(error) => {
                measured.failures.push(error.to_string());
                continue;
            }
        };
        measured.acknowledged.push(started.elapsed());
        if turn > 0 {
            measured.acknowledged_later.push(started.elapsed());
        }
        let run = body["id"].as_str().unwrap_or_default();
        let finished = client
            .get(format!("{base}/v1/runs/{run}?wait=true"))
            .send()
            .await;
        match finished {
            Ok(response) => {
                let view: Value = response.json().await.unwrap_or_default();
                if view["status"] == "finished" {
                    measured.turns.push(started.elapsed());
                } else {
                    measured
                        .failures
                        .push(format!("run {run} ended {}", view["status"]));
                }
            }
            Err(error) => measured.failures.push(error.to_string()),
        }
    }
    measured
}

/// p50, p90, p99 and the largest, in ms.
fn percentiles(values: &mut [Duration]) -> Value {
    values.sort();
    let at = |quantile: f64| {
        if values.is_empty() {
            return 0.0;
        }
        let index = ((values.len() as f64 - 1.0) * quantile).round() as usize;
        values[index.min(values.len() - 1)].as_secs_f64() * 1000.0
    };
    json!({"p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": at(1.0)})
}

fn print_report(report: &Value, arguments: &ServeBenchArguments, location: &str) {
    if arguments.json {
        say!("{report}");
        return;
    }
    let number = |value: &Value| value.as_f64().unwrap_or_default();
    say!(
        "{} sessions (joining over {} ms) x {} turns on {location}: {} durable steps in {:.2} s = {:.0} steps/s",
        arguments.sessions,
        arguments.ramp_ms,
        arguments.turns,
        report["durable_steps"],
        number(&report["seconds"]),
        number(&report["durable_steps_per_second"])
    );
    for (name, key) in [
        ("message acknowledged", "acknowledged_ms"),
        ("  after the first", "acknowledged_after_first_ms"),
        ("whole turn", "turn_ms"),
    ] {
        let values = &report[key];
        say!(
            "{name}: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            number(&values["p50"]),
            number(&values["p90"]),
            number(&values["p99"]),
            number(&values["max"])
        );
    }
}
