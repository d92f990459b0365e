//! What `bench_linears` measured, and its table.

use super::route::{LinearRoute, RouteFailure};
use candle_core::DType;
use std::fmt;
use std::time::Duration;

/// The shape of the activations of one measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// Decoding `batch` sequences, one token each.
    Decode(usize),
    /// Prefilling one sequence of this many tokens.
    Prefill(usize),
}

impl Rows {
    pub(super) fn dims(self) -> (usize, usize) {
        match self {
            Rows::Decode(batch) => (batch, 1),
            Rows::Prefill(tokens) => (1, tokens),
        }
    }

    /// Tokens one call handles.
    pub fn tokens(self) -> usize {
        let (batch, length) = self.dims();
        batch * length
    }
}

impl fmt::Display for Rows {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rows::Decode(batch) => write!(formatter, "decode, batch {batch}"),
            Rows::Prefill(tokens) => write!(formatter, "prefill {tokens}"),
        }
    }
}

/// One route on one shape of activations, over all seven linears.
#[derive(Debug, Clone)]
pub struct RouteResult {
    /// The route.
    pub route: LinearRoute,
    /// The activations.
    pub rows: Rows,
    /// Median time of each linear, by name; or why the route failed.
    pub outcome: Result<Vec<(&'static str, Duration)>, RouteFailure>,
    /// The largest relative error of one output row against the f32 product, over all
    /// linears (none where it means nothing: `fp8-isq-gemm` scales its FP8 input wrongly).
    pub worst_row_error: Option<f64>,
    /// Bytes of weights one call of all seven linears reads.
    pub weight_bytes: u64,
}

impl RouteResult {
    /// The seven linears together.
    pub fn layer_time(&self) -> Option<Duration> {
        self.outcome
            .as_ref()
            .ok()
            .map(|times| times.iter().map(|(_, time)| *time).sum())
    }
}

/// Everything measured.
#[derive(Debug, Clone)]
pub struct LinearReport {
    /// Where it ran.
    pub device: String,
    /// The activation type.
    pub dtype: DType,
    /// Decoder layers the projection assumes.
    pub layers: usize,
    /// One result per route and shape.
    pub results: Vec<RouteResult>,
}

impl fmt::Display for LinearReport {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            formatter,
            "the seven linears of one decoder layer on {} ({:?} activations); \"{} layers\" multiplies by {}",
            self.device, self.dtype, self.layers, self.layers
        )?;
        writeln!(formatter)?;
        writeln!(
            formatter,
            "| route | activations | one layer (µs) | {} layers (ms) | tokens/s if only the linears ran | weights read (GB/s) | worst row error |",
            self.layers
        )?;
        writeln!(formatter, "|---|---|---|---|---|---|---|")?;
        for result in &self.results {
            let error = result
                .worst_row_error
                .map_or("—".to_owned(), |error| format!("{:.2}%", error * 100.0));
            match (&result.outcome, result.layer_time()) {
                (Ok(_), Some(layer)) if !layer.is_zero() => {
                    let model = layer.as_secs_f64() * self.layers as f64;
                    writeln!(
                        formatter,
                        "| {} | {} | {:.1} | {:.2} | {} | {} | {} |",
                        result.route.name(),
                        result.rows,
                        layer.as_secs_f64() * 1e6,
                        model * 1e3,
                        Figure(result.rows.tokens() as f64 / model),
                        Figure(result.weight_bytes as f64 / layer.as_secs_f64() / 1e9),
                        error
                    )?;
                }
                (Err(message), _) => writeln!(
                    formatter,
                    "| {} | {} | failed: {} | | | | |",
                    result.route.name(),
                    result.rows,
                    message.message.replace('|', "/").replace('\n', " ")
                )?,
                _ => writeln!(
                    formatter,
                    "| {} | {} | too fast to time | | | | |",
                    result.route.name(),
                    result.rows
                )?,
            }
        }
        for (rows, whole, gemm) in self.fp8_isq_parts() {
            let quantizing = whole.saturating_sub(gemm);
            writeln!(
                formatter,
                "fp8-isq, {rows} (rows folded): {:.1} of {:.1} µs per layer ({:.0}%) go to quantizing the activations outside the GEMM",
                quantizing.as_secs_f64() * 1e6,
                whole.as_secs_f64() * 1e6,
                quantizing.as_secs_f64() / whole.as_secs_f64().max(f64::MIN_POSITIVE) * 100.0
            )?;
        }
        Ok(())
    }
}

impl LinearReport {
    /// For each shape where both were measured: FP8 ISQ's whole time with the rows folded
    /// into one sequence, and its GEMM's alone on the same rows.
    pub fn fp8_isq_parts(&self) -> Vec<(Rows, Duration, Duration)> {
        let time = |route: LinearRoute, rows: Rows| {
            self.results
                .iter()
                .find(|result| result.route == route && result.rows == rows)
                .and_then(RouteResult::layer_time)
        };
        self.results
            .iter()
            .filter(|result| result.route == LinearRoute::Fp8IsqFolded)
            .filter_map(|result| {
                Some((
                    result.rows,
                    time(LinearRoute::Fp8IsqFolded, result.rows)?,
                    time(LinearRoute::Fp8IsqGemm, result.rows)?,
                ))
            })
            .collect()
    }
}

/// A rate, with more digits when small.
struct Figure(f64);

impl fmt::Display for Figure {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 10.0 {
            write!(formatter, "{:.2}", self.0)
        } else {
            write!(formatter, "{:.0}", self.0)
        }
    }
}
