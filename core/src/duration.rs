//! Durations as mo-auth writes them: `"second"`, `"30minute"`, `"hour"`, `"day"`,
//! `"month"` (30 days), the short form `"90s"`, or a JSON number of seconds.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A configured duration in whole seconds. Zero is refused: every duration in the
/// configuration is a lifetime or a timeout, and zero of either means "never works".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration(pub u64);

const FORMS: &str =
    "e.g. \"30second\", \"5minute\", \"hour\", \"day\", \"month\", \"90s\" or a number of seconds";

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a duration ({FORMS})")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                nonzero(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "{v} is not a whole, non-negative number of seconds"
                )))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "{v} is not a whole, non-negative number of seconds"
                )))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                parse_duration_text(v).and_then(nonzero).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

fn nonzero(seconds: u64) -> Result<Duration, String> {
    if seconds == 0 {
        return Err("must be longer than zero".into());
    }
    Ok(Duration(seconds))
}

/// A duration given as a JSON value, in seconds (what the configuration reads).
pub fn parse_duration(value: &serde_json::Value) -> Result<u64, String> {
    Duration::deserialize(value)
        .map(|Duration(secs)| secs)
        .map_err(|e| e.to_string().replace("invalid type: ", ""))
}

fn parse_duration_text(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let digits_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(digits_end);
    let bad = || format!("invalid duration {text:?} (use {FORMS})");
    let count: u64 = if digits.is_empty() {
        1
    } else {
        digits.parse().map_err(|_| bad())?
    };
    let unit_seconds: u64 = match unit.trim() {
        "" if !digits.is_empty() => 1,
        "s" | "sec" | "second" | "seconds" => 1,
        "m" | "min" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3_600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 7 * 86_400,
        "month" | "months" => 30 * 86_400,
        _ => return Err(bad()),
    };
    count.checked_mul(unit_seconds).ok_or_else(bad)
}

pub(crate) fn kind_of(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
#[path = "tests/duration.rs"]
mod tests;
