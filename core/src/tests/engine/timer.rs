use super::*;
use crate::testing::*;

const NOW: Millis = NOW_SECS * 1_000;

#[test]
fn the_first_tick_fetches_the_keys_once_until_answered() {
    let engine = Engine::new(config());
    let host = MemHost::default();
    let mut timer = Timer::new(0);
    let calls = timer.tick(&engine, &host, NOW);
    assert_eq!(calls.len(), 1);
    assert!(calls[0]
        .0
        .headers
        .contains(&(":path", "/.well-known/jwks.json".to_string())));
    // In flight: later ticks do not ask again, even once the retry interval passed.
    assert!(timer.tick(&engine, &host, NOW + 10_000).is_empty());
    let (_, pending) = calls.into_iter().next().unwrap();
    let answer = Response {
        status: Some(200),
        body: Some(jwks_json()),
    };
    assert!(timer
        .on_response(&engine, &host, pending, answer, NOW + 10_000)
        .is_empty());
    assert_eq!(host.count_of(Metric::JwksFetchOk), 1);
    // Fresh keys: nothing due.
    assert!(timer.tick(&engine, &host, NOW + 20_000).is_empty());
}

#[test]
fn a_failed_dispatch_is_counted_and_retried() {
    let engine = Engine::new(config());
    let host = MemHost::default();
    let mut timer = Timer::new(0);
    let (_, pending) = timer.tick(&engine, &host, NOW).into_iter().next().unwrap();
    timer.on_dispatch_failed(&host, pending);
    assert_eq!(host.count_of(Metric::JwksFetchFailed), 1);
    assert!(
        timer.tick(&engine, &host, NOW + 1_000).is_empty(),
        "within the retry interval"
    );
    assert_eq!(timer.tick(&engine, &host, NOW + 6_000).len(), 1);
}

#[test]
fn a_full_sweep_pass_publishes_the_store_gauges() {
    let engine = Engine::new(config());
    let host = MemHost::default();
    let mut timer = Timer::new(7);
    let seconds = BUCKETS / SWEEP_PER_TICK;
    for tick in 0..(seconds as u64 * TICKS_PER_SECOND) {
        timer.tick(&engine, &host, NOW + tick * TICK_MS);
    }
    assert_eq!(host.count_of(Metric::StoreKeys), 0);
    assert!(host.counts.borrow().contains_key(Metric::StoreBytes.name()));
}
