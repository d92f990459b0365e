//! The schema version this weft writes and reads, and the refusal of a newer one: weft does
//! not guess at a database a newer weft wrote.

use crate::error::OpenError;
use crate::location::Location;

/// The schema version this weft writes and reads (`weft_meta.schema_version`).
pub const SCHEMA_VERSION: i64 = 6;

/// The query that reads a database's schema version (the same in every dialect).
pub(crate) const SELECT_SCHEMA_VERSION: &str =
    "SELECT value FROM weft_meta WHERE key = 'schema_version'";

/// Refuses a database whose `weft_meta` names a newer schema than [`SCHEMA_VERSION`]; a
/// missing or unreadable version is an old one, which the migrations bring up to date.
pub(crate) fn check_version(location: &Location, version: Option<String>) -> Result<(), OpenError> {
    let found = version
        .and_then(|version| version.parse::<i64>().ok())
        .unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Err(OpenError::NewerSchema {
            location: location.clone(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}
