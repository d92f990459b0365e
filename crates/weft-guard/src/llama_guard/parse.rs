//! Llama Guard's reply: `safe`, or `unsafe` with a line of violated categories, read
//! without panicking whatever the model said; and the probability of `unsafe` from the
//! log-probabilities of the token that decided it.

use weft_core::TokenLogprob;

/// What the reply said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// `unsafe` (anything else that is not `safe` counts as unsafe: a guard that cannot be
    /// read lets nothing through).
    pub unsafe_content: bool,
    /// The category codes named, upper-cased, in order, without repeats.
    pub categories: Vec<String>,
    /// Whether the first line was `safe` or `unsafe` as the model card prescribes.
    pub well_formed: bool,
}

/// Reads a reply.
pub fn assessment(reply: &str) -> Assessment {
    let mut lines = reply.lines().map(str::trim).filter(|line| !line.is_empty());
    let first = lines.next().unwrap_or_default().to_ascii_lowercase();
    let (unsafe_content, well_formed) = match first.as_str() {
        "safe" => (false, true),
        "unsafe" => (true, true),
        _ => (true, false),
    };
    let mut categories: Vec<String> = Vec::new();
    if unsafe_content {
        for code in lines
            .flat_map(|line| line.split([',', ' ', ';']))
            .map(str::trim)
            .filter(|code| is_code(code))
        {
            let code = code.to_ascii_uppercase();
            if !categories.contains(&code) {
                categories.push(code);
            }
        }
    }
    Assessment {
        unsafe_content,
        categories,
        well_formed,
    }
}

/// `S` followed by digits.
fn is_code(text: &str) -> bool {
    let mut characters = text.chars();
    matches!(characters.next(), Some('S' | 's'))
        && text.len() > 1
        && text.len() <= 4
        && characters.all(|character| character.is_ascii_digit())
}

/// The probability of `unsafe` at the first token that is not white space: from its
/// alternatives when `safe` or `unsafe` is among them (normalized over the two), else
/// `None` (no log-probabilities, or none at the deciding token).
pub fn unsafe_probability(tokens: &[TokenLogprob]) -> Option<f64> {
    let deciding = tokens.iter().find(|token| !token.token.trim().is_empty())?;
    let mut safe = None;
    let mut unsafe_score = None;
    let candidates = deciding
        .top
        .iter()
        .map(|top| (top.token.as_str(), top.logprob))
        .chain(std::iter::once((deciding.token.as_str(), deciding.logprob)));
    for (token, logprob) in candidates {
        let probability = logprob.exp();
        if !probability.is_finite() {
            continue;
        }
        match token.trim().to_ascii_lowercase().as_str() {
            "safe" => safe = Some(safe.map_or(probability, |seen: f64| seen.max(probability))),
            "unsafe" => {
                unsafe_score =
                    Some(unsafe_score.map_or(probability, |seen: f64| seen.max(probability)))
            }
            _ => {}
        }
    }
    match (safe, unsafe_score) {
        (Some(safe), Some(unsafe_score)) if safe + unsafe_score > 0.0 => {
            Some(unsafe_score / (safe + unsafe_score))
        }
        (None, Some(unsafe_score)) => Some(unsafe_score.clamp(0.0, 1.0)),
        (Some(safe), None) => Some((1.0 - safe).clamp(0.0, 1.0)),
        _ => None,
    }
}
