//! Errors of opening a store, and the mapping of database errors to store errors.

use std::path::PathBuf;
use weft_core::{ErrorKind, StoreError};

/// A store that could not be opened. The file is left as it was.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The file is not an SQLite database at all.
    #[error("{} is not a weft database (it is not an SQLite file); pass another --db path", path.display())]
    NotSqlite {
        /// The file.
        path: PathBuf,
    },
    /// The file is an SQLite database of something else.
    #[error("{} is an SQLite database but not a weft one (it has tables and no weft_meta); pass another --db path", path.display())]
    NotWeft {
        /// The file.
        path: PathBuf,
    },
    /// The database was written by a newer weft.
    #[error("{} has weft schema version {found}, newer than the {supported} this weft knows; upgrade weft to use it", path.display())]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// The newest this weft knows.
        supported: i64,
    },
    /// The database could not be opened or migrated.
    #[error("cannot open the weft database {}: {message}", path.display())]
    Database {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// What an SQLite or PostgreSQL error code means for a person: the kind, and what to do.
fn meaning(code: Option<&str>) -> (ErrorKind, &'static str) {
    // SQLite's extended codes carry the primary code in their low byte.
    let sqlite = code
        .and_then(|code| code.parse::<i64>().ok())
        .map(|code| code & 0xff);
    match (code, sqlite) {
        (_, Some(13)) => (
            ErrorKind::Upstream,
            " (the disk is full: free space, then resume the run)",
        ),
        (_, Some(8)) => (
            ErrorKind::Upstream,
            " (the database is read-only: fix its permissions and its folder's, then resume the run)",
        ),
        (_, Some(14)) => (
            ErrorKind::Upstream,
            " (the database or its -wal/-shm files cannot be opened for writing: check that its folder exists, fix its permissions and its folder's, then resume the run)",
        ),
        (_, Some(5 | 6)) => (ErrorKind::RetryableUpstream, " (the database is busy)"),
        (_, Some(11)) => (ErrorKind::Corrupt, " (the database file is damaged)"),
        (Some("23505"), _) => (ErrorKind::Conflict, ""),
        _ => (ErrorKind::Upstream, ""),
    }
}

/// A database error as a store error, with a message that says what to do.
pub(crate) fn store_error(context: &str, error: sqlx::Error) -> StoreError {
    let (kind, hint) = match &error {
        sqlx::Error::Database(database) => meaning(database.code().as_deref()),
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => (ErrorKind::RetryableUpstream, ""),
        _ => (ErrorKind::Upstream, ""),
    };
    StoreError::new(kind, format!("{context}: {error}{hint}"))
}

/// A database error while opening, with the same advice.
pub(crate) fn open_error(path: &std::path::Path, error: &sqlx::Error) -> OpenError {
    let hint = match error {
        sqlx::Error::Database(database) => meaning(database.code().as_deref()).1,
        _ => "",
    };
    OpenError::Database {
        path: path.to_owned(),
        message: format!("{error}{hint}"),
    }
}
