//! `weft keys create|list|revoke`: the API keys `weft serve` accepts, each bound to a
//! tenant. A key is printed once, when it is made; the database keeps only its SHA-256.

use super::arguments::DatabaseArgument;
use super::{exit, fail, open_store};
use std::process::ExitCode;
use weft::store::OpenMode;
use weft::store::keys::{key_hash, new_key};
use weft_core::ApiKey;

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Make a key for a tenant and print it (once: only its hash is kept).
    Create {
        /// The tenant whose sessions and runs the key reaches.
        #[arg(long)]
        tenant: String,
        /// Print the key and its id as one JSON object.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseArgument,
    },
    /// List keys, newest first (never the keys themselves).
    List {
        /// Only this tenant's keys.
        #[arg(long)]
        tenant: Option<String>,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseArgument,
    },
    /// Revoke a key by its id: requests with it are refused from then on.
    Revoke {
        /// The key's id (`key_...`, as `weft keys list` shows it).
        id: String,
        #[command(flatten)]
        database: DatabaseArgument,
    },
}

pub fn run(command: KeysCommand) -> ExitCode {
    super::block_on(run_async(command))
}

async fn run_async(command: KeysCommand) -> ExitCode {
    match command {
        KeysCommand::Create {
            tenant,
            json,
            database,
        } => create(&database, &tenant, json).await,
        KeysCommand::List {
            tenant,
            json,
            database,
        } => list(&database, tenant.as_deref(), json).await,
        KeysCommand::Revoke { id, database } => revoke(&database, &id).await,
    }
}

async fn create(database: &DatabaseArgument, tenant: &str, json: bool) -> ExitCode {
    let tenant = tenant.trim();
    if tenant.is_empty() {
        return fail(exit::INVALID, "--tenant needs a name");
    }
    let store = match open_store(database, OpenMode::CreateIfMissing).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let (key, id) = new_key();
    let made = match store.add_key(&id, tenant, &key_hash(&key)).await {
        Ok(made) => made,
        Err(error) => return fail(exit::FAILED, error),
    };
    if json {
        let object = serde_json::json!({"id": made.id, "tenant": made.tenant, "key": key});
        say!("{object}");
    } else {
        say!("{key}");
        eprintln!(
            "key {} for tenant `{}`: keep it now, it is not shown again (revoke it with `weft keys revoke {}{}`)",
            made.id,
            made.tenant,
            made.id,
            database.hint()
        );
    }
    ExitCode::SUCCESS
}

async fn list(database: &DatabaseArgument, tenant: Option<&str>, json: bool) -> ExitCode {
    let store = match open_store(database, OpenMode::MustExist).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let keys = match store.keys(tenant).await {
        Ok(keys) => keys,
        Err(error) => return fail(exit::FAILED, error),
    };
    if json {
        say!(
            "{}",
            serde_json::to_string_pretty(&keys).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    if keys.is_empty() {
        eprintln!("no keys; `weft keys create --tenant NAME` makes one");
        return ExitCode::SUCCESS;
    }
    for key in &keys {
        say!("{}", line(key));
    }
    ExitCode::SUCCESS
}

/// A key as a table line: id, tenant, when made, and whether revoked.
fn line(key: &ApiKey) -> String {
    let revoked = key
        .revoked_at_millis
        .map(|at| format!("  revoked {}", weft_tools::builtin::rfc3339(at)))
        .unwrap_or_default();
    format!(
        "{}  {}  made {}{revoked}",
        key.id,
        key.tenant,
        weft_tools::builtin::rfc3339(key.created_at_millis)
    )
}

async fn revoke(database: &DatabaseArgument, id: &str) -> ExitCode {
    let store = match open_store(database, OpenMode::MustExist).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    match store.revoke_key(id).await {
        Ok(true) => {
            eprintln!("key {id} is revoked");
            ExitCode::SUCCESS
        }
        Ok(false) => fail(
            exit::INVALID,
            format!(
                "no key {id} to revoke (it does not exist or is revoked already); `weft keys list{}` lists them",
                database.hint()
            ),
        ),
        Err(error) => fail(exit::FAILED, error),
    }
}
