//! Errors of building a backend.

use std::path::PathBuf;

/// A backend that could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A scripted-replies file is invalid.
    #[error("{}:{line}:{column}: error: {message}", path.display())]
    InvalidScript {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// The column, from 1.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A model spec that no backend accepts.
    #[error("model spec `{spec}` is not valid: {why}; accepted forms: {accepted}")]
    UnknownSpec {
        /// The spec as given.
        spec: String,
        /// What is wrong with it.
        why: String,
        /// The accepted forms.
        accepted: &'static str,
    },
    /// A backend that cannot be set up as configured.
    #[error("{0}")]
    Configuration(String),
    /// A backend that this build of weft leaves out.
    #[error("{what} needs weft's `{feature}` feature, which this build does not have")]
    FeatureMissing {
        /// The cargo feature.
        feature: &'static str,
        /// What needed it.
        what: String,
    },
}
