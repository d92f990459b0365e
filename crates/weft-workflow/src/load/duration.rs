//! Durations as people write them in workflow files: `500ms`, `30s`, `15m`, `2h`, `1d`.

use std::time::Duration;

/// Parses a duration; the error says what forms are accepted.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|character: char| !character.is_ascii_digit() && character != '.')
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let expected = "expected a number and a unit such as `500ms`, `30s`, `15m`, `2h` or `1d`";
    let amount: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; {expected}"))?;
    let seconds_per_unit = match unit.trim() {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return Err(format!("`{text}` has no known unit; {expected}")),
    };
    let seconds = amount * seconds_per_unit;
    if !seconds.is_finite() || seconds <= 0.0 || seconds > 1.0e9 {
        return Err(format!("`{text}` is out of range; use a positive duration"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("15").unwrap_err().contains("no known unit"));
        assert!(
            parse_duration("soon")
                .unwrap_err()
                .contains("not a duration")
        );
        assert!(parse_duration("0s").is_err());
    }
}
