//! Writing a random-weight model directory with the Llama-3.1 architecture.

use crate::safetensors::{FP8_MAX, Fill, TensorPlan, write_tensors};
use crate::tokenizer::{SPECIAL_TOKENS, tokenizer_json};
use serde_json::{Value, json};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// The sizes of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Hidden size.
    pub hidden: usize,
    /// Feed-forward size.
    pub intermediate: usize,
    /// Decoder layers.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// Key/value heads (grouped-query attention).
    pub kv_heads: usize,
    /// Vocabulary size.
    pub vocab: usize,
    /// The id of `<|begin_of_text|>`; the other special tokens follow it.
    pub first_special: usize,
}

impl Shape {
    /// Two layers, hidden size 64: loads and generates in well under a second on a CPU.
    pub const TINY: Shape = Shape {
        hidden: 64,
        intermediate: 128,
        layers: 2,
        heads: 4,
        kv_heads: 2,
        vocab: 272,
        first_special: 256,
    };

    /// Llama-3.1-8B's shape: 8.03 B parameters, about 15 GiB in bf16.
    pub const LLAMA_8B: Shape = Shape {
        hidden: 4096,
        intermediate: 14336,
        layers: 32,
        heads: 32,
        kv_heads: 8,
        vocab: 128_256,
        first_special: 128_000,
    };

    /// A shape by name: `tiny` or `8b`.
    pub fn by_name(name: &str) -> Option<Shape> {
        match name {
            "tiny" => Some(Self::TINY),
            "8b" | "llama-3.1-8b" => Some(Self::LLAMA_8B),
            _ => None,
        }
    }

    /// The id of a special token (`<|eot_id|>`).
    pub fn special_id(&self, token: &str) -> Option<usize> {
        SPECIAL_TOKENS
            .iter()
            .position(|special| *special == token)
            .map(|offset| self.first_special + offset)
    }

    fn head_dim(&self) -> usize {
        self.hidden / self.heads
    }
}

/// How the linear layers' weights are stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Weights {
    /// bf16, as Meta ships Llama-3.1.
    #[default]
    Bf16,
    /// A prequantized FP8 checkpoint: E4M3 weights with one f32 scale per square block of
    /// this many rows and columns (`quantization_config.quant_method: fp8`, as block-scaled
    /// FP8 checkpoints are published); embeddings, norms and the head stay bf16.
    Fp8Blocks(usize),
}

/// A model directory that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum TinyLlamaError {
    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A shape that is not a Llama shape.
    #[error("invalid shape: {0}")]
    Shape(String),
}

/// The chat template written into `tokenizer_config.json`: the Llama-3.1 turn format
/// (headers, `<|eot_id|>`), for tools that apply a model's own template.
const CHAT_TEMPLATE: &str = "{{- bos_token }}\
{%- for message in messages %}\
{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + (message['content'] | trim) + '<|eot_id|>' }}\
{%- endfor %}\
{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}";

/// Writes a bf16 model of `shape` with weights drawn from `seed` into `directory` (created
/// if needed); returns the bytes of weights written.
pub fn write_model(directory: &Path, shape: Shape, seed: u64) -> Result<u64, TinyLlamaError> {
    write_model_with(directory, shape, seed, Weights::Bf16)
}

/// [`write_model`] with the linear layers stored as `weights` says.
pub fn write_model_with(
    directory: &Path,
    shape: Shape,
    seed: u64,
    weights: Weights,
) -> Result<u64, TinyLlamaError> {
    check_shape(shape, weights)?;
    std::fs::create_dir_all(directory).map_err(io_error(directory))?;
    write_settings(directory, shape, weights)?;
    write_weights(directory, shape, weights, seed)
}

/// Refuses a shape (and block size) that no Llama checkpoint could have, before anything
/// is written.
fn check_shape(shape: Shape, weights: Weights) -> Result<(), TinyLlamaError> {
    if let Weights::Fp8Blocks(block) = weights
        && (block == 0 || !shape.hidden.is_multiple_of(block))
    {
        return Err(TinyLlamaError::Shape(format!(
            "FP8 blocks of {block} must divide the hidden size {}",
            shape.hidden
        )));
    }
    if shape.heads == 0
        || shape.kv_heads == 0
        || !shape.hidden.is_multiple_of(shape.heads)
        || !shape.heads.is_multiple_of(shape.kv_heads)
    {
        return Err(TinyLlamaError::Shape(format!(
            "hidden size {} must divide into {} heads, and those into {} key/value heads",
            shape.hidden, shape.heads, shape.kv_heads
        )));
    }
    if shape.first_special + SPECIAL_TOKENS.len() > shape.vocab || shape.first_special < 256 {
        return Err(TinyLlamaError::Shape(format!(
            "the vocabulary ({}) must hold the 256 bytes and, from id {}, the {} special tokens",
            shape.vocab,
            shape.first_special,
            SPECIAL_TOKENS.len()
        )));
    }
    Ok(())
}

/// Turns an I/O error on `path` into the error that names the file.
fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> TinyLlamaError + use<> {
    let path = path.to_owned();
    move |source| TinyLlamaError::Io { path, source }
}

/// The ids of `<|begin_of_text|>` and of the three tokens that end a turn
/// (`<|end_of_text|>`, `<|eom_id|>`, `<|eot_id|>`), as the configs name them.
fn begin_and_stop_ids(shape: Shape) -> (usize, [usize; 3]) {
    let special = |token: &str| shape.special_id(token).unwrap_or(shape.first_special);
    let begin = special("<|begin_of_text|>");
    let stops = [
        special("<|end_of_text|>"),
        special("<|eom_id|>"),
        special("<|eot_id|>"),
    ];
    (begin, stops)
}

/// Writes the JSON files beside the weights: `config.json`, `generation_config.json`,
/// `tokenizer_config.json` and `tokenizer.json`, pretty-printed, in that order.
fn write_settings(directory: &Path, shape: Shape, weights: Weights) -> Result<(), TinyLlamaError> {
    let (begin, stops) = begin_and_stop_ids(shape);
    let generation = json!({
        "bos_token_id": begin,
        "eos_token_id": stops,
        "do_sample": false
    });
    let tokenizer_config = json!({
        "bos_token": "<|begin_of_text|>",
        "eos_token": "<|eot_id|>",
        "chat_template": CHAT_TEMPLATE,
        "model_max_length": 131_072,
        "clean_up_tokenization_spaces": true,
        "tokenizer_class": "PreTrainedTokenizerFast"
    });
    for (name, value) in [
        ("config.json", model_config(shape, weights, begin, stops)),
        ("generation_config.json", generation),
        ("tokenizer_config.json", tokenizer_config),
        (
            "tokenizer.json",
            tokenizer_json(shape.vocab, shape.first_special),
        ),
    ] {
        let path = directory.join(name);
        let text = serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string());
        std::fs::write(&path, text).map_err(io_error(&path))?;
    }
    Ok(())
}

/// `config.json`: the Llama-3.1 architecture at `shape`'s sizes, with a
/// `quantization_config` when the linears are block-scaled FP8.
fn model_config(shape: Shape, weights: Weights, begin: usize, stops: [usize; 3]) -> Value {
    let mut config = json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": shape.hidden,
        "intermediate_size": shape.intermediate,
        "num_hidden_layers": shape.layers,
        "num_attention_heads": shape.heads,
        "num_key_value_heads": shape.kv_heads,
        "head_dim": shape.head_dim(),
        "hidden_act": "silu",
        "max_position_embeddings": 131_072,
        "rms_norm_eps": 1e-5,
        "rope_theta": 500_000.0,
        "rope_scaling": {
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192,
            "rope_type": "llama3"
        },
        "vocab_size": shape.vocab,
        "bos_token_id": begin,
        "eos_token_id": stops,
        "tie_word_embeddings": false,
        "torch_dtype": "bfloat16",
        "attention_bias": false,
        "mlp_bias": false,
        "initializer_range": 0.02,
        "pretraining_tp": 1,
        "use_cache": true
    });
    if let (Weights::Fp8Blocks(block), Some(object)) = (weights, config.as_object_mut()) {
        object.insert(
            "quantization_config".into(),
            json!({
                "quant_method": "fp8",
                "fmt": "e4m3",
                "activation_scheme": "dynamic",
                "weight_block_size": [block, block]
            }),
        );
    }
    config
}

/// Writes `model.safetensors` with weights drawn from `seed`; returns the bytes written.
fn write_weights(
    directory: &Path,
    shape: Shape,
    weights: Weights,
    seed: u64,
) -> Result<u64, TinyLlamaError> {
    let path = directory.join("model.safetensors");
    let file = std::fs::File::create(&path).map_err(io_error(&path))?;
    let mut out = BufWriter::with_capacity(1 << 22, file);
    let written =
        write_tensors(&mut out, &tensors(shape, weights), seed).map_err(io_error(&path))?;
    std::io::Write::flush(&mut out).map_err(io_error(&path))?;
    Ok(written)
}

/// Every tensor of `LlamaForCausalLM`, with weights scaled like a trained model's so that
/// activations stay finite through the layers.
fn tensors(shape: Shape, weights: Weights) -> Vec<TensorPlan> {
    let head_dim = shape.head_dim();
    let random = |_rows: usize, columns: usize| Fill::Random {
        scale: (3.0 / columns as f32).sqrt(),
    };
    let mut plans = vec![TensorPlan {
        name: "model.embed_tokens.weight".into(),
        shape: vec![shape.vocab, shape.hidden],
        fill: Fill::Random { scale: 0.02 },
    }];
    for layer in 0..shape.layers {
        let prefix = format!("model.layers.{layer}");
        let linears = [
            ("self_attn.q_proj", shape.heads * head_dim, shape.hidden),
            ("self_attn.k_proj", shape.kv_heads * head_dim, shape.hidden),
            ("self_attn.v_proj", shape.kv_heads * head_dim, shape.hidden),
            ("self_attn.o_proj", shape.hidden, shape.heads * head_dim),
            ("mlp.gate_proj", shape.intermediate, shape.hidden),
            ("mlp.up_proj", shape.intermediate, shape.hidden),
            ("mlp.down_proj", shape.hidden, shape.intermediate),
        ];
        for (name, rows, columns) in linears {
            let Weights::Fp8Blocks(block) = weights else {
                plans.push(TensorPlan {
                    name: format!("{prefix}.{name}.weight"),
                    shape: vec![rows, columns],
                    fill: random(rows, columns),
                });
                continue;
            };
            let Fill::Random { scale } = random(rows, columns) else {
                continue;
            };
            plans.push(TensorPlan {
                name: format!("{prefix}.{name}.weight"),
                shape: vec![rows, columns],
                fill: Fill::RandomFp8,
            });
            plans.push(TensorPlan {
                name: format!("{prefix}.{name}.weight_scale_inv"),
                shape: vec![rows.div_ceil(block), columns.div_ceil(block)],
                fill: Fill::ConstantF32(scale / FP8_MAX),
            });
        }
        for norm in ["input_layernorm", "post_attention_layernorm"] {
            plans.push(TensorPlan {
                name: format!("{prefix}.{norm}.weight"),
                shape: vec![shape.hidden],
                fill: Fill::Constant(1.0),
            });
        }
    }
    plans.push(TensorPlan {
        name: "model.norm.weight".into(),
        shape: vec![shape.hidden],
        fill: Fill::Constant(1.0),
    });
    plans.push(TensorPlan {
        name: "lm_head.weight".into(),
        shape: vec![shape.vocab, shape.hidden],
        fill: random(shape.vocab, shape.hidden),
    });
    plans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_file_with_the_llama_3_1_settings() {
        let directory = tempfile::tempdir().unwrap();
        let written = write_model(directory.path(), Shape::TINY, 1).unwrap();
        for name in [
            "config.json",
            "generation_config.json",
            "tokenizer.json",
            "tokenizer_config.json",
            "model.safetensors",
        ] {
            assert!(directory.path().join(name).is_file(), "{name}");
        }
        let config: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(directory.path().join("config.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(config["architectures"][0], "LlamaForCausalLM");
        assert_eq!(config["rope_scaling"]["rope_type"], "llama3");
        assert_eq!(config["max_position_embeddings"], 131_072);
        assert_eq!(config["eos_token_id"], json!([257, 264, 265]));
        let size = std::fs::metadata(directory.path().join("model.safetensors"))
            .unwrap()
            .len();
        assert_eq!(size, written);
        // Embeddings and head (272 x 64 each), 2 layers of 7 linears and 2 norms, a norm.
        let parameters =
            2 * 272 * 64 + 2 * (64 * 64 * 2 + 32 * 64 * 2 + 128 * 64 * 3 + 64 * 2) + 64;
        assert!(written as usize > parameters * 2);
    }

    #[test]
    fn the_same_seed_gives_the_same_weights() {
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        write_model(first.path(), Shape::TINY, 9).unwrap();
        write_model(second.path(), Shape::TINY, 9).unwrap();
        let read = |path: &Path| std::fs::read(path.join("model.safetensors")).unwrap();
        assert_eq!(read(first.path()), read(second.path()));
    }

    #[test]
    fn an_fp8_checkpoint_has_e4m3_weights_and_block_scales() {
        let directory = tempfile::tempdir().unwrap();
        write_model_with(directory.path(), Shape::TINY, 1, Weights::Fp8Blocks(32)).unwrap();
        let config: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(directory.path().join("config.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(config["quantization_config"]["quant_method"], "fp8");
        assert_eq!(
            config["quantization_config"]["weight_block_size"],
            json!([32, 32])
        );
        let bytes = std::fs::read(directory.path().join("model.safetensors")).unwrap();
        let length = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + length]).unwrap();
        let up = &header["model.layers.0.mlp.up_proj.weight"];
        assert_eq!(up["dtype"], "F8_E4M3");
        let scales = &header["model.layers.0.mlp.up_proj.weight_scale_inv"];
        assert_eq!(scales["dtype"], "F32");
        assert_eq!(scales["shape"], json!([4, 2]), "128 x 64 in blocks of 32");
        assert_eq!(header["lm_head.weight"]["dtype"], "BF16");
    }

    #[test]
    fn a_bad_shape_is_refused() {
        let directory = tempfile::tempdir().unwrap();
        let shape = Shape {
            heads: 5,
            ..Shape::TINY
        };
        assert!(matches!(
            write_model(directory.path(), shape, 1),
            Err(TinyLlamaError::Shape(_))
        ));
    }
}
