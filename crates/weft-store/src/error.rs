//! Errors of opening a store, and the mapping of database errors to store errors. Messages
//! say what is wrong and what to do in the library's terms; a command line adds its flags.

use crate::location::Location;
use std::path::PathBuf;
use weft_core::{ErrorKind, StoreError};

/// A store that could not be opened. A file is left as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The SQLite file does not exist, and it was to be opened without being created.
    #[error("{} does not exist", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// The location needs a database that this build of weft-store leaves out.
    #[error(
        "{location} needs the `{feature}` feature of weft-store, which this build of weft leaves out"
    )]
    FeatureMissing {
        /// The database asked for.
        location: Location,
        /// The cargo feature that adds it.
        feature: &'static str,
    },
    /// The file is not an SQLite database at all.
    #[error("{} is not a weft database (it is not an SQLite file); choose another database file", path.display())]
    NotSqlite {
        /// The file.
        path: PathBuf,
    },
    /// The file is an SQLite database of something else.
    #[error("{} is an SQLite database but not a weft one (it has tables and no weft_meta); choose another database file", path.display())]
    NotWeft {
        /// The file.
        path: PathBuf,
    },
    /// The database was written by a newer weft.
    #[error(
        "{location} has weft schema version {found}, newer than the {supported} this weft knows; upgrade weft to use it"
    )]
    NewerSchema {
        /// The database.
        location: Location,
        /// Its schema version.
        found: i64,
        /// The newest this weft knows.
        supported: i64,
    },
    /// The database could not be reached, read or set up.
    #[error("cannot open the weft database {location}: {source}{hint}")]
    Database {
        /// The database.
        location: Location,
        /// The driver's error.
        source: sqlx::Error,
        /// What to do about it, when the error says (empty, or starting with a space).
        hint: &'static str,
    },
    /// The schema could not be brought up to date.
    #[error("cannot open the weft database {location}: migrating the schema failed: {source}")]
    Migration {
        /// The database.
        location: Location,
        /// The migrator's error.
        source: sqlx::migrate::MigrateError,
    },
}

impl OpenError {
    /// What sort of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Missing { .. } => ErrorKind::NotFound,
            Self::FeatureMissing { .. }
            | Self::NotSqlite { .. }
            | Self::NotWeft { .. }
            | Self::NewerSchema { .. } => ErrorKind::InvalidInput,
            Self::Database { source, .. } => classify(source).0,
            Self::Migration { .. } => ErrorKind::Upstream,
        }
    }
}

impl From<OpenError> for StoreError {
    fn from(error: OpenError) -> Self {
        StoreError::new(error.kind(), error.to_string())
    }
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

/// The kind of a database error, and what to do about it.
fn classify(error: &sqlx::Error) -> (ErrorKind, &'static str) {
    match error {
        sqlx::Error::Database(database) => meaning(database.code().as_deref()),
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => (ErrorKind::RetryableUpstream, ""),
        _ => (ErrorKind::Upstream, ""),
    }
}

/// A database error as a store error, with a message that says what to do.
pub(crate) fn store_error(context: &str, error: sqlx::Error) -> StoreError {
    let (kind, hint) = classify(&error);
    StoreError::new(kind, format!("{context}: {error}{hint}"))
}

/// A database error while opening, with the same advice.
pub(crate) fn open_error(location: &Location, error: sqlx::Error) -> OpenError {
    let hint = match &error {
        sqlx::Error::Database(database) => meaning(database.code().as_deref()).1,
        _ => "",
    };
    OpenError::Database {
        location: location.clone(),
        source: error,
        hint,
    }
}

/// A failed migration: a statement the database refused keeps the database's advice.
pub(crate) fn migration_error(
    location: &Location,
    error: sqlx::migrate::MigrateError,
) -> OpenError {
    match error {
        sqlx::migrate::MigrateError::Execute(error) => open_error(location, error),
        other => OpenError::Migration {
            location: location.clone(),
            source: other,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_is_wrong_without_command_line_flags() {
        let path = PathBuf::from("notes.db");
        let errors = [
            OpenError::Missing { path: path.clone() },
            OpenError::NotSqlite { path: path.clone() },
            OpenError::NotWeft { path },
            OpenError::FeatureMissing {
                location: Location::parse("postgres://weft:secret@db/runs"),
                feature: "postgres",
            },
        ];
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(messages[0], "notes.db does not exist");
        assert!(messages[1].ends_with("choose another database file"));
        assert_eq!(
            messages[3],
            "postgres://weft:***@db/runs needs the `postgres` feature of weft-store, which this build of weft leaves out"
        );
        for message in &messages {
            assert!(!message.contains("--"), "{message}");
        }
        let kinds: Vec<ErrorKind> = errors.iter().map(OpenError::kind).collect();
        assert_eq!(
            kinds,
            [
                ErrorKind::NotFound,
                ErrorKind::InvalidInput,
                ErrorKind::InvalidInput,
                ErrorKind::InvalidInput
            ]
        );
    }
}
