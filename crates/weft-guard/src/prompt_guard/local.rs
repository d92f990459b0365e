//! Prompt Guard in this process on the CPU: the model folder's `config.json`,
//! `model.safetensors` and `tokenizer.json`, run with candle's DeBERTa-v2 sequence
//! classifier. Each window is encoded as the model was trained (`[CLS] text [SEP]`, at
//! most its window of tokens) and its logits turned into probabilities; the work runs on
//! a blocking thread, not the async runtime's.

use super::{WindowClassifier, WindowScores};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::debertav2::{Config, DebertaV2SeqClassificationModel};
use futures::future::BoxFuture;
use std::path::Path;
use std::sync::Arc;
use weft_core::{ErrorKind, GuardError};

struct Loaded {
    model: DebertaV2SeqClassificationModel,
    tokenizer: tokenizers::Tokenizer,
    labels: Vec<String>,
    max_tokens: usize,
}

/// A Prompt Guard model loaded in this process.
#[derive(Clone)]
pub struct LocalClassifier {
    loaded: Arc<Loaded>,
}

fn bad_file(path: &Path, error: impl std::fmt::Display) -> GuardError {
    GuardError::new(
        ErrorKind::InvalidInput,
        format!("cannot read {}: {error}", path.display()),
    )
}

impl LocalClassifier {
    /// Loads the model in `directory`.
    pub fn load(directory: &Path) -> Result<Self, GuardError> {
        let config_path = directory.join("config.json");
        let text =
            std::fs::read_to_string(&config_path).map_err(|error| bad_file(&config_path, error))?;
        let config: Config =
            serde_json::from_str(&text).map_err(|error| bad_file(&config_path, error))?;
        let labels = labels(&config);
        let weights = directory.join("model.safetensors");
        // Read whole rather than mapped: the workspace forbids `unsafe`, which mapping needs.
        let bytes = std::fs::read(&weights).map_err(|error| bad_file(&weights, error))?;
        let builder = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &Device::Cpu)
            .map_err(|error| bad_file(&weights, error))?;
        let model = DebertaV2SeqClassificationModel::load(
            builder.pp("deberta"),
            &config,
            config.id2label.clone(),
        )
        .map_err(|error| bad_file(&weights, error))?;
        let tokenizer_path = directory.join("tokenizer.json");
        let tokenizer = tokenizers::Tokenizer::from_file(&tokenizer_path)
            .map_err(|error| bad_file(&tokenizer_path, error))?;
        Ok(Self {
            loaded: Arc::new(Loaded {
                model,
                tokenizer,
                labels,
                max_tokens: config.max_position_embeddings,
            }),
        })
    }

    /// The labels, by class index.
    pub fn labels(&self) -> &[String] {
        &self.loaded.labels
    }

    /// The token ids a window is classified as: `[CLS] text [SEP]`, cut to the model's
    /// window (its end kept).
    pub fn input_ids(&self, text: &str) -> Result<Vec<u32>, GuardError> {
        let encoding = self.loaded.tokenizer.encode(text, true).map_err(|error| {
            GuardError::new(ErrorKind::InvalidInput, format!("cannot tokenize: {error}"))
        })?;
        let mut ids = encoding.get_ids().to_vec();
        if ids.len() > self.loaded.max_tokens {
            let last = ids.last().copied();
            ids.truncate(self.loaded.max_tokens.saturating_sub(1));
            ids.extend(last);
        }
        Ok(ids)
    }

    /// The classifier's logits for `ids`, one per label.
    pub fn logits(&self, ids: &[u32]) -> Result<Vec<f32>, GuardError> {
        let failed = |error: candle_core::Error| {
            GuardError::new(ErrorKind::Internal, format!("Prompt Guard failed: {error}"))
        };
        let input = Tensor::new(ids, &Device::Cpu)
            .and_then(|tensor| tensor.unsqueeze(0))
            .map_err(failed)?;
        let logits = self
            .loaded
            .model
            .forward(&input, None, None)
            .and_then(|logits| logits.squeeze(0))
            .and_then(|logits| logits.to_vec1::<f32>())
            .map_err(failed)?;
        Ok(logits)
    }

    /// Each label's probability for `text`.
    pub fn scores(&self, text: &str) -> Result<WindowScores, GuardError> {
        let logits = self.logits(&self.input_ids(text)?)?;
        Ok(self
            .loaded
            .labels
            .iter()
            .cloned()
            .zip(softmax(&logits))
            .collect())
    }
}

/// Probabilities from logits.
pub fn softmax(logits: &[f32]) -> Vec<f64> {
    let highest = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exponentials: Vec<f64> = logits
        .iter()
        .map(|logit| f64::from(logit - highest).exp())
        .collect();
    let total: f64 = exponentials.iter().sum();
    exponentials.iter().map(|value| value / total).collect()
}

/// The labels by class index, from `id2label` (Prompt Guard's own when it has none).
fn labels(config: &Config) -> Vec<String> {
    match &config.id2label {
        Some(labels) => {
            let mut pairs: Vec<(u32, String)> = labels
                .iter()
                .map(|(index, label)| (*index, label.clone()))
                .collect();
            pairs.sort();
            pairs.into_iter().map(|(_, label)| label).collect()
        }
        None => super::LABELS
            .iter()
            .map(|label| (*label).to_owned())
            .collect(),
    }
}

impl WindowClassifier for LocalClassifier {
    fn classify(
        &self,
        windows: Vec<String>,
    ) -> BoxFuture<'_, Result<Vec<WindowScores>, GuardError>> {
        let classifier = self.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                windows
                    .iter()
                    .map(|window| classifier.scores(window))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await
            .map_err(|error| {
                GuardError::new(
                    ErrorKind::Internal,
                    format!("Prompt Guard stopped: {error}"),
                )
            })?
        })
    }

    fn window_tokens(&self) -> usize {
        self.loaded.max_tokens.saturating_sub(2).max(1)
    }

    fn token_offsets(&self, text: &str) -> Option<Vec<(usize, usize)>> {
        let encoding = self.loaded.tokenizer.encode(text, false).ok()?;
        Some(encoding.get_offsets().to_vec())
    }
}
