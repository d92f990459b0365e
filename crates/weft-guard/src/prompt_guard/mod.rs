//! Prompt Guard (`meta-llama/Prompt-Guard-86M`, an mDeBERTa-v3 classifier with the labels
//! BENIGN, INJECTION and JAILBREAK and a 512-token window): a text longer than the window
//! is split into overlapping windows, each is classified, and the worst window (the one
//! whose harmful label scores highest) is the verdict. Where the classifier runs is a
//! [`WindowClassifier`]: an HTTP endpoint (`http.rs`, feature `http`) or the model in this
//! process (`local.rs`, feature `prompt-guard`).

#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "prompt-guard")]
pub mod local;
pub mod windows;

use futures::FutureExt;
use futures::future::BoxFuture;
use std::sync::Arc;
use weft_core::{ErrorKind, Guard, GuardError, GuardFuture, GuardRequest, LabelScore, Verdict};

/// Prompt Guard's labels, by class index.
pub const LABELS: [&str; 3] = ["BENIGN", "INJECTION", "JAILBREAK"];

/// Prompt Guard's threshold unless a rule sets one: the model card's advice for texts from
/// outside (tool results, retrieved documents) is to act only on confident scores.
pub const DEFAULT_THRESHOLD: f64 = 0.9;

/// Each label's probability for one window.
pub type WindowScores = Vec<(String, f64)>;

/// Classifies windows of text: each window's probability per label.
pub trait WindowClassifier: Send + Sync {
    /// The scores of each of `windows`, in order.
    fn classify(
        &self,
        windows: Vec<String>,
    ) -> BoxFuture<'_, Result<Vec<WindowScores>, GuardError>>;
    /// Each token's byte range in `text`, when the classifier's tokenizer is at hand:
    /// windows are then counted in its tokens, else in characters.
    fn token_offsets(&self, text: &str) -> Option<Vec<(usize, usize)>>;
    /// The tokens of text a window holds (Prompt Guard's 512 less `[CLS]` and `[SEP]`).
    fn window_tokens(&self) -> usize {
        windows::WINDOW_TOKENS
    }
}

/// Prompt Guard over a window classifier.
pub struct PromptGuard {
    classifier: Arc<dyn WindowClassifier>,
}

impl std::fmt::Debug for PromptGuard {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PromptGuard")
            .finish_non_exhaustive()
    }
}

impl PromptGuard {
    /// A guard over `classifier`.
    pub fn new(classifier: Arc<dyn WindowClassifier>) -> Self {
        Self { classifier }
    }

    /// The windows of `text`.
    pub fn windows(&self, text: &str) -> Vec<String> {
        let ranges = match self.classifier.token_offsets(text) {
            Some(offsets) => {
                let size = self.classifier.window_tokens();
                let overlap = windows::OVERLAP_TOKENS.min(size / 4);
                windows::by_tokens(&offsets, size, overlap)
            }
            None => windows::by_characters(
                text,
                windows::WINDOW_CHARACTERS,
                windows::OVERLAP_CHARACTERS,
            ),
        };
        ranges
            .into_iter()
            .filter_map(|range| text.get(range).map(str::to_owned))
            .collect()
    }
}

/// Whether a Prompt Guard label means harm.
fn harmful(label: &str) -> bool {
    !label.eq_ignore_ascii_case("BENIGN")
}

/// The verdict of the worst window: the one whose harmful label scores highest.
pub fn worst_window(windows: &[WindowScores]) -> Option<Verdict> {
    let worst_harm = |scores: &WindowScores| {
        scores
            .iter()
            .filter(|(label, _)| harmful(label))
            .map(|(_, score)| *score)
            .fold(0.0f64, f64::max)
    };
    let worst = windows
        .iter()
        .max_by(|left, right| worst_harm(left).total_cmp(&worst_harm(right)))?;
    Some(Verdict {
        scores: worst
            .iter()
            .map(|(label, score)| LabelScore {
                label: label.clone(),
                score: *score,
                harmful: harmful(label),
            })
            .collect(),
        categories: Vec::new(),
        threshold: DEFAULT_THRESHOLD,
    })
}

impl Guard for PromptGuard {
    fn classify(&self, request: GuardRequest) -> GuardFuture {
        let windows = self.windows(request.text());
        let classifier = self.classifier.clone();
        async move {
            let count = windows.len();
            let scores = classifier.classify(windows).await?;
            if scores.len() != count {
                return Err(GuardError::new(
                    ErrorKind::Upstream,
                    format!("the classifier scored {} windows of {count}", scores.len()),
                ));
            }
            worst_window(&scores).ok_or_else(|| {
                GuardError::new(ErrorKind::Upstream, "the classifier gave no scores")
            })
        }
        .boxed()
    }
}
