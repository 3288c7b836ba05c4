use super::*;
use crate::testing::MemHost;

const NOW: Millis = 1_795_426_200_000;

#[test]
fn the_bucket_allows_a_burst_then_its_rate() {
    let host = MemHost::default();
    let taken = (0..100)
        .filter(|_| take(&host, "k", NOW, 5, 10).is_ok())
        .count();
    assert_eq!(taken, 10, "the burst");
    assert_eq!(
        take(&host, "k", NOW, 5, 10),
        Err(1),
        "then wait about a second"
    );
    assert_eq!(take(&host, "k", NOW + 199, 5, 10), Err(1));
    assert!(
        take(&host, "k", NOW + 200, 5, 10).is_ok(),
        "one token per 200 ms"
    );
    assert!(take(&host, "k", NOW + 200, 5, 10).is_err());
    // A long quiet spell refills up to the burst, never beyond.
    let refilled = (0..100)
        .filter(|_| take(&host, "k", NOW + 3_600_000, 5, 10).is_ok())
        .count();
    assert_eq!(refilled, 10);
}

#[test]
fn a_slow_rate_says_how_long_to_wait() {
    let host = MemHost::default();
    assert!(take(&host, "k", NOW, 1, 1).is_ok());
    assert_eq!(take(&host, "k", NOW, 1, 1), Err(1));
    // A clock that goes back does not mint tokens.
    assert!(take(&host, "k", NOW - 60_000, 1, 1).is_err());
}

#[test]
fn contention_fails_closed() {
    let host = MemHost::default();
    host.fail_next_sets.set(crate::shared_data::CAS_RETRIES);
    assert!(take(&host, "k", NOW, 5, 10).is_err());
}
