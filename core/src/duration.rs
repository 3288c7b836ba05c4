//! Durations as mo-auth writes them: `"second"`, `"30minute"`, `"hour"`, `"day"`,
//! `"month"` (30 days), the short form `"90s"`, or a JSON number of seconds.

use serde_json::Value;

/// Parses a configured duration into whole seconds. Zero is refused: every duration in
/// the configuration is a lifetime or a timeout, and zero of either means "never works".
pub fn parse_duration(value: &Value) -> Result<u64, String> {
    let seconds = match value {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| format!("{n} is not a whole, non-negative number of seconds"))?,
        Value::String(s) => parse_duration_text(s)?,
        other => return Err(format!("expected a duration, found {}", kind_of(other))),
    };
    if seconds == 0 {
        return Err("must be longer than zero".into());
    }
    Ok(seconds)
}

fn parse_duration_text(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let digits_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(digits_end);
    let bad = || {
        format!(
            "invalid duration {text:?} (use e.g. \"30second\", \"5minute\", \"hour\", \"90s\" or a number of seconds)"
        )
    };
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

pub(crate) fn kind_of(value: &Value) -> &'static str {
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
