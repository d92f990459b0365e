//! Errors of loading an in-process model.

use std::path::PathBuf;

/// A model that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The directory does not exist.
    #[error("model directory {} does not exist", .0.display())]
    NoDirectory(PathBuf),
    /// A file the model needs is missing.
    #[error("model directory {} has no {file}: {why}", directory.display())]
    MissingFile {
        /// The directory.
        directory: PathBuf,
        /// The missing file.
        file: String,
        /// What it is for.
        why: &'static str,
    },
    /// A file is there but cannot be read or parsed.
    #[error("{}: {message}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The model is not an architecture weft runs in-process.
    #[error("{}: architecture {found} is not supported in-process; weft runs {supported} (serve other models with vLLM or TGI and use `openai:URL`)", path.display())]
    Unsupported {
        /// config.json.
        path: PathBuf,
        /// What config.json names.
        found: String,
        /// What is supported.
        supported: &'static str,
    },
    /// An option that does not apply (an unknown ISQ type, bf16 on the CPU, ...).
    #[error("{0}")]
    Option(String),
    /// mistralrs failed to load the model.
    #[error("mistralrs could not load {model}: {message}")]
    Load {
        /// The model.
        model: String,
        /// mistralrs's message.
        message: String,
    },
}
