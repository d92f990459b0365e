//! Building one route's layer from a linear's weight: unquantized, through mistralrs's
//! in-situ quantization (FP8, Q8_0), or from a block-scaled FP8 checkpoint made here.

use super::route::{LinearRoute, RouteFailure};
use candle_core::{DType, Device, Tensor};
use mistralrs_quant::{
    BlockwiseFP8Linear, IsqType, QuantMethod, QuantMethodConfig, QuantizeOntoGuard, UnquantLinear,
};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

/// The largest magnitude E4M3 represents.
const E4M3_MAX: f64 = 448.0;

/// The layer of one route, or why it could not be built.
pub(super) fn build_layer(
    route: LinearRoute,
    weight: &Tensor,
    device: &Device,
    dtype: DType,
    block: usize,
) -> Result<Arc<dyn QuantMethod>, RouteFailure> {
    let build = || -> candle_core::Result<Arc<dyn QuantMethod>> {
        let unquantized = || -> candle_core::Result<Arc<dyn QuantMethod>> {
            let weight = weight.to_device(device)?.to_dtype(dtype)?;
            Ok(Arc::new(UnquantLinear::new(
                QuantMethodConfig::Unquantized(candle_nn::Linear::new(weight, None)),
            )?))
        };
        let isq = |kind: IsqType| {
            unquantized()?.apply_isq(
                Some(kind),
                device.clone(),
                &AtomicUsize::new(0),
                None,
                QuantizeOntoGuard::new(),
            )
        };
        match route {
            LinearRoute::Unquantized => unquantized(),
            LinearRoute::Fp8Isq | LinearRoute::Fp8IsqGemm | LinearRoute::Fp8IsqFolded => {
                if route == LinearRoute::Fp8IsqGemm && device.is_cpu() {
                    candle_core::bail!(
                        "timed on CUDA only: on the CPU FP8Linear dequantizes its weight"
                    );
                }
                isq(IsqType::F8E4M3)
            }
            LinearRoute::Q8Zero => isq(IsqType::Q8_0),
            LinearRoute::Fp8Blockwise => {
                let (quantized, scales) = quantize_blockwise(weight, block)?;
                Ok(Arc::new(BlockwiseFP8Linear::new(
                    QuantMethodConfig::BlockwiseFP8 {
                        weight: quantized.to_device(device)?,
                        weight_scale_inv: scales.to_device(device)?,
                        bias: None,
                        dequant_dtype: dtype,
                        weight_block_size: vec![block, block],
                    },
                )?))
            }
        }
    };
    build().map_err(|error| RouteFailure::from(&error))
}

/// E4M3 weights with one f32 scale per `block × block` square, as block-scaled FP8
/// checkpoints store them (`weight × scale` gives the weight back).
fn quantize_blockwise(weight: &Tensor, block: usize) -> candle_core::Result<(Tensor, Tensor)> {
    let (rows, columns) = weight.dims2()?;
    let blocks = weight
        .to_device(&Device::Cpu)?
        .to_dtype(DType::F32)?
        .reshape((rows / block, block, columns / block, block))?;
    let scales = (blocks.abs()?.max_keepdim(3)?.max_keepdim(1)? / E4M3_MAX)?.maximum(1e-12)?;
    let quantized = blocks
        .broadcast_div(&scales)?
        .reshape((rows, columns))?
        .to_dtype(DType::F8E4M3)?;
    Ok((quantized, scales.reshape((rows / block, columns / block))?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::linear_bench::worst_row_error;

    #[test]
    fn blockwise_scales_bring_each_block_back() {
        let weight = Tensor::new(
            &[
                [1f32, -2.0, 100.0, 0.5],
                [0.25, 4.0, -300.0, 1.0],
                [0.0, 0.0, 0.001, 0.002],
                [0.0, 0.0, -0.004, 0.0],
            ],
            &Device::Cpu,
        )
        .unwrap();
        let (quantized, scales) = quantize_blockwise(&weight, 2).unwrap();
        assert_eq!(quantized.dtype(), DType::F8E4M3);
        assert_eq!(scales.dims(), &[2, 2]);
        let scales_values = scales.to_vec2::<f32>().unwrap();
        assert!((scales_values[0][0] - 4.0 / 448.0).abs() < 1e-7);
        assert!((scales_values[0][1] - 300.0 / 448.0).abs() < 1e-6);
        assert!((scales_values[1][1] - 0.004 / 448.0).abs() < 1e-9);
        let back = quantized
            .to_dtype(DType::F32)
            .unwrap()
            .reshape((2, 2, 2, 2))
            .unwrap()
            .broadcast_mul(&scales.reshape((2, 1, 2, 1)).unwrap())
            .unwrap()
            .reshape((4, 4))
            .unwrap();
        let error = worst_row_error(&back, &weight).unwrap();
        assert!(error < 0.07, "{error}");
        let values = back.to_vec2::<f32>().unwrap();
        assert!(
            (values[1][2] + 300.0).abs() < 1e-3,
            "the block's largest value is exact"
        );
    }
}
