//! `weft sessions list|show|search|export|delete`: the sessions a database holds. They
//! need the database alone.

mod export;
mod show;

use super::arguments::DatabaseArgument;
use super::{exit, fail, open_store};
use std::process::ExitCode;
use std::sync::Arc;
use weft::store::OpenMode;
use weft_core::{DEFAULT_TENANT, Database, SessionFilter, SessionInfo};

#[derive(Debug, clap::Subcommand)]
pub enum SessionsCommand {
    /// List sessions, most recently used first.
    List {
        /// At most this many (0: all).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseArgument,
    },
    /// Show a session: its pinned facts, summaries and newest messages.
    Show {
        /// The session's name.
        name: String,
        /// How many of the newest messages to show (0: all).
        #[arg(long, default_value_t = 20)]
        messages: u32,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseArgument,
    },
    /// Search a session's messages, tool results and notes (full text, any language).
    Search {
        /// The session's name.
        name: String,
        /// What to look for.
        query: String,
        /// At most this many passages.
        #[arg(long, default_value_t = 10)]
        limit: u32,
        #[command(flatten)]
        database: DatabaseArgument,
    },
    /// Write a session's messages as JSON lines in the OpenAI chat format (one message a
    /// line, tool calls included), to standard output or a file.
    Export {
        /// The session's name.
        name: String,
        /// The file to write (default: standard output).
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
        #[command(flatten)]
        database: DatabaseArgument,
    },
    /// Delete a session and everything in it (refused while a run writes it).
    Delete {
        /// The session's name.
        name: String,
        #[command(flatten)]
        database: DatabaseArgument,
    },
}

pub fn run(command: SessionsCommand) -> ExitCode {
    super::block_on(run_async(command))
}

async fn run_async(command: SessionsCommand) -> ExitCode {
    match command {
        SessionsCommand::List {
            limit,
            json,
            database,
        } => list(&database, limit, json).await,
        SessionsCommand::Show {
            name,
            messages,
            json,
            database,
        } => show::show(&database, &name, messages, json).await,
        SessionsCommand::Search {
            name,
            query,
            limit,
            database,
        } => search(&database, &name, &query, limit).await,
        SessionsCommand::Export {
            name,
            output,
            database,
        } => export::export(&database, &name, output.as_deref()).await,
        SessionsCommand::Delete { name, database } => delete(&database, &name).await,
    }
}

/// The database and the session called `name` in it, or the message that says why not.
pub(super) async fn find(
    database: &DatabaseArgument,
    name: &str,
) -> Result<(Arc<dyn Database>, SessionInfo), ExitCode> {
    let store = open_store(database, OpenMode::MustExist).await?;
    match store.find_session(DEFAULT_TENANT, name).await {
        Ok(Some(session)) => Ok((store, session)),
        Ok(None) => Err(fail(
            exit::INVALID,
            format!(
                "{} has no session `{name}`; `weft sessions list{}` lists those it has",
                database.location(),
                database.hint()
            ),
        )),
        Err(error) => Err(fail(exit::FAILED, error)),
    }
}

async fn list(database: &DatabaseArgument, limit: u32, json: bool) -> ExitCode {
    let store = match open_store(database, OpenMode::MustExist).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let filter = SessionFilter {
        tenant: DEFAULT_TENANT.to_owned(),
        limit,
        ..SessionFilter::default()
    };
    let sessions = match store.sessions(&filter).await {
        Ok(sessions) => sessions,
        Err(error) => return fail(exit::FAILED, error),
    };
    if json {
        say!(
            "{}",
            serde_json::to_string_pretty(&sessions).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    if sessions.is_empty() {
        say!("no sessions in {}", database.location());
        return ExitCode::SUCCESS;
    }
    say!(
        "{:<24} {:>8}  {:<20} {:<20} WRITING",
        "NAME",
        "MESSAGES",
        "WORKFLOW",
        "UPDATED"
    );
    for session in &sessions {
        say!(
            "{:<24} {:>8}  {:<20} {:<20} {}",
            session.name,
            session.messages,
            session.workflow,
            weft_tools::builtin::rfc3339(session.updated_at_millis),
            session
                .locked_by
                .map(|run| run.to_string())
                .unwrap_or_default()
        );
    }
    ExitCode::SUCCESS
}

async fn search(database: &DatabaseArgument, name: &str, query: &str, limit: u32) -> ExitCode {
    let (store, session) = match find(database, name).await {
        Ok(found) => found,
        Err(code) => return code,
    };
    let found = match store.search(session.id, query, limit).await {
        Ok(found) => found,
        Err(error) => return fail(exit::FAILED, error),
    };
    if found.is_empty() {
        say!("nothing in session `{name}` matches {query:?}");
    }
    for snippet in found {
        say!(
            "[{}] {}",
            snippet.reference(),
            snippet.text.replace('\n', " ")
        );
    }
    ExitCode::SUCCESS
}

async fn delete(database: &DatabaseArgument, name: &str) -> ExitCode {
    let (store, session) = match find(database, name).await {
        Ok(found) => found,
        Err(code) => return code,
    };
    match store.delete_session(session.id).await {
        Ok(()) => {
            say!(
                "deleted session `{name}` ({} messages); its runs stay in the database",
                session.messages
            );
            ExitCode::SUCCESS
        }
        Err(error) => fail(exit::FAILED, error),
    }
}
