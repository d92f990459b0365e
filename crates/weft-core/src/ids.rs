//! Identifiers.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The id of a run: a UUIDv7, so ids sort by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(uuid::Uuid);

impl RunId {
    /// A new, time-ordered id.
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }

    /// Wraps an existing UUID.
    pub fn from_uuid(uuid: uuid::Uuid) -> Self {
        Self(uuid)
    }

    /// The UUID inside.
    pub fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }
}

impl Default for RunId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(formatter)
    }
}

/// A run id that could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("`{input}` is not a run id (expected a UUID such as 0190f5c2-4c1e-7d2a-9a53-2f7c1c1b9e10)")]
pub struct ParseRunIdError {
    input: String,
}

impl FromStr for RunId {
    type Err = ParseRunIdError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(input)
            .map(Self)
            .map_err(|_| ParseRunIdError {
                input: input.to_owned(),
            })
    }
}
