//! Writing the safetensors format: an 8-byte little-endian header length, a JSON header
//! naming each tensor's dtype, shape and byte range, then the bytes.

use std::io::{self, Write};

/// One tensor to write: its name, shape and how to fill it.
pub struct TensorPlan {
    /// The tensor's name (`model.layers.0.mlp.up_proj.weight`).
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// What goes in it.
    pub fill: Fill,
}

/// How a tensor is filled, and in which dtype.
#[derive(Debug, Clone, Copy)]
pub enum Fill {
    /// bf16: uniform random values in `[-scale, scale]`.
    Random {
        /// The bound.
        scale: f32,
    },
    /// bf16: every element this value (norm weights).
    Constant(f32),
    /// FP8 (E4M3): uniform random values spanning the whole FP8 range; the tensor's
    /// `weight_scale_inv` brings them back to their real size.
    RandomFp8,
    /// f32: every element this value (FP8 block scales).
    ConstantF32(f32),
    /// f32: uniform random values in `[-scale, scale]` (weights a test recomputes by hand).
    RandomF32 {
        /// The bound.
        scale: f32,
    },
}

impl Fill {
    fn dtype(self) -> &'static str {
        match self {
            Self::Random { .. } | Self::Constant(_) => "BF16",
            Self::RandomFp8 => "F8_E4M3",
            Self::ConstantF32(_) | Self::RandomF32 { .. } => "F32",
        }
    }

    fn element_bytes(self) -> usize {
        match self {
            Self::Random { .. } | Self::Constant(_) => 2,
            Self::RandomFp8 => 1,
            Self::ConstantF32(_) | Self::RandomF32 { .. } => 4,
        }
    }
}

impl TensorPlan {
    fn elements(&self) -> usize {
        self.shape.iter().product()
    }
}

/// The largest finite FP8 E4M3 value.
pub const FP8_MAX: f32 = 448.0;

/// A float as FP8 E4M3 (the `fn` variant: no infinities), rounded to nearest even and
/// saturated at ±448.
pub fn e4m3_bits(value: f32) -> u8 {
    if value.is_nan() {
        return 0x7f;
    }
    let sign = if value.is_sign_negative() { 0x80 } else { 0 };
    let magnitude = value.abs().min(FP8_MAX);
    // Below 2^-6 the format is subnormal: steps of 2^-9.
    if magnitude < 2f32.powi(-6) {
        let steps = (magnitude * 512.0).round_ties_even() as u8;
        // Eight steps are 2^-6, the smallest normal number, whose code is also 8.
        return sign | steps;
    }
    let bits = magnitude.to_bits();
    let mut exponent = ((bits >> 23) & 0xff) as i32 - 127 + 7;
    let fraction = (bits & 0x7f_ffff) as f32 / (1u32 << 23) as f32;
    let mut mantissa = (fraction * 8.0).round_ties_even() as i32;
    if mantissa == 8 {
        mantissa = 0;
        exponent += 1;
    }
    if exponent > 15 || (exponent == 15 && mantissa > 6) {
        (exponent, mantissa) = (15, 6);
    }
    sign | ((exponent as u8) << 3) | mantissa as u8
}

/// Writes `tensors` to `out`, random values drawn from `seed`. Memory stays bounded:
/// values are made and written a block at a time.
pub fn write_tensors(out: &mut impl Write, tensors: &[TensorPlan], seed: u64) -> io::Result<u64> {
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for tensor in tensors {
        let bytes = tensor.elements() * tensor.fill.element_bytes();
        header.insert(
            tensor.name.clone(),
            serde_json::json!({
                "dtype": tensor.fill.dtype(),
                "shape": tensor.shape,
                "data_offsets": [offset, offset + bytes],
            }),
        );
        offset += bytes;
    }
    header.insert(
        "__metadata__".into(),
        serde_json::json!({"format": "pt", "generator": "weft-fixtures"}),
    );
    let mut header = serde_json::Value::Object(header).to_string().into_bytes();
    // The data starts on an 8-byte boundary.
    while !header.len().is_multiple_of(8) {
        header.push(b' ');
    }
    out.write_all(&(header.len() as u64).to_le_bytes())?;
    out.write_all(&header)?;
    let mut random = SplitMix64(seed);
    let mut block = Vec::with_capacity(1 << 20);
    for tensor in tensors {
        let mut left = tensor.elements();
        while left > 0 {
            let count = left.min(1 << 19);
            block.clear();
            for _ in 0..count {
                match tensor.fill {
                    Fill::Random { scale } => {
                        let value = (random.unit() * 2.0 - 1.0) * scale;
                        block.extend_from_slice(&bf16_bits(value).to_le_bytes());
                    }
                    Fill::Constant(value) => {
                        block.extend_from_slice(&bf16_bits(value).to_le_bytes());
                    }
                    Fill::RandomFp8 => {
                        block.push(e4m3_bits((random.unit() * 2.0 - 1.0) * FP8_MAX));
                    }
                    Fill::ConstantF32(value) => block.extend_from_slice(&value.to_le_bytes()),
                    Fill::RandomF32 { scale } => {
                        let value = (random.unit() * 2.0 - 1.0) * scale;
                        block.extend_from_slice(&value.to_le_bytes());
                    }
                }
            }
            out.write_all(&block)?;
            left -= count;
        }
    }
    Ok((8 + header.len() + offset) as u64)
}

/// A float's bf16 bits, rounded to nearest even.
pub fn bf16_bits(value: f32) -> u16 {
    let bits = value.to_bits();
    let rounding = 0x7fff + ((bits >> 16) & 1);
    (bits.wrapping_add(rounding) >> 16) as u16
}

/// A small, fast, seedable generator (SplitMix64): weights are random, not secret.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut value = self.0;
        value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        value ^ (value >> 31)
    }

    /// A value in `[0, 1)`.
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_rounds_like_torch() {
        assert_eq!(bf16_bits(1.0), 0x3f80);
        assert_eq!(bf16_bits(-2.0), 0xc000);
        assert_eq!(bf16_bits(0.1), 0x3dcd);
    }

    #[test]
    fn fp8_e4m3_encodes_like_the_standard() {
        assert_eq!(e4m3_bits(0.0), 0x00);
        assert_eq!(e4m3_bits(1.0), 0x38);
        assert_eq!(e4m3_bits(-2.0), 0xc0);
        assert_eq!(e4m3_bits(448.0), 0x7e);
        assert_eq!(e4m3_bits(1.0e6), 0x7e, "saturates");
        assert_eq!(e4m3_bits(0.007_812_5), 0x04, "a subnormal: 4 x 2^-9");
        assert_eq!(e4m3_bits(1.0625), 0x38, "a tie rounds to even");
        assert_eq!(e4m3_bits(1.1875), 0x3a, "a tie rounds to even");
        assert_eq!(e4m3_bits(2f32.powi(-6)), 0x08);
    }

    #[test]
    fn the_header_describes_the_bytes() {
        let tensors = [
            TensorPlan {
                name: "a".into(),
                shape: vec![2, 3],
                fill: Fill::Random { scale: 0.1 },
            },
            TensorPlan {
                name: "b".into(),
                shape: vec![4],
                fill: Fill::Constant(1.0),
            },
        ];
        let mut bytes = Vec::new();
        let written = write_tensors(&mut bytes, &tensors, 7).unwrap();
        assert_eq!(written as usize, bytes.len());
        let header_length = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header: serde_json::Value =
            serde_json::from_slice(&bytes[8..8 + header_length]).unwrap();
        assert_eq!(header["a"]["data_offsets"], serde_json::json!([0, 12]));
        assert_eq!(header["b"]["data_offsets"], serde_json::json!([12, 20]));
        let data = &bytes[8 + header_length..];
        assert_eq!(data.len(), 20);
        assert_eq!(&data[12..14], &0x3f80u16.to_le_bytes());
    }
}
