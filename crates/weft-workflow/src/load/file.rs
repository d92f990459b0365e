//! A file being loaded: its path and where everything in it is, so that each problem found
//! becomes a diagnostic at file:line:column.

use super::location::{LocationIndex, Position};
use crate::error::{Diagnostic, LoadError};
use std::path::PathBuf;

/// A file being loaded: its path and where everything in it is.
pub(super) struct File {
    pub(super) path: PathBuf,
    pub(super) locations: LocationIndex,
}

impl File {
    /// A diagnostic at `position`.
    pub(super) fn diagnostic_at(
        &self,
        position: Position,
        message: String,
        help: Option<String>,
    ) -> Diagnostic {
        Diagnostic {
            file: self.path.clone(),
            line: position.line,
            column: position.column,
            message,
            help,
        }
    }

    /// A diagnostic at the value at `path`.
    pub(super) fn at_value(
        &self,
        path: &[&str],
        message: String,
        help: Option<String>,
    ) -> Diagnostic {
        let path: Vec<String> = path.iter().map(|part| (*part).to_owned()).collect();
        self.diagnostic_at(self.locations.value(&path), message, help)
    }

    /// A diagnostic at the key of `path` (where the field is named).
    pub(super) fn at_key(
        &self,
        path: &[&str],
        message: String,
        help: Option<String>,
    ) -> Diagnostic {
        let path: Vec<String> = path.iter().map(|part| (*part).to_owned()).collect();
        self.diagnostic_at(self.locations.key(&path), message, help)
    }
}

/// The error of an invalid file: its diagnostics in file order, each once.
pub(super) fn invalid(mut diagnostics: Vec<Diagnostic>) -> LoadError {
    diagnostics.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    diagnostics.dedup();
    LoadError::Invalid { diagnostics }
}
