//! A model's options, typed once: from a spec's query (`mistralrs:DIR?isq=fp8&devices=0,1`)
//! or a `weft.toml` table (`isq = "fp8"`), to the backend that reads them. Each option's
//! text form is parsed by its type's `FromStr`, which the spec's query and the TOML strings
//! share; TOML's own numbers and booleans arrive as numbers and booleans.

use serde::{Deserialize, Deserializer};
use std::str::FromStr;
use std::time::Duration;

/// A model option that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    /// A known option with a value it does not take.
    #[error("`{key}={value}`: {expected}")]
    Invalid {
        /// The option.
        key: &'static str,
        /// Its value as given.
        value: String,
        /// What was expected instead.
        expected: String,
    },
    /// No such option.
    #[error("`{key}` is not an option of `mistralrs:`; the options are {LOCAL_OPTIONS}")]
    Unknown {
        /// The key as given.
        key: String,
    },
}

impl OptionError {
    fn new(key: &'static str, value: &str, expected: impl Into<String>) -> Self {
        Self::Invalid {
            key,
            value: value.to_owned(),
            expected: expected.into(),
        }
    }
}

/// The keys a `mistralrs:` spec's query and a `weft.toml` table of one accept.
pub const LOCAL_OPTIONS: &str =
    "isq, isq_scope, devices, paged, paged_memory, block_size, dtype, max_seqs, window";

/// How an in-process model is run; every option unset is mistralrs's or weft's default.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalOptions {
    /// In-situ quantization of the weights when they load.
    #[serde(default, deserialize_with = "from_text")]
    pub isq: Option<Isq>,
    /// Which weights the ISQ applies to (default: all).
    #[serde(default, deserialize_with = "from_text")]
    pub isq_scope: Option<IsqScope>,
    /// Devices (default: whatever mistralrs finds).
    #[serde(default, deserialize_with = "from_text")]
    pub devices: Option<Devices>,
    /// Paged attention (default: on with CUDA, off on the CPU).
    #[serde(default, rename = "paged")]
    pub paged_attention: Option<bool>,
    /// The memory of the paged KV cache.
    #[serde(default, deserialize_with = "from_text")]
    pub paged_memory: Option<PagedMemory>,
    /// Paged attention's block size in tokens.
    #[serde(default)]
    pub block_size: Option<usize>,
    /// The weights' dtype.
    #[serde(default, deserialize_with = "from_text")]
    pub dtype: Option<Dtype>,
    /// The most sequences decoded together.
    #[serde(default, rename = "max_seqs")]
    pub max_sequences: Option<usize>,
    /// A smaller window than the model's, to save KV-cache memory.
    #[serde(default, rename = "window")]
    pub context_window: Option<u32>,
}

impl LocalOptions {
    /// The first option that is set, by its key; `None` when none is.
    pub fn first_set(&self) -> Option<&'static str> {
        [
            ("isq", self.isq.is_some()),
            ("isq_scope", self.isq_scope.is_some()),
            ("devices", self.devices.is_some()),
            ("paged", self.paged_attention.is_some()),
            ("paged_memory", self.paged_memory.is_some()),
            ("block_size", self.block_size.is_some()),
            ("dtype", self.dtype.is_some()),
            ("max_seqs", self.max_sequences.is_some()),
            ("window", self.context_window.is_some()),
        ]
        .into_iter()
        .find_map(|(key, set)| set.then_some(key))
    }

    /// `self` with every option `other` sets taken from `other`.
    pub fn overridden_by(mut self, other: &LocalOptions) -> Self {
        let LocalOptions {
            isq,
            isq_scope,
            devices,
            paged_attention,
            paged_memory,
            block_size,
            dtype,
            max_sequences,
            context_window,
        } = other;
        take(&mut self.isq, isq);
        take(&mut self.isq_scope, isq_scope);
        take(&mut self.devices, devices);
        take(&mut self.paged_attention, paged_attention);
        take(&mut self.paged_memory, paged_memory);
        take(&mut self.block_size, block_size);
        take(&mut self.dtype, dtype);
        take(&mut self.max_sequences, max_sequences);
        take(&mut self.context_window, context_window);
        self
    }

    /// Sets one option from a spec's query (`key=value`).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), OptionError> {
        match key {
            "isq" => {
                self.isq = match value {
                    "" | "none" => None,
                    _ => Some(value.parse()?),
                }
            }
            "isq_scope" => self.isq_scope = Some(value.parse()?),
            "devices" => self.devices = Some(value.parse()?),
            "paged" => self.paged_attention = Some(switch("paged", value)?),
            "paged_memory" => self.paged_memory = Some(value.parse()?),
            "block_size" => self.block_size = Some(whole("block_size", value)?),
            "dtype" => self.dtype = Some(value.parse()?),
            "max_seqs" => self.max_sequences = Some(whole("max_seqs", value)?.max(1)),
            "window" => {
                let window = whole("window", value)?;
                self.context_window = Some(
                    u32::try_from(window)
                        .map_err(|_| OptionError::new("window", value, "too large"))?,
                );
            }
            _ => {
                return Err(OptionError::Unknown {
                    key: key.to_owned(),
                });
            }
        }
        Ok(())
    }
}

/// Settings of an OpenAI-compatible model beyond its spec (from weft.toml).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteOptions {
    /// The environment variable holding the API key (default `OPENAI_API_KEY`, or
    /// `HF_TOKEN` for `tgi:`); a named variable that is not set is an error.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// The window in tokens (default 131,072, Llama-3.1's).
    #[serde(default)]
    pub context_window: Option<u32>,
    /// The longest wait for a response's headers (`120s`).
    #[serde(default, deserialize_with = "weft_core::duration::optional")]
    pub timeout: Option<Duration>,
    /// The longest silence inside a streamed reply (`60s`).
    #[serde(default, deserialize_with = "weft_core::duration::optional")]
    pub idle_timeout: Option<Duration>,
    /// Retries after the first try.
    #[serde(default)]
    pub max_retries: Option<u32>,
}

impl RemoteOptions {
    /// The first option that is set, by its key; `None` when none is.
    pub fn first_set(&self) -> Option<&'static str> {
        [
            ("api_key_env", self.api_key_env.is_some()),
            ("context_window", self.context_window.is_some()),
            ("timeout", self.timeout.is_some()),
            ("idle_timeout", self.idle_timeout.is_some()),
            ("max_retries", self.max_retries.is_some()),
        ]
        .into_iter()
        .find_map(|(key, set)| set.then_some(key))
    }
}

fn take<T: Clone>(into: &mut Option<T>, from: &Option<T>) {
    if let Some(value) = from {
        *into = Some(value.clone());
    }
}

fn whole(key: &'static str, value: &str) -> Result<usize, OptionError> {
    value
        .parse::<usize>()
        .map_err(|_| OptionError::new(key, value, "expected a whole number"))
}

fn switch(key: &'static str, value: &str) -> Result<bool, OptionError> {
    match value {
        "on" | "true" | "yes" | "1" | "" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err(OptionError::new(key, value, "expected on or off")),
    }
}

/// Reads an option from its text form in a TOML file.
fn from_text<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = OptionError>,
{
    let text = Option::<String>::deserialize(deserializer)?;
    text.map(|text| text.parse().map_err(serde::de::Error::custom))
        .transpose()
}

/// An in-situ quantization type of mistralrs, by the name weft accepts.
#[allow(non_camel_case_types)] // The GGML names, as people write them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isq {
    /// F8E4M3 with per-tensor scales (`fp8`, `f8e4m3`).
    Fp8,
    /// FP8 weights with Q8 activations.
    F8Q8,
    /// The GGML types.
    Q4_0,
    /// GGML.
    Q4_1,
    /// GGML.
    Q5_0,
    /// GGML.
    Q5_1,
    /// GGML.
    Q8_0,
    /// GGML.
    Q8_1,
    /// GGML k-quants.
    Q2K,
    /// GGML k-quants.
    Q3K,
    /// GGML k-quants.
    Q4K,
    /// GGML k-quants.
    Q5K,
    /// GGML k-quants.
    Q6K,
    /// GGML k-quants.
    Q8K,
    /// Half-quadratic quantization, 4 bits.
    Hqq4,
    /// Half-quadratic quantization, 8 bits.
    Hqq8,
    /// MXFP4.
    Mxfp4,
    /// Affine quantization, 2 bits.
    Afq2,
    /// Affine quantization, 3 bits.
    Afq3,
    /// Affine quantization, 4 bits.
    Afq4,
    /// Affine quantization, 6 bits.
    Afq6,
    /// Affine quantization, 8 bits.
    Afq8,
    /// A number of bits (2, 3, 4, 5, 6 or 8): mistralrs picks the type for the device.
    Bits(u8),
}

/// Every ISQ type by name, for messages and parsing.
const ISQ_TYPES: [(&str, Isq); 22] = [
    ("fp8", Isq::Fp8),
    ("f8q8", Isq::F8Q8),
    ("q4_0", Isq::Q4_0),
    ("q4_1", Isq::Q4_1),
    ("q5_0", Isq::Q5_0),
    ("q5_1", Isq::Q5_1),
    ("q8_0", Isq::Q8_0),
    ("q8_1", Isq::Q8_1),
    ("q2k", Isq::Q2K),
    ("q3k", Isq::Q3K),
    ("q4k", Isq::Q4K),
    ("q5k", Isq::Q5K),
    ("q6k", Isq::Q6K),
    ("q8k", Isq::Q8K),
    ("hqq4", Isq::Hqq4),
    ("hqq8", Isq::Hqq8),
    ("mxfp4", Isq::Mxfp4),
    ("afq2", Isq::Afq2),
    ("afq3", Isq::Afq3),
    ("afq4", Isq::Afq4),
    ("afq6", Isq::Afq6),
    ("afq8", Isq::Afq8),
];

/// The ISQ names weft accepts, for messages.
pub const ISQ_NAMES: &str = "fp8 (f8e4m3), q8_0, q4k, q5k, q6k, q8k, q4_0, q4_1, q5_0, q5_1, q8_1, q2k, q3k, hqq4, hqq8, f8q8, mxfp4, afq2-afq8, or a number of bits (2-8)";

impl Isq {
    /// The name weft and mistralrs know it by (`fp8`, `q8_0`, `4`).
    pub fn name(self) -> String {
        match self {
            Self::Bits(bits) => bits.to_string(),
            other => ISQ_TYPES
                .iter()
                .find(|(_, isq)| *isq == other)
                .map_or_else(String::new, |(name, _)| (*name).to_owned()),
        }
    }

    /// Whether it is FP8 with per-tensor scales (`F8E4M3`), which mistralrs 0.8.1 runs one
    /// sequence at a time on CUDA.
    pub fn is_fp8(self) -> bool {
        matches!(self, Self::Fp8)
    }
}

impl std::fmt::Display for Isq {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.name())
    }
}

impl FromStr for Isq {
    type Err = OptionError;
    fn from_str(text: &str) -> Result<Self, OptionError> {
        let lowered = text.trim().to_lowercase();
        if lowered == "f8e4m3" {
            return Ok(Self::Fp8);
        }
        if let Ok(bits @ (2 | 3 | 4 | 5 | 6 | 8)) = lowered.parse::<u8>() {
            return Ok(Self::Bits(bits));
        }
        ISQ_TYPES
            .iter()
            .find(|(name, _)| *name == lowered)
            .map(|(_, isq)| *isq)
            .ok_or_else(|| {
                OptionError::new(
                    "isq",
                    text,
                    format!("not an ISQ type; the types are {ISQ_NAMES}"),
                )
            })
    }
}

/// Which weights in-situ quantization applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IsqScope {
    /// Every linear layer (mistralrs's choice of them).
    #[default]
    All,
    /// Only the feed-forward projections (gate, up, down) of every layer but the first and
    /// the last, as Meta's FP8 release of Llama-3.1-405B does; attention stays unquantized.
    Ffn,
}

impl FromStr for IsqScope {
    type Err = OptionError;
    fn from_str(text: &str) -> Result<Self, OptionError> {
        match text {
            "all" => Ok(Self::All),
            "ffn" => Ok(Self::Ffn),
            _ => Err(OptionError::new("isq_scope", text, "expected all or ffn")),
        }
    }
}

/// Which devices an in-process model uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Devices {
    /// Whatever mistralrs chooses: every GPU it finds, else the CPU.
    #[default]
    Auto,
    /// The CPU only.
    Cpu,
    /// These GPUs, each with the number of layers it holds (`None`: an even share).
    Gpus(Vec<(usize, Option<usize>)>),
}

impl FromStr for Devices {
    type Err = OptionError;
    /// `auto`, `cpu`, `0,1` or `0:16,1:16` (GPU:layers).
    fn from_str(value: &str) -> Result<Self, OptionError> {
        match value {
            "auto" | "" => return Ok(Self::Auto),
            "cpu" => return Ok(Self::Cpu),
            _ => {}
        }
        let bad = || {
            OptionError::new(
                "devices",
                value,
                "expected auto, cpu, GPU numbers (0,1) or GPUs with layer counts (0:16,1:16)",
            )
        };
        let mut gpus = Vec::new();
        for item in value.split(',') {
            let (ordinal, layers) = match item.split_once(':') {
                Some((ordinal, layers)) => {
                    (ordinal, Some(layers.parse::<usize>().map_err(|_| bad())?))
                }
                None => (item, None),
            };
            gpus.push((ordinal.trim().parse::<usize>().map_err(|_| bad())?, layers));
        }
        let counted = gpus.iter().filter(|(_, layers)| layers.is_some()).count();
        if counted != 0 && counted != gpus.len() {
            return Err(OptionError::new(
                "devices",
                value,
                "give a layer count for every GPU or for none",
            ));
        }
        Ok(Self::Gpus(gpus))
    }
}

/// How much memory the paged KV cache takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PagedMemory {
    /// A fraction of the GPU's memory.
    Fraction(f32),
    /// MiB.
    Megabytes(usize),
}

impl FromStr for PagedMemory {
    type Err = OptionError;
    fn from_str(value: &str) -> Result<Self, OptionError> {
        if let Some(megabytes) = value.strip_suffix("mb") {
            return Ok(Self::Megabytes(whole("paged_memory", megabytes)?));
        }
        match value.parse::<f32>() {
            Ok(fraction) if fraction > 0.0 && fraction <= 1.0 => Ok(Self::Fraction(fraction)),
            _ => Err(OptionError::new(
                "paged_memory",
                value,
                "expected a fraction of GPU memory (0.9) or MiB (8192mb)",
            )),
        }
    }
}

/// The dtype an in-process model's weights are loaded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    /// bf16 on GPUs, f16 on the CPU (weft's choice, so a CUDA build never asks nvidia-smi
    /// about a CPU model).
    Auto,
    /// bfloat16.
    Bf16,
    /// float16.
    F16,
    /// float32.
    F32,
}

impl FromStr for Dtype {
    type Err = OptionError;
    fn from_str(value: &str) -> Result<Self, OptionError> {
        match value {
            "auto" => Ok(Self::Auto),
            "bf16" => Ok(Self::Bf16),
            "f16" => Ok(Self::F16),
            "f32" => Ok(Self::F32),
            _ => Err(OptionError::new(
                "dtype",
                value,
                "not a dtype; use auto, bf16, f16 or f32",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_isq_name_reads_back() {
        for (name, isq) in ISQ_TYPES {
            assert_eq!(name.parse::<Isq>(), Ok(isq));
            assert_eq!(isq.name(), name);
        }
        assert_eq!("F8E4M3".parse::<Isq>(), Ok(Isq::Fp8));
        assert_eq!("4".parse::<Isq>(), Ok(Isq::Bits(4)));
        let error = "q9".parse::<Isq>().unwrap_err().to_string();
        assert!(error.contains("`isq=q9`: not an ISQ type"), "{error}");
    }

    #[test]
    fn a_toml_table_and_a_query_give_the_same_options() {
        let from_toml: LocalOptions = toml_like(&serde_json::json!({
            "isq": "fp8", "devices": "0:16,1:16", "paged": false, "paged_memory": "8192mb",
            "block_size": 32, "dtype": "f16", "max_seqs": 4, "window": 8192, "isq_scope": "ffn"
        }));
        let mut from_query = LocalOptions::default();
        for (key, value) in [
            ("isq", "fp8"),
            ("devices", "0:16,1:16"),
            ("paged", "off"),
            ("paged_memory", "8192mb"),
            ("block_size", "32"),
            ("dtype", "f16"),
            ("max_seqs", "4"),
            ("window", "8192"),
            ("isq_scope", "ffn"),
        ] {
            from_query.set(key, value).unwrap();
        }
        assert_eq!(from_toml, from_query);
        assert_eq!(
            from_toml.devices,
            Some(Devices::Gpus(vec![(0, Some(16)), (1, Some(16))]))
        );
    }

    #[test]
    fn a_later_layer_overrides_only_what_it_sets() {
        let mut spec = LocalOptions::default();
        spec.set("isq", "q8_0").unwrap();
        spec.set("max_seqs", "8").unwrap();
        let mut table = LocalOptions::default();
        table.set("isq", "fp8").unwrap();
        let merged = spec.overridden_by(&table);
        assert_eq!(merged.isq, Some(Isq::Fp8));
        assert_eq!(merged.max_sequences, Some(8));
        assert_eq!(LocalOptions::default().first_set(), None);
        assert_eq!(merged.first_set(), Some("isq"));
    }

    #[test]
    fn bad_values_say_what_was_expected() {
        let mut options = LocalOptions::default();
        for (key, value, expected) in [
            ("devices", "0:4,1", "for every GPU or for none"),
            ("paged", "maybe", "expected on or off"),
            ("dtype", "f8", "use auto, bf16, f16 or f32"),
            ("block_size", "big", "expected a whole number"),
            ("quant", "fp8", "`quant` is not an option of `mistralrs:`"),
        ] {
            let error = options.set(key, value).unwrap_err().to_string();
            assert!(error.contains(expected), "{key}={value}: {error}");
        }
    }

    fn toml_like<T: serde::de::DeserializeOwned>(value: &serde_json::Value) -> T {
        serde_json::from_value(value.clone()).unwrap()
    }
}
