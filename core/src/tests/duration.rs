use super::*;
use serde_json::json;

#[test]
fn mo_auth_words_and_counts() {
    for (text, secs) in [
        ("second", 1),
        ("5second", 5),
        ("30minute", 1_800),
        ("hour", 3_600),
        ("2hours", 7_200),
        ("day", 86_400),
        ("week", 604_800),
        ("month", 2_592_000),
        ("90s", 90),
        ("15m", 900),
        ("120", 120),
    ] {
        assert_eq!(parse_duration(&json!(text)), Ok(secs), "{text}");
    }
}

#[test]
fn numbers_are_seconds() {
    assert_eq!(parse_duration(&json!(42)), Ok(42));
}

#[test]
fn refuses_nonsense() {
    for bad in [
        json!("5 parsecs"),
        json!("fortnight"),
        json!(""),
        json!("-5s"),
        json!("99999999999999999999s"),
        json!(0),
        json!("0s"),
        json!(1.5),
        json!(-3),
        json!(true),
        json!(null),
        json!(["hour"]),
    ] {
        assert!(parse_duration(&bad).is_err(), "{bad} should be refused");
    }
}

#[test]
fn overflow_is_an_error_not_a_wrap() {
    assert!(parse_duration(&json!("18446744073709551615month")).is_err());
}
