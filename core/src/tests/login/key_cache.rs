use super::*;
use crate::testing::{jwks_json, MemHost};

#[test]
fn unknown_kid_fetches_are_one_per_30s_and_separate_from_startup() {
    let host = MemHost::default();
    assert!(claim_login_fetch(&host, 1_000, false), "no keys yet: fetch");
    assert!(
        !claim_login_fetch(&host, 2_000, false),
        "not again within 5 s"
    );
    assert!(
        claim_login_fetch(&host, 2_000, true),
        "the unknown-kid budget is untouched"
    );
    assert!(!claim_login_fetch(&host, 31_999, true));
    assert!(claim_login_fetch(&host, 32_000, true));
}

#[test]
fn the_timer_refreshes_when_due_and_only_one_worker_does() {
    let host = MemHost::default();
    assert!(claim_refresh(&host, 0), "nothing cached: due");
    assert!(!claim_refresh(&host, 1), "claimed by another worker");
    store(&host, 10, &jwks_json()).unwrap();
    assert!(!claim_refresh(&host, 10_000), "fresh");
    assert!(claim_refresh(&host, 10 + REFRESH_INTERVAL_MS));
}

#[test]
fn a_broken_answer_never_replaces_working_keys() {
    let host = MemHost::default();
    store(&host, 0, &jwks_json()).unwrap();
    let mut cache = KeyCache::default();
    assert_eq!(cache.current(&host).map(|k| k.len()), Some(1));
    assert!(store(&host, 5, b"{\"keys\": []}").is_err());
    assert_eq!(cache.current(&host).map(|k| k.len()), Some(1));
}
