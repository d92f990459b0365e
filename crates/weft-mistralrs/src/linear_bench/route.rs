//! The routes `weft dev bench-linear` measures: a weight format and how the layer is
//! called, with what its weights take; and candle's errors as messages.

/// A weight format and the way the layer is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinearRoute {
    /// Unquantized weights in the activation type (bf16 on CUDA, f16 on the CPU).
    Unquantized,
    /// `isq=fp8`: mistralrs's `FP8Linear`, one scale per tensor; the activation is
    /// quantized on every call.
    Fp8Isq,
    /// The same layer handed activations already in FP8, the batch folded into one
    /// sequence: its GEMM alone. CUDA only (on the CPU `FP8Linear` dequantizes its weight
    /// instead).
    Fp8IsqGemm,
    /// `FP8Linear` with the rows of a batch folded into one sequence (`[1, batch, hidden]`).
    Fp8IsqFolded,
    /// A block-scaled FP8 checkpoint (`weight_scale_inv` per square block):
    /// `BlockwiseFP8Linear`.
    Fp8Blockwise,
    /// `isq=q8_0` (GGUF Q8_0), an 8-bit format that is not FP8, for comparison.
    Q8Zero,
}

impl LinearRoute {
    /// Every route, in the order of the report.
    pub const ALL: [LinearRoute; 6] = [
        LinearRoute::Unquantized,
        LinearRoute::Fp8Isq,
        LinearRoute::Fp8IsqGemm,
        LinearRoute::Fp8IsqFolded,
        LinearRoute::Fp8Blockwise,
        LinearRoute::Q8Zero,
    ];

    /// The route's name on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            LinearRoute::Unquantized => "unquantized",
            LinearRoute::Fp8Isq => "fp8-isq",
            LinearRoute::Fp8IsqGemm => "fp8-isq-gemm",
            LinearRoute::Fp8IsqFolded => "fp8-isq-folded",
            LinearRoute::Fp8Blockwise => "fp8-blockwise",
            LinearRoute::Q8Zero => "q8_0",
        }
    }

    /// The route with this name.
    pub fn parse(name: &str) -> Option<LinearRoute> {
        LinearRoute::ALL
            .into_iter()
            .find(|route| route.name() == name)
    }

    /// Bytes the weights of an `out × in` linear take in this format.
    pub(super) fn weight_bytes(self, out_features: usize, in_features: usize, block: usize) -> u64 {
        let elements = (out_features * in_features) as u64;
        match self {
            LinearRoute::Unquantized => elements * 2,
            LinearRoute::Fp8Isq | LinearRoute::Fp8IsqGemm | LinearRoute::Fp8IsqFolded => elements,
            LinearRoute::Fp8Blockwise => {
                let blocks = out_features.div_ceil(block) * in_features.div_ceil(block);
                elements + 4 * blocks as u64
            }
            // 32 one-byte values and one f16 scale per block of 32.
            LinearRoute::Q8Zero => elements / 32 * 34,
        }
    }
}

/// Why a route could not be measured, in mistralrs's or candle's words (one line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RouteFailure {
    /// What went wrong.
    pub message: String,
}

impl From<&candle_core::Error> for RouteFailure {
    fn from(error: &candle_core::Error) -> Self {
        Self {
            message: message(error),
        }
    }
}

/// candle's message without the backtrace it carries when `RUST_BACKTRACE` is set.
pub(super) fn message(error: &candle_core::Error) -> String {
    match error {
        candle_core::Error::WithBacktrace { inner, .. } => message(inner),
        other => other.to_string(),
    }
}
