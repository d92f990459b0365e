//! Durations as people write them in workflow files, manifests and configuration: `500ms`,
//! `30s`, `15m`, `2h`, `1d`. Here, in the bottom crate, so that every layer reads them alike.

use std::time::Duration;

/// The forms a duration may take, for messages.
const EXPECTED: &str = "expected a number and a unit such as `500ms`, `30s`, `15m`, `2h` or `1d`";

/// The longest duration accepted, in seconds (about 31 years): past it a typo is likelier
/// than intent, and `Duration` arithmetic stays far from overflowing.
const MAX_SECONDS: f64 = 1.0e9;

/// Text that is not a duration; the message says what forms are accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The part before the unit is not a number.
    #[error("`{text}` is not a duration; {expected}", expected = EXPECTED)]
    NotANumber {
        /// The text as written.
        text: String,
    },
    /// The unit is missing or unknown.
    #[error("`{text}` has no known unit; {expected}", expected = EXPECTED)]
    UnknownUnit {
        /// The text as written.
        text: String,
    },
    /// Zero, negative, or too long to be meant.
    #[error("`{text}` is out of range; use a positive duration")]
    OutOfRange {
        /// The text as written.
        text: String,
    },
}

/// Reads an optional duration written as text (`120s`, `1m`), for
/// `#[serde(default, deserialize_with = "weft_core::duration::optional")]` in configuration.
pub fn optional<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    use serde::Deserialize;
    let text = Option::<String>::deserialize(deserializer)?;
    text.map(|text| parse_duration(&text).map_err(serde::de::Error::custom))
        .transpose()
}

/// Parses a duration: a number (with an optional fraction) and one of the units `ms`, `s`,
/// `m`, `h` and `d`, such as `1.5s`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|character: char| !character.is_ascii_digit() && character != '.')
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let amount: f64 = number.parse().map_err(|_| DurationError::NotANumber {
        text: text.to_owned(),
    })?;
    let seconds_per_unit = match unit.trim() {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => {
            return Err(DurationError::UnknownUnit {
                text: text.to_owned(),
            });
        }
    };
    let seconds = amount * seconds_per_unit;
    if !seconds.is_finite() || seconds <= 0.0 || seconds > MAX_SECONDS {
        return Err(DurationError::OutOfRange {
            text: text.to_owned(),
        });
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
        assert_eq!(parse_duration(" 2h ").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
        assert!(
            parse_duration("15")
                .unwrap_err()
                .to_string()
                .contains("no known unit")
        );
        assert!(
            parse_duration("soon")
                .unwrap_err()
                .to_string()
                .contains("not a duration")
        );
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn messages_name_the_text_and_the_accepted_forms() {
        assert_eq!(
            parse_duration("soon").unwrap_err().to_string(),
            "`soon` is not a duration; expected a number and a unit such as `500ms`, `30s`, `15m`, `2h` or `1d`"
        );
        assert_eq!(
            parse_duration("5 weeks").unwrap_err(),
            DurationError::UnknownUnit {
                text: "5 weeks".into()
            }
        );
        assert_eq!(
            parse_duration("0s").unwrap_err().to_string(),
            "`0s` is out of range; use a positive duration"
        );
        assert!(matches!(
            parse_duration("2000000000s"),
            Err(DurationError::OutOfRange { .. })
        ));
    }
}
