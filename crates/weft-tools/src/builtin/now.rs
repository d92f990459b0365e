//! `now`: the current time.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};
use weft_core::ToolContext;
use weft_tool::{Tool, ToolFailure};

/// `now` takes no arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct NowArgs {}

/// What `now` returns.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Now {
    /// The time in UTC, RFC 3339 (`2026-11-27T03:18:08.123Z`).
    pub utc: String,
    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub unix_millis: u64,
}

/// The current time in UTC. It has no effect, so calling it again is harmless.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock;

impl Tool for Clock {
    type Args = NowArgs;
    type Output = Now;
    fn name(&self) -> &str {
        "now"
    }
    fn description(&self) -> &str {
        "Returns the current date and time in UTC (RFC 3339) and as milliseconds since the Unix epoch."
    }
    fn idempotent(&self) -> bool {
        true
    }
    async fn call(&self, _args: NowArgs, _context: ToolContext) -> Result<Now, ToolFailure> {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| ToolFailure::fatal("the system clock is before 1970"))?
            .as_millis();
        let millis = u64::try_from(millis).unwrap_or(u64::MAX);
        Ok(Now {
            utc: rfc3339(millis),
            unix_millis: millis,
        })
    }
}

/// Milliseconds since the epoch as an RFC 3339 UTC timestamp.
pub fn rfc3339(millis: u64) -> String {
    let seconds = millis / 1_000;
    let (days, of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3_600,
        of_day % 3_600 / 60,
        of_day % 60,
        millis % 1_000
    )
}

/// The Gregorian date `days` after 1970-01-01 (the algorithm of Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468;
    let era = shifted / 146_097;
    let of_era = shifted - era * 146_097;
    let year_of_era = (of_era - of_era / 1_460 + of_era / 36_524 - of_era / 146_096) / 365;
    let day_of_year = of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn timestamps_are_rfc3339_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_745_888_123), "2026-11-27T02:18:08.123Z");
        assert_eq!(rfc3339(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }
}
