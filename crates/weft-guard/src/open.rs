//! Guard specs: how a workflow or weft.toml names a guard.
//!
//! `scripted:FILE` is the scripted guard (a path relative to the workflow's folder). The
//! other kinds (`llama-guard:MODEL`, `prompt-guard:...`) need what the runtime has (a
//! chat backend, an HTTP client) and are opened by the front end's composition.

use std::path::{Path, PathBuf};

/// A parsed guard spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardSpec {
    /// Verdicts from a script.
    Scripted(PathBuf),
    /// Llama Guard 3 through the chat backend this model spec (or weft.toml name) opens.
    LlamaGuard(String),
    /// Prompt Guard: a model folder in-process, or an `http(s)://` classifier endpoint.
    PromptGuard(String),
}

/// A guard spec that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardSpecError {
    /// No known kind.
    #[error(
        "`{0}` is not a guard spec: use `llama-guard:MODEL`, `prompt-guard:DIR`, `prompt-guard:http://HOST/predict`, `scripted:FILE`, or a name from weft.toml's [guards]"
    )]
    Unknown(String),
    /// A kind with nothing after it.
    #[error("the guard spec `{0}` names no {1}")]
    Empty(String, &'static str),
}

impl GuardSpec {
    /// Parses `text`; relative script paths are taken from `base`. `None`: not a spec
    /// (perhaps a weft.toml name).
    pub fn parse(text: &str, base: &Path) -> Result<Option<Self>, GuardSpecError> {
        let Some((kind, rest)) = text.split_once(':') else {
            return Ok(None);
        };
        let rest = rest.trim();
        let empty = |what| {
            if rest.is_empty() {
                Err(GuardSpecError::Empty(text.to_owned(), what))
            } else {
                Ok(())
            }
        };
        Ok(Some(match kind {
            "scripted" => {
                empty("file")?;
                Self::Scripted(base.join(rest))
            }
            "llama-guard" => {
                empty("model")?;
                Self::LlamaGuard(rest.to_owned())
            }
            "prompt-guard" => {
                empty("model folder or URL")?;
                Self::PromptGuard(rest.to_owned())
            }
            _ => return Err(GuardSpecError::Unknown(text.to_owned())),
        }))
    }
}
