//! Turning a `mistralrs:` spec into a loaded mistralrs model.

use crate::directory::{ModelFiles, inspect};
use crate::error::LocalError;
use mistralrs::core::{DeviceLayerMapMetadata, DeviceMapMetadata, DeviceMapSetting, TokenSource};
use mistralrs::{
    IsqType, MemoryGpuConfig, ModelDType, PagedAttentionMetaBuilder, TextModelBuilder,
};
use std::path::PathBuf;
use weft_llm::options::{Devices, Dtype, Isq, IsqScope, LocalOptions, PagedMemory};
use weft_llm::spec::{LocalSource, LocalSpec};

/// The settings a model was loaded with, as weft resolved them.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadPlan {
    /// The directory or hub id.
    pub model: String,
    /// The directory's files, when it is local.
    pub files: Option<ModelFiles>,
    /// The ISQ type (mistralrs's), if any.
    pub isq: Option<IsqType>,
    /// The CPU only.
    pub cpu: bool,
    /// Paged attention on.
    pub paged_attention: bool,
    /// The most sequences decoded together.
    pub max_sequences: usize,
    /// The window weft enforces.
    pub window: u32,
    /// The dtype.
    pub dtype: ModelDType,
    /// Why weft changed what was asked for (FP8 kept to one sequence, ...), for the logs
    /// and `weft bench model`.
    pub notes: Vec<String>,
}

/// mistralrs's ISQ type for weft's name of it.
pub fn isq_type(isq: Isq) -> Result<IsqType, LocalError> {
    Ok(match isq {
        Isq::Fp8 => IsqType::F8E4M3,
        Isq::F8Q8 => IsqType::F8Q8,
        Isq::Q4_0 => IsqType::Q4_0,
        Isq::Q4_1 => IsqType::Q4_1,
        Isq::Q5_0 => IsqType::Q5_0,
        Isq::Q5_1 => IsqType::Q5_1,
        Isq::Q8_0 => IsqType::Q8_0,
        Isq::Q8_1 => IsqType::Q8_1,
        Isq::Q2K => IsqType::Q2K,
        Isq::Q3K => IsqType::Q3K,
        Isq::Q4K => IsqType::Q4K,
        Isq::Q5K => IsqType::Q5K,
        Isq::Q6K => IsqType::Q6K,
        Isq::Q8K => IsqType::Q8K,
        Isq::Hqq4 => IsqType::HQQ4,
        Isq::Hqq8 => IsqType::HQQ8,
        Isq::Mxfp4 => IsqType::MXFP4,
        Isq::Afq2 => IsqType::AFQ2,
        Isq::Afq3 => IsqType::AFQ3,
        Isq::Afq4 => IsqType::AFQ4,
        Isq::Afq6 => IsqType::AFQ6,
        Isq::Afq8 => IsqType::AFQ8,
        // The device decides which type a number of bits means.
        Isq::Bits(bits) => mistralrs::core::parse_isq_value(&bits.to_string(), None)
            .map_err(|error| LocalError::Option(format!("`isq={bits}`: {error}")))?,
    })
}

/// Resolves a spec against the machine and the model's files.
pub fn plan(spec: &LocalSpec) -> Result<LoadPlan, LocalError> {
    let options = &spec.options;
    let (model, files) = match &spec.source {
        LocalSource::Directory(directory) => {
            (directory.display().to_string(), Some(inspect(directory)?))
        }
        LocalSource::Hub(id) => (id.clone(), None),
    };
    let isq = options.isq.map(isq_type).transpose()?;
    let cuda = cfg!(feature = "cuda");
    let devices = options.devices.clone().unwrap_or_default();
    let cpu = matches!(devices, Devices::Cpu) || !cuda;
    if !cuda && matches!(devices, Devices::Gpus(_)) {
        return Err(LocalError::Option(
            "`devices=` names GPUs, but this weft was built without CUDA (build it with `--features cuda`)".into(),
        ));
    }
    let dtype = dtype(options.dtype, cpu)?;
    let paged_attention = match options.paged_attention {
        Some(true) if cpu => {
            return Err(LocalError::Option(
                "paged attention needs a CUDA GPU; this model runs on the CPU".into(),
            ));
        }
        Some(choice) => choice,
        None => !cpu,
    };
    let mut notes = Vec::new();
    check_scope(
        options.isq_scope.unwrap_or_default(),
        isq,
        files.as_ref(),
        &mut notes,
    )?;
    let max_sequences = max_sequences(options.max_sequences, isq, cpu, &mut notes)?;
    let model_window = files.as_ref().map_or(131_072, |files| files.window);
    let window = options
        .context_window
        .map_or(model_window, |asked| asked.min(model_window));
    Ok(LoadPlan {
        model,
        files,
        isq,
        cpu,
        paged_attention,
        max_sequences,
        window,
        dtype,
        notes,
    })
}

/// The dtype to load in. mistralrs's automatic choice runs nvidia-smi in a CUDA build (and
/// panics without it), so weft chooses: f16 on the CPU (what mistralrs picks there), bf16
/// on GPUs (what Llama-3.1 ships in).
fn dtype(asked: Option<Dtype>, cpu: bool) -> Result<ModelDType, LocalError> {
    Ok(match asked.unwrap_or(Dtype::Auto) {
        Dtype::Auto if cpu => ModelDType::F16,
        Dtype::Auto => ModelDType::BF16,
        Dtype::Bf16 if cpu => {
            return Err(LocalError::Option(
                "`dtype=bf16` on the CPU loads but every request fails (candle has no CPU bf16 matmul); use auto, f16 or f32".into(),
            ));
        }
        Dtype::Bf16 => ModelDType::BF16,
        Dtype::F16 => ModelDType::F16,
        Dtype::F32 => ModelDType::F32,
    })
}

/// Checks `isq_scope` against the ISQ type and the model.
fn check_scope(
    scope: IsqScope,
    isq: Option<IsqType>,
    files: Option<&ModelFiles>,
    notes: &mut Vec<String>,
) -> Result<(), LocalError> {
    if scope == IsqScope::All {
        return Ok(());
    }
    if isq.is_none() {
        return Err(LocalError::Option(
            "`isq_scope=ffn` says which weights to quantize; name the type too (`isq=fp8`)".into(),
        ));
    }
    if let Some(files) = files.filter(|files| files.layers < 3) {
        notes.push(format!(
            "isq_scope=ffn keeps the first and last layers unquantized; this model has {} layers, so nothing is quantized",
            files.layers
        ));
    }
    Ok(())
}

/// The most sequences decoded together: FP8 ISQ is kept to one, F8Q8 refused on CUDA.
fn max_sequences(
    asked: Option<usize>,
    isq: Option<IsqType>,
    cpu: bool,
    notes: &mut Vec<String>,
) -> Result<usize, LocalError> {
    let mut max_sequences = asked.unwrap_or(32);
    if isq == Some(IsqType::F8E4M3) && max_sequences > 1 {
        max_sequences = 1;
        notes.push(
            "FP8 ISQ runs one sequence at a time: mistralrs 0.8.1 fails with more than one in a batch (\"`b` must have the same batch size as `a`\"); other requests wait their turn".into(),
        );
    }
    if isq == Some(IsqType::F8Q8) && !cpu {
        return Err(LocalError::Option(
            "`isq=f8q8` fails on CUDA in mistralrs 0.8.1 (\"device mismatch in matmul\"); use fp8 or q8_0".into(),
        ));
    }
    Ok(max_sequences)
}

/// The mistralrs builder for a plan.
pub fn builder(spec: &LocalSpec, plan: &LoadPlan) -> Result<TextModelBuilder, LocalError> {
    let options = &spec.options;
    let mut builder = TextModelBuilder::new(&plan.model)
        .with_dtype(plan.dtype)
        .with_max_num_seqs(plan.max_sequences)
        .with_prefix_cache_n(None);
    builder = match &spec.source {
        LocalSource::Directory(_) => builder.with_token_source(TokenSource::None),
        LocalSource::Hub(_) => builder.with_token_source(TokenSource::EnvVar("HF_TOKEN".into())),
    };
    match (plan.isq, options.isq_scope.unwrap_or_default()) {
        (Some(isq), IsqScope::All) => builder = builder.with_isq(isq),
        (Some(isq), IsqScope::Ffn) => {
            let layers = plan
                .files
                .as_ref()
                .map(|files| files.layers)
                .ok_or_else(|| {
                    LocalError::Option("`isq_scope=ffn` needs a local model directory".into())
                })?;
            let topology = mistralrs::core::Topology::from_str(&ffn_topology(layers, isq))
                .map_err(|error| LocalError::Option(format!("isq_scope=ffn: {error}")))?;
            builder = builder.with_topology(topology);
        }
        (None, _) => {}
    }
    if plan.cpu {
        builder = builder.with_force_cpu();
    }
    if let Some(Devices::Gpus(gpus)) = &options.devices {
        builder = builder.with_device_mapping(device_mapping(gpus, plan)?);
    }
    if plan.paged_attention {
        builder = builder.with_paged_attn(paged_attention(options, plan)?);
    }
    Ok(builder)
}

/// The layers each GPU holds: as given, or an even share.
fn device_mapping(
    gpus: &[(usize, Option<usize>)],
    plan: &LoadPlan,
) -> Result<DeviceMapSetting, LocalError> {
    let layers = plan
        .files
        .as_ref()
        .map(|files| files.layers)
        .ok_or_else(|| {
            LocalError::Option(
                "`devices=` with GPU numbers needs a local model directory (to count its layers)"
                    .into(),
            )
        })?;
    let counts: Vec<usize> = if gpus.iter().all(|(_, count)| count.is_some()) {
        gpus.iter().map(|(_, count)| count.unwrap_or(0)).collect()
    } else {
        let share = layers / gpus.len().max(1);
        let extra = layers % gpus.len().max(1);
        (0..gpus.len())
            .map(|index| share + usize::from(index < extra))
            .collect()
    };
    if counts.iter().sum::<usize>() != layers {
        return Err(LocalError::Option(format!(
            "`devices=` places {} layers but the model has {layers}",
            counts.iter().sum::<usize>()
        )));
    }
    let mapping = gpus
        .iter()
        .zip(counts)
        .map(|((ordinal, _), layers)| DeviceLayerMapMetadata {
            ordinal: *ordinal,
            layers,
        })
        .collect();
    Ok(DeviceMapSetting::Map(
        DeviceMapMetadata::from_num_device_layers(mapping),
    ))
}

/// Paged attention's settings: its KV cache's memory and block size.
fn paged_attention(
    options: &LocalOptions,
    plan: &LoadPlan,
) -> Result<mistralrs::PagedAttentionConfig, LocalError> {
    let memory = match options.paged_memory {
        Some(PagedMemory::Fraction(fraction)) => MemoryGpuConfig::Utilization(fraction),
        Some(PagedMemory::Megabytes(megabytes)) => MemoryGpuConfig::MbAmount(megabytes),
        None => MemoryGpuConfig::ContextSize(plan.window as usize),
    };
    let mut paged = PagedAttentionMetaBuilder::default().with_gpu_memory(memory);
    if let Some(block_size) = options.block_size {
        paged = paged.with_block_size(block_size);
    }
    paged
        .build()
        .map_err(|error| LocalError::Option(format!("paged attention: {error}")))
}

/// A mistralrs topology that quantizes only the feed-forward projections of layers 1 to
/// `layers - 2`: the first and the last layer, and all attention, keep their dtype.
pub fn ffn_topology(layers: usize, isq: IsqType) -> String {
    let inner: Vec<String> = (1..layers.saturating_sub(1))
        .map(|layer| layer.to_string())
        .collect();
    if inner.is_empty() {
        return "{}\n".to_owned();
    }
    let name = crate::load::isq_name(isq);
    format!(
        "'/layers\\.({})\\.mlp\\.(gate|up|down)_proj/':\n  isq: {name}\n",
        inner.join("|")
    )
}

/// The name mistralrs's parser takes for an ISQ type.
pub fn isq_name(isq: IsqType) -> String {
    match isq {
        IsqType::F8E4M3 => "fp8".to_owned(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// The directory of a plan's model, when it is local.
pub fn directory(plan: &LoadPlan) -> Option<PathBuf> {
    plan.files.as_ref().map(|files| files.directory.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ffn_scope_quantizes_inner_feed_forward_projections_only() {
        let topology = mistralrs::core::Topology::from_str(&ffn_topology(32, IsqType::F8E4M3))
            .expect("mistralrs reads the topology");
        let quantized = |name: &str| {
            topology
                .match_for_name(name)
                .and_then(|layer| layer.isq)
                .is_some_and(|isq| isq == IsqType::F8E4M3)
        };
        assert!(quantized("model.layers.1.mlp.gate_proj"));
        assert!(quantized("model.layers.17.mlp.up_proj"));
        assert!(quantized("model.layers.30.mlp.down_proj"));
        assert!(!quantized("model.layers.0.mlp.up_proj"));
        assert!(!quantized("model.layers.31.mlp.up_proj"));
        assert!(!quantized("model.layers.5.self_attn.q_proj"));
        assert!(!quantized("lm_head"));
    }
}
