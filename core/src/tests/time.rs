use super::*;

#[test]
fn epoch() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
}

#[test]
fn known_instants() {
    // date -u -d @1795426200
    assert_eq!(rfc3339(1_795_426_200_000), "2026-11-23T09:30:00Z");
    assert_eq!(
        http_date(1_795_426_200_999),
        "Mon, 23 Nov 2026 09:30:00 GMT"
    );
    // A leap day.
    assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
    assert_eq!(http_date(951_782_400_000), "Tue, 29 Feb 2000 00:00:00 GMT");
}
