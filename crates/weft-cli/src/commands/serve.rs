//! `weft serve`: the daemon (see `weft-server`). Settings come from weft.toml's `[serve]`
//! section, then the environment (`WEFT_LISTEN`, `WEFT_WORKFLOWS`, `WEFT_WORKERS`,
//! `WEFT_MODEL_CALLS`, `WEFT_DB`, `WEFT_MODEL`), then the flags: each later one wins.
//! SIGTERM or SIGINT stops it cleanly (exit 0); `--check` validates and exits.

use super::arguments::{DatabaseArgument, WorkspaceArgument};
use super::{exit, fail, open_store};
use crate::environment;
use crate::project::Project;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use weft::store::OpenMode;
use weft_server::{Daemon, DaemonParts, ServeOptions, Serving};

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ServeArguments {
    /// The address to listen on (default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDRESS", env = environment::LISTEN)]
    listen: Option<SocketAddr>,
    /// The folder of the workflows it serves (default `workflows`); files added or changed
    /// there reach new runs.
    #[arg(long, value_name = "FOLDER", env = environment::WORKFLOWS)]
    workflows: Option<PathBuf>,
    /// How many runs it executes at once (default 64).
    #[arg(long, value_name = "N", env = environment::WORKERS)]
    workers: Option<usize>,
    /// How many model calls its runs make at once (default 64).
    #[arg(long, value_name = "N", env = environment::MODEL_CALLS)]
    model_calls: Option<usize>,
    /// Serve every request as the default tenant, without keys: local use only (it
    /// listens on loopback alone).
    #[arg(long)]
    no_auth: bool,
    /// The default model of workflows that name none.
    #[arg(long, value_name = "SPEC", env = environment::MODEL)]
    pub model: Option<String>,
    /// How logs are written to standard error (default text).
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
    /// Check the settings and every served workflow, then exit (0: all good).
    #[arg(long)]
    check: bool,
    #[command(flatten)]
    database: DatabaseArgument,
    #[command(flatten)]
    pub workspace: WorkspaceArgument,
}

impl ServeArguments {
    /// The log format the flags ask for, if they do.
    pub fn log_format(&self) -> Option<LogFormat> {
        self.log_format
    }
}

pub fn serve(arguments: ServeArguments) -> ExitCode {
    super::block_on(serve_async(arguments))
}

/// The daemon's options: weft.toml's `[serve]`, then the environment and flags.
fn options(arguments: &ServeArguments, project: &Project) -> Result<ServeOptions, ExitCode> {
    let file = &project.settings.config.serve;
    let mut options = ServeOptions::default();
    if let Some(listen) = &file.listen {
        options.listen = listen.parse().map_err(|error| {
            fail(
                exit::INVALID,
                format!(
                    "{}: [serve] listen = {listen:?}: {error}",
                    project.settings.shown()
                ),
            )
        })?;
    }
    if let Some(folder) = &file.workflows {
        options.workflows = project.settings.directory().join(folder);
    }
    options.workers = file.workers.unwrap_or(options.workers);
    options.model_calls = file.model_calls.unwrap_or(options.model_calls);
    options.lease = file.lease.unwrap_or(options.lease);
    options.heartbeat = file.heartbeat.unwrap_or(options.heartbeat);
    options.shutdown_deadline = file.shutdown_deadline.unwrap_or(options.shutdown_deadline);
    options.body_limit = file.body_limit.unwrap_or(options.body_limit);
    options.listen = arguments.listen.unwrap_or(options.listen);
    if let Some(folder) = &arguments.workflows {
        options.workflows = folder.clone();
    }
    options.workers = arguments.workers.unwrap_or(options.workers);
    options.model_calls = arguments.model_calls.unwrap_or(options.model_calls);
    options.no_auth = arguments.no_auth;
    if options.workers == 0 || options.model_calls == 0 {
        return Err(fail(
            exit::INVALID,
            "--workers and --model-calls must be at least 1",
        ));
    }
    if options.heartbeat >= options.lease {
        return Err(fail(
            exit::INVALID,
            "[serve] heartbeat must be shorter than lease, or leases run out between renewals",
        ));
    }
    if options.no_auth && !options.listen.ip().is_loopback() {
        return Err(fail(
            exit::INVALID,
            format!(
                "--no-auth serves every request as the default tenant, so it listens on loopback only (127.0.0.1:PORT), not {}",
                options.listen
            ),
        ));
    }
    if !options.workflows.is_dir() {
        return Err(fail(
            exit::INVALID,
            format!(
                "the served folder {} does not exist; name one with --workflows",
                options.workflows.display()
            ),
        ));
    }
    Ok(options)
}

async fn serve_async(arguments: ServeArguments) -> ExitCode {
    let project = match Project::open(arguments.workspace.workspace.as_deref()) {
        Ok(project) => project,
        Err(code) => return code,
    };
    let options = match options(&arguments, &project) {
        Ok(options) => options,
        Err(code) => return code,
    };
    let current = std::env::current_dir().unwrap_or_default();
    let default = weft::models::default_spec(arguments.model.clone(), &current, &project.settings);
    let models = match weft::models::models(project.settings.clone(), default.as_ref()) {
        Ok(models) => models,
        Err(error) => return fail(exit::INVALID, error),
    };
    let location = arguments.database.location();
    let database = match open_store(&arguments.database, OpenMode::CreateIfMissing).await {
        Ok(database) => database,
        Err(code) => return code,
    };
    let daemon = Daemon::new(DaemonParts {
        database,
        exclusive: !(location.starts_with("postgres://") || location.starts_with("postgresql://")),
        workspace: project.workspace.clone(),
        settings: project.settings.clone(),
        models: Arc::new(models),
        options: options.clone(),
    });
    if arguments.check {
        return check(&daemon, &options).await;
    }
    let serving = match Serving::start(daemon).await {
        Ok(serving) => serving,
        Err(error) => return fail(exit::INVALID, error),
    };
    let address = serving.address().map_or_else(
        |_| options.listen.to_string(),
        |address| address.to_string(),
    );
    eprintln!(
        "serving {} on http://{address} (daemon {}, {} workers, database {location})",
        options.workflows.display(),
        serving.daemon().id(),
        options.workers
    );
    if options.no_auth {
        eprintln!(
            "warning: --no-auth: every request acts for tenant `default`, without a key; for local use only"
        );
    }
    match serving.run(stop_signal()).await {
        Ok(()) => {
            eprintln!("stopped: leases given up; unfinished runs go on at the next start");
            ExitCode::SUCCESS
        }
        Err(error) => fail(exit::FAILED, error),
    }
}

/// `--check`: every served workflow loads with its tools.
async fn check(daemon: &Daemon, options: &ServeOptions) -> ExitCode {
    match daemon.catalog.list().await {
        Ok((workflows, problems)) => {
            for workflow in &workflows {
                say!("ok {} ({})", workflow.file, workflow.name);
            }
            for problem in &problems {
                eprintln!("error: {problem}");
            }
            if problems.is_empty() {
                eprintln!(
                    "{} workflows in {} are ready to serve on {}",
                    workflows.len(),
                    options.workflows.display(),
                    options.listen
                );
                ExitCode::SUCCESS
            } else {
                ExitCode::from(exit::INVALID)
            }
        }
        Err(error) => fail(exit::INVALID, error.message),
    }
}

/// SIGTERM or SIGINT.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
