//! The exact texts a workflow was loaded from: its file and every sub-workflow file it
//! reaches, by the path the loader read them at. A run keeps them (in the store, each
//! text once, keyed by its content hash), so it goes on with the workflow it started with
//! whatever happens to the files.

use std::collections::BTreeMap;
use std::sync::Arc;

/// The texts of a workflow's files, by the path each was read at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkflowTexts {
    /// Each file's text, by path.
    files: BTreeMap<String, Arc<str>>,
    /// Each file's content hash, by the same paths: what every run started from these
    /// texts records, made once and shared.
    hashes: Arc<BTreeMap<String, String>>,
}

impl WorkflowTexts {
    /// No texts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the text read at `path`.
    pub fn insert(&mut self, path: impl Into<String>, text: impl Into<Arc<str>>) {
        let text = text.into();
        let hash = content_hash(&text);
        let path = path.into();
        Arc::make_mut(&mut self.hashes).insert(path.clone(), hash);
        self.files.insert(path, text);
    }

    /// The text read at `path`.
    pub fn get(&self, path: &str) -> Option<&str> {
        self.files.get(path).map(|text| &**text)
    }

    /// The paths and texts, by path.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.files
            .iter()
            .map(|(path, text)| (path.as_str(), &**text))
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Each path's content hash (computed once, when the text was added): what a run
    /// records of its workflow, shared by every run that records it.
    pub fn hashes(&self) -> Arc<BTreeMap<String, String>> {
        Arc::clone(&self.hashes)
    }

    /// The texts by their hashes (`hash, text`), each once: what a store keeps.
    pub fn by_hash(&self) -> Vec<(String, String)> {
        let mut texts: Vec<(String, String)> = self
            .hashes
            .iter()
            .filter_map(|(path, hash)| Some((hash.clone(), self.files.get(path)?.to_string())))
            .collect();
        texts.sort();
        texts.dedup_by(|next, kept| next.0 == kept.0);
        texts
    }

    /// Texts named by hash (as a store gives them back) under the paths `files` names;
    /// the error is the first path whose text is missing.
    pub fn from_hashes(
        files: &BTreeMap<String, String>,
        texts: &BTreeMap<String, String>,
    ) -> Result<Self, MissingText> {
        let mut kept = Self::new();
        for (path, hash) in files {
            let text = texts.get(hash).ok_or_else(|| MissingText {
                path: path.clone(),
                hash: hash.clone(),
            })?;
            kept.insert(path.clone(), text.as_str());
        }
        Ok(kept)
    }
}

/// A text a run names that its store does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the store has no text for `{path}` (hash {hash}), which the run started with")]
pub struct MissingText {
    /// The file's path from the workflow's folder.
    pub path: String,
    /// The hash the run recorded.
    pub hash: String,
}

/// The SHA-256 of a text, in lowercase hex: the key a text is stored under.
pub use weft_core::sha256_hex as content_hash;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_the_sha256_of_the_text() {
        assert_eq!(
            content_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut texts = WorkflowTexts::new();
        texts.insert("a.yaml", "abc");
        assert_eq!(texts.hashes()["a.yaml"], content_hash("abc"));
        assert_eq!(texts.get("a.yaml"), Some("abc"));
        assert_eq!(texts.get("b.yaml"), None);
    }
}
