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

/// How a tensor is filled.
#[derive(Debug, Clone, Copy)]
pub enum Fill {
    /// Uniform random values in `[-scale, scale]`.
    Random {
        /// The bound.
        scale: f32,
    },
    /// Every element this value (norm weights).
    Constant(f32),
}

impl TensorPlan {
    fn elements(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Writes `tensors` as bf16 to `out`, random values drawn from `seed`. Memory stays
/// bounded: values are made and written a block at a time.
pub fn write_bf16(out: &mut impl Write, tensors: &[TensorPlan], seed: u64) -> io::Result<u64> {
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for tensor in tensors {
        let bytes = tensor.elements() * 2;
        header.insert(
            tensor.name.clone(),
            serde_json::json!({
                "dtype": "BF16",
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
                let value = match tensor.fill {
                    Fill::Random { scale } => (random.unit() * 2.0 - 1.0) * scale,
                    Fill::Constant(value) => value,
                };
                block.extend_from_slice(&bf16_bits(value).to_le_bytes());
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
        let written = write_bf16(&mut bytes, &tensors, 7).unwrap();
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
