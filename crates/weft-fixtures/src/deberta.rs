//! A DeBERTa-v2 sequence classifier with Prompt Guard's architecture and labels (BENIGN,
//! INJECTION, JAILBREAK) and random weights: `config.json`, `model.safetensors` (the
//! tensor names of Hugging Face's `DebertaV2ForSequenceClassification`) and a
//! SentencePiece-style `tokenizer.json` (Unigram over single characters, common words and
//! byte fallback, `[CLS] ... [SEP]` around each text), so any text in any language encodes.

use crate::safetensors::{Fill, TensorPlan, write_tensors};
use serde_json::{Value, json};
use std::path::Path;

/// The sizes of a classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassifierShape {
    /// Rows of the word embeddings.
    pub vocab_size: usize,
    /// The hidden size.
    pub hidden: usize,
    /// Encoder layers.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// The feed-forward size.
    pub intermediate: usize,
    /// Relative position buckets (the relative embeddings have twice as many rows).
    pub buckets: usize,
    /// The longest input, in tokens.
    pub max_positions: usize,
    /// Whether weights are f32 (a test recomputes them by hand) or bf16 (to keep a large
    /// model's file small).
    pub f32_weights: bool,
}

impl ClassifierShape {
    /// A classifier small enough to recompute by hand.
    pub const TINY: ClassifierShape = ClassifierShape {
        vocab_size: 400,
        hidden: 16,
        layers: 2,
        heads: 2,
        intermediate: 32,
        buckets: 16,
        max_positions: 64,
        f32_weights: true,
    };

    /// `meta-llama/Prompt-Guard-86M`'s shape: mDeBERTa-v3-base (86M parameters in the
    /// backbone, a 251,000-token vocabulary, a 512-token window).
    pub const PROMPT_GUARD: ClassifierShape = ClassifierShape {
        vocab_size: 251_000,
        hidden: 768,
        layers: 12,
        heads: 12,
        intermediate: 3072,
        buckets: 256,
        max_positions: 512,
        f32_weights: false,
    };
}

/// The classifier's labels, by class index.
pub const LABELS: [&str; 3] = ["BENIGN", "INJECTION", "JAILBREAK"];

/// Writes the classifier into `directory`; returns the bytes of `model.safetensors`.
pub fn write_classifier(
    directory: &Path,
    shape: ClassifierShape,
    seed: u64,
) -> std::io::Result<u64> {
    std::fs::create_dir_all(directory)?;
    std::fs::write(
        directory.join("config.json"),
        serde_json::to_vec_pretty(&config(shape))?,
    )?;
    std::fs::write(
        directory.join("tokenizer.json"),
        serde_json::to_vec(&tokenizer(shape.vocab_size))?,
    )?;
    let file = std::fs::File::create(directory.join("model.safetensors"))?;
    let mut out = std::io::BufWriter::new(file);
    let written = write_tensors(&mut out, &tensors(shape), seed)?;
    std::io::Write::flush(&mut out)?;
    Ok(written)
}

/// `config.json` as Prompt Guard's has it, with this shape's sizes.
pub fn config(shape: ClassifierShape) -> Value {
    let labels: serde_json::Map<String, Value> = LABELS
        .iter()
        .enumerate()
        .map(|(index, label)| (index.to_string(), json!(label)))
        .collect();
    let ids: serde_json::Map<String, Value> = LABELS
        .iter()
        .enumerate()
        .map(|(index, label)| ((*label).to_owned(), json!(index)))
        .collect();
    json!({
        "architectures": ["DebertaV2ForSequenceClassification"],
        "model_type": "deberta-v2",
        "vocab_size": shape.vocab_size,
        "hidden_size": shape.hidden,
        "num_hidden_layers": shape.layers,
        "num_attention_heads": shape.heads,
        "intermediate_size": shape.intermediate,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": shape.max_positions,
        "type_vocab_size": 0,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-7,
        "relative_attention": true,
        "max_relative_positions": -1,
        "pad_token_id": 0,
        "position_biased_input": false,
        "pos_att_type": ["p2c", "c2p"],
        "position_buckets": shape.buckets,
        "share_att_key": true,
        "norm_rel_ebd": "layer_norm",
        "pooler_dropout": 0,
        "pooler_hidden_act": "gelu",
        "pooler_hidden_size": shape.hidden,
        "id2label": labels,
        "label2id": ids,
    })
}

/// The tensors of a classifier as they are planned, in the order written.
struct Plans {
    shape: ClassifierShape,
    plans: Vec<TensorPlan>,
}

impl Plans {
    /// Random values within `scale` (bf16 in a large model, f32 in a tiny one).
    fn random(&self, scale: f32) -> Fill {
        if self.shape.f32_weights {
            Fill::RandomF32 { scale }
        } else {
            Fill::Random { scale }
        }
    }

    fn add(&mut self, name: String, dimensions: Vec<usize>, fill: Fill) {
        self.plans.push(TensorPlan {
            name,
            shape: dimensions,
            fill,
        });
    }

    /// A linear layer's weight (`outputs` x `inputs`) and bias.
    fn linear(&mut self, name: &str, outputs: usize, inputs: usize) {
        let (weight, bias) = (self.random(0.3), self.random(0.1));
        self.add(format!("{name}.weight"), vec![outputs, inputs], weight);
        self.add(format!("{name}.bias"), vec![outputs], bias);
    }

    /// A layer norm's gain (random in a tiny model, so a test sees it used; 1 otherwise)
    /// and bias.
    fn layer_norm(&mut self, name: &str) {
        let gain = if self.shape.f32_weights {
            Fill::RandomF32 { scale: 0.2 }
        } else {
            Fill::Constant(1.0)
        };
        let bias = self.random(0.1);
        let hidden = self.shape.hidden;
        self.add(format!("{name}.weight"), vec![hidden], gain);
        self.add(format!("{name}.bias"), vec![hidden], bias);
    }
}

/// The tensors, in the order written.
fn tensors(shape: ClassifierShape) -> Vec<TensorPlan> {
    let mut plans = Plans {
        shape,
        plans: Vec::new(),
    };
    let (hidden, inner) = (shape.hidden, shape.intermediate);
    let embeddings = plans.random(0.5);
    plans.add(
        "deberta.embeddings.word_embeddings.weight".into(),
        vec![shape.vocab_size, hidden],
        embeddings,
    );
    plans.layer_norm("deberta.embeddings.LayerNorm");
    for layer in 0..shape.layers {
        let at = format!("deberta.encoder.layer.{layer}");
        for projection in ["query_proj", "key_proj", "value_proj"] {
            plans.linear(&format!("{at}.attention.self.{projection}"), hidden, hidden);
        }
        plans.linear(&format!("{at}.attention.output.dense"), hidden, hidden);
        plans.layer_norm(&format!("{at}.attention.output.LayerNorm"));
        plans.linear(&format!("{at}.intermediate.dense"), inner, hidden);
        plans.linear(&format!("{at}.output.dense"), hidden, inner);
        plans.layer_norm(&format!("{at}.output.LayerNorm"));
    }
    let relative = plans.random(0.5);
    plans.add(
        "deberta.encoder.rel_embeddings.weight".into(),
        vec![shape.buckets * 2, hidden],
        relative,
    );
    plans.layer_norm("deberta.encoder.LayerNorm");
    plans.linear("pooler.dense", hidden, hidden);
    plans.linear("classifier", LABELS.len(), hidden);
    plans.plans
}

/// The ids of the special tokens.
pub const PAD: u32 = 0;
/// `[CLS]`, first in every input.
pub const CLS: u32 = 1;
/// `[SEP]`, last in every input.
pub const SEP: u32 = 2;
/// `[UNK]`.
pub const UNK: u32 = 3;

/// Words the tokenizer knows whole, besides single characters and bytes.
const WORDS: [&str; 24] = [
    "▁the",
    "▁a",
    "▁and",
    "▁to",
    "▁of",
    "▁is",
    "▁lamp",
    "▁light",
    "▁ignore",
    "▁previous",
    "▁instructions",
    "▁all",
    "▁you",
    "▁are",
    "▁now",
    "▁DAN",
    "▁page",
    "▁review",
    "▁ing",
    "▁this",
    "▁that",
    "▁with",
    "▁for",
    "▁on",
];

/// A SentencePiece-style Unigram tokenizer: the specials, the byte pieces (`<0x41>`, for
/// byte fallback), `▁`, ASCII letters and digits, and a few words, within `vocab_size`.
pub fn tokenizer(vocab_size: usize) -> Value {
    let mut vocab: Vec<Value> = ["[PAD]", "[CLS]", "[SEP]", "[UNK]"]
        .iter()
        .map(|piece| json!([piece, 0.0]))
        .collect();
    vocab.extend((0..=255u8).map(|byte| json!([format!("<0x{byte:02X}>"), -20.0])));
    vocab.push(json!(["▁", -3.0]));
    let characters = ('a'..='z').chain('A'..='Z').chain('0'..='9');
    vocab.extend(characters.map(|character| json!([character.to_string(), -5.0])));
    vocab.extend(WORDS.iter().map(|word| json!([word, -1.0])));
    vocab.truncate(vocab_size);
    let special = |id: u32, content: &str| {
        json!({"id": id, "content": content, "single_word": false, "lstrip": false,
               "rstrip": false, "normalized": false, "special": true})
    };
    let metaspace =
        json!({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true});
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [special(PAD, "[PAD]"), special(CLS, "[CLS]"), special(SEP, "[SEP]"), special(UNK, "[UNK]")],
        "normalizer": null,
        "pre_tokenizer": metaspace,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "[SEP]", "type_id": 0}}
            ],
            "pair": [
                {"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 1}},
                {"SpecialToken": {"id": "[SEP]", "type_id": 1}}
            ],
            "special_tokens": {
                "[CLS]": {"id": "[CLS]", "ids": [CLS], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [SEP], "tokens": ["[SEP]"]}
            }
        },
        "decoder": metaspace,
        "model": {"type": "Unigram", "unk_id": UNK, "vocab": vocab, "byte_fallback": true}
    })
}
