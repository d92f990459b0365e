//! Prompt Guard behind an HTTP classifier endpoint in the shape of Hugging Face
//! text-embeddings-inference's `/predict`: `{"inputs": TEXT, "truncate": true}` answered
//! with every label's score (`[{"label": "INJECTION", "score": 0.98}, ...]`, or that list
//! inside another). One request per window; the model's `tokenizer.json`, when given,
//! counts the windows exactly.

use super::{WindowClassifier, WindowScores};
use futures::future::BoxFuture;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use weft_core::{ErrorKind, GuardError};

/// A `/predict` endpoint.
pub struct HttpClassifier {
    client: reqwest::Client,
    url: String,
    tokenizer: Option<tokenizers::Tokenizer>,
}

impl HttpClassifier {
    /// A classifier at `url` (a full URL, `.../predict`), counting windows with the
    /// `tokenizer.json` at `tokenizer` when given.
    pub fn new(url: &str, tokenizer: Option<&Path>) -> Result<Self, GuardError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|error| {
                GuardError::new(ErrorKind::Internal, format!("no HTTP client: {error}"))
            })?;
        let tokenizer = match tokenizer {
            Some(path) => Some(tokenizers::Tokenizer::from_file(path).map_err(|error| {
                GuardError::new(
                    ErrorKind::InvalidInput,
                    format!("cannot read the tokenizer {}: {error}", path.display()),
                )
            })?),
            None => None,
        };
        Ok(Self {
            client,
            url: url.to_owned(),
            tokenizer,
        })
    }

    async fn classify_one(&self, text: String) -> Result<WindowScores, GuardError> {
        let response = self
            .client
            .post(&self.url)
            .json(&json!({"inputs": text, "truncate": true}))
            .send()
            .await
            .map_err(|error| {
                GuardError::new(
                    ErrorKind::RetryableUpstream,
                    format!("the classifier at {} cannot be reached: {error}", self.url),
                )
            })?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|error| {
            GuardError::new(
                ErrorKind::Upstream,
                format!(
                    "the classifier at {} answered {status} without JSON: {error}",
                    self.url
                ),
            )
        })?;
        if !status.is_success() {
            return Err(GuardError::new(
                ErrorKind::Upstream,
                format!("the classifier at {} answered {status}: {body}", self.url),
            ));
        }
        scores(&body).ok_or_else(|| {
            GuardError::new(
                ErrorKind::Upstream,
                format!(
                    "the classifier at {} answered without label scores: {body}",
                    self.url
                ),
            )
        })
    }
}

/// The label scores of a `/predict` answer: a list of `{label, score}`, or such a list
/// inside another (a batch of one).
pub fn scores(body: &Value) -> Option<WindowScores> {
    let mut list = body.as_array()?;
    if let Some(inner) = list.first().and_then(Value::as_array) {
        list = inner;
    }
    let scores: WindowScores = list
        .iter()
        .filter_map(|item| {
            let label = item.get("label")?.as_str()?.to_owned();
            let score = item.get("score")?.as_f64()?;
            score.is_finite().then_some((label, score.clamp(0.0, 1.0)))
        })
        .collect();
    (!scores.is_empty()).then_some(scores)
}

impl WindowClassifier for HttpClassifier {
    fn classify(
        &self,
        windows: Vec<String>,
    ) -> BoxFuture<'_, Result<Vec<WindowScores>, GuardError>> {
        Box::pin(async move {
            let mut all = Vec::with_capacity(windows.len());
            for window in windows {
                all.push(self.classify_one(window).await?);
            }
            Ok(all)
        })
    }

    fn token_offsets(&self, text: &str) -> Option<Vec<(usize, usize)>> {
        let encoding = self.tokenizer.as_ref()?.encode(text, false).ok()?;
        Some(encoding.get_offsets().to_vec())
    }
}
