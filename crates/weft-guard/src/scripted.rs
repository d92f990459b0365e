//! The scripted guard: verdicts chosen by what the judged text contains, from a YAML file.
//! Tests and offline examples use it where a real guard model would run.
//!
//! ```yaml
//! threshold: 0.9                 # the guard's own threshold (default 0.5)
//! rules:                         # the first rule whose `contains` is in the text answers
//!   - contains: "IGNORE ALL PREVIOUS"
//!     scores: { INJECTION: 0.97, BENIGN: 0.03 }
//!   - contains: "nerve agent"
//!     points: [output]           # only for texts from these points (default: all)
//!     scores: { unsafe: 0.93, safe: 0.07 }
//!     categories: [S9]
//!   - contains: "outage"
//!     fail: "the guard server is down"
//! default:                       # no rule matched (default: every label benign)
//!   scores: { BENIGN: 0.99, INJECTION: 0.01 }
//! ```
//! A label is harmful unless it is `safe` or `BENIGN` (in any case). `contains` compares
//! without case.

use futures::FutureExt;
use indexmap::IndexMap;
use serde::Deserialize;
use std::path::Path;
use weft_core::{
    ErrorKind, Guard, GuardError, GuardFuture, GuardPoint, GuardRequest, LabelScore, Verdict,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptFile {
    #[serde(default)]
    threshold: Option<f64>,
    #[serde(default)]
    rules: Vec<RuleSpec>,
    #[serde(default)]
    default: Option<AnswerSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    contains: String,
    #[serde(default)]
    points: Vec<GuardPoint>,
    #[serde(flatten)]
    answer: AnswerSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct AnswerSpec {
    #[serde(default)]
    scores: IndexMap<String, f64>,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    fail: Option<String>,
}

/// Verdicts from a script.
#[derive(Debug)]
pub struct ScriptedGuard {
    threshold: f64,
    rules: Vec<RuleSpec>,
    default: AnswerSpec,
}

/// Whether a label means harm.
pub fn is_harmful(label: &str) -> bool {
    !(label.eq_ignore_ascii_case("safe") || label.eq_ignore_ascii_case("benign"))
}

impl ScriptedGuard {
    /// Reads a script.
    pub fn from_file(path: &Path) -> Result<Self, GuardError> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            GuardError::new(
                ErrorKind::NotFound,
                format!("cannot read the guard script {}: {error}", path.display()),
            )
        })?;
        Self::from_yaml(&text).map_err(|error| {
            GuardError::new(
                ErrorKind::InvalidInput,
                format!("{}: {}", path.display(), error.message),
            )
        })
    }

    /// Parses a script.
    pub fn from_yaml(text: &str) -> Result<Self, GuardError> {
        let file: ScriptFile = serde_saphyr::from_str(text).map_err(|error| {
            GuardError::new(
                ErrorKind::InvalidInput,
                format!("not a guard script: {error}"),
            )
        })?;
        let threshold = file.threshold.unwrap_or(0.5);
        if !(0.0..=1.0).contains(&threshold) {
            return Err(GuardError::new(
                ErrorKind::InvalidInput,
                format!("`threshold` is a probability from 0 to 1; {threshold} is not"),
            ));
        }
        for rule in &file.rules {
            if let Some((label, score)) = rule
                .answer
                .scores
                .iter()
                .find(|(_, score)| !(0.0..=1.0).contains(*score))
            {
                return Err(GuardError::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "the rule for {:?} scores {label} {score}: scores are probabilities from 0 to 1",
                        rule.contains
                    ),
                ));
            }
        }
        Ok(Self {
            threshold,
            rules: file.rules,
            default: file.default.unwrap_or_default(),
        })
    }

    /// The answer for a request.
    fn answer(&self, request: &GuardRequest) -> &AnswerSpec {
        let text = request.text().to_lowercase();
        self.rules
            .iter()
            .find(|rule| {
                (rule.points.is_empty() || rule.points.contains(&request.point))
                    && text.contains(&rule.contains.to_lowercase())
            })
            .map_or(&self.default, |rule| &rule.answer)
    }
}

impl Guard for ScriptedGuard {
    fn classify(&self, request: GuardRequest) -> GuardFuture {
        let answer = self.answer(&request).clone();
        let threshold = self.threshold;
        async move {
            if let Some(message) = answer.fail {
                return Err(GuardError::new(ErrorKind::Upstream, message));
            }
            Ok(Verdict {
                scores: answer
                    .scores
                    .into_iter()
                    .map(|(label, score)| LabelScore {
                        harmful: is_harmful(&label),
                        label,
                        score,
                    })
                    .collect(),
                categories: answer.categories,
                threshold,
            })
        }
        .boxed()
    }
}
