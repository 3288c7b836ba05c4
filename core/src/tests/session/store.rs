use super::*;
use crate::identity::Identity;
use crate::session::new_secret;
use crate::shared_data::{CAS_MISSING, CAS_RETRIES};
use crate::testing::MemHost;

const NOW: Millis = 1_000_000;
const HOUR: u64 = 3_600_000;

fn identity(sub: &str) -> Identity {
    Identity {
        sub: sub.into(),
        email: Some(format!("{sub}@example.com")),
        name: None,
        ..Default::default()
    }
}

fn session(n: u32, now: Millis, idle: u64, max: u64) -> Session {
    let mut random = [0u8; 32];
    random[..4].copy_from_slice(&n.to_le_bytes());
    let (_, hash) = new_secret(&random);
    Session::new(hash, identity(&format!("user{n}")), now, idle, max)
}

#[test]
fn insert_then_lookup_then_remove() {
    let host = MemHost::default();
    let s = session(1, NOW, HOUR, 24 * HOUR);
    let w = insert(&host, &s, 0, NOW).unwrap();
    assert_eq!(w.live_delta, 1);
    let found = lookup(&host, &s.hash, NOW + 1).unwrap();
    assert_eq!(found.record().to_session(), s);
    let w = end(&host, &s.hash, NOW + 2, &Ending::Forget).unwrap();
    assert_eq!(w.before, Some(s.clone()));
    assert_eq!(w.live_delta, -1);
    assert!(lookup(&host, &s.hash, NOW + 3).is_none());
    let again = end(&host, &s.hash, NOW + 4, &Ending::Forget).unwrap();
    assert_eq!(again.before, None, "removing twice is harmless");
}

#[test]
fn idle_and_absolute_deadlines_are_enforced_on_lookup() {
    let host = MemHost::default();
    let s = session(1, NOW, 2_000, 5_000);
    insert(&host, &s, 0, NOW).unwrap();
    assert!(lookup(&host, &s.hash, NOW + 1_999).is_some());
    assert!(lookup(&host, &s.hash, NOW + 2_000).is_none(), "idle expiry");
    let (after, _) = touch(&host, &s.hash, NOW + 1_500, 2_000, false).unwrap();
    assert_eq!(after.unwrap().idle_deadline, NOW + 3_500);
    assert!(lookup(&host, &s.hash, NOW + 3_000).is_some(), "slid");
    touch(&host, &s.hash, NOW + 3_400, 2_000, false).unwrap();
    touch(&host, &s.hash, NOW + 4_900, 2_000, false).unwrap();
    let rec = lookup(&host, &s.hash, NOW + 4_950).unwrap();
    assert_eq!(
        rec.record().idle_deadline(),
        NOW + 5_000,
        "never slides past max"
    );
    assert!(
        lookup(&host, &s.hash, NOW + 5_000).is_none(),
        "absolute expiry despite keep-alives"
    );
}

#[test]
fn touching_an_ended_session_does_not_revive_it() {
    let host = MemHost::default();
    let s = session(1, NOW, 1_000, HOUR);
    insert(&host, &s, 0, NOW).unwrap();
    let (after, written) = touch(&host, &s.hash, NOW + 1_000, 1_000, false).unwrap();
    assert_eq!(after, None);
    assert_eq!(written.live_delta, -1, "the expired record was pruned");
    assert!(lookup(&host, &s.hash, NOW + 1_001).is_none());
}

#[test]
fn writes_prune_expired_sessions_so_memory_follows_live_sessions() {
    let host = MemHost::default();
    // Many short sessions, all expired later; then churn keeps going.
    for round in 0..5u32 {
        let now = NOW + u64::from(round) * 10_000;
        for n in 0..2_000u32 {
            insert(
                &host,
                &session(round * 10_000 + n, now, 1_000, 1_000),
                0,
                now,
            )
            .unwrap();
        }
    }
    let bytes: usize = host.data.borrow().values().map(|(v, _)| v.len()).sum();
    let keys = host.data.borrow().len();
    assert!(keys <= BUCKETS, "a fixed set of keys: {keys}");
    // Only the last round (2,000 sessions) can still be stored, plus leftovers in buckets
    // not written since; a sweep removes those.
    for i in 0..BUCKETS {
        sweep(&host, i, NOW + 100_000).unwrap();
    }
    let after: usize = host.data.borrow().values().map(|(v, _)| v.len()).sum();
    assert!(
        after <= BUCKETS,
        "only bucket headers remain: {after} (was {bytes})"
    );
}

#[test]
fn per_session_cost_is_small() {
    let host = MemHost::default();
    for n in 0..10_000u32 {
        insert(&host, &session(n, NOW, HOUR, HOUR), 0, NOW).unwrap();
    }
    let bytes: usize = host.data.borrow().values().map(|(v, _)| v.len()).sum();
    let per = bytes / 10_000;
    assert!(per < 120, "{per} bytes per session");
}

#[test]
fn cas_conflicts_are_retried() {
    let host = MemHost::default();
    let s = session(1, NOW, HOUR, HOUR);
    host.fail_next_sets.set(CAS_RETRIES - 1);
    insert(&host, &s, 0, NOW).unwrap();
    assert!(lookup(&host, &s.hash, NOW).is_some());
}

#[test]
fn endless_contention_fails_closed_without_writing() {
    let host = MemHost::default();
    let s = session(1, NOW, HOUR, HOUR);
    insert(&host, &s, 0, NOW).unwrap();
    host.fail_next_sets.set(CAS_RETRIES);
    assert_eq!(
        end(&host, &s.hash, NOW, &Ending::Forget),
        Err(StoreError::Contended)
    );
    assert!(
        lookup(&host, &s.hash, NOW).is_some(),
        "not reported ended, not half-written"
    );
}

#[test]
fn a_bucket_created_concurrently_is_not_overwritten() {
    // Worker A saw the bucket missing; worker B creates it first. A's write must mismatch
    // and retry, not overwrite B's session.
    struct Racy {
        inner: MemHost,
        raced: std::cell::Cell<bool>,
        other: Session,
    }
    impl SharedData for Racy {
        fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
            let got = self.inner.get(key);
            if !self.raced.replace(true) {
                insert(&self.inner, &self.other, 0, NOW).unwrap();
            }
            got
        }
        fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SetError> {
            // Envoy: a missing key always inserts; an existing one checks any CAS but 0.
            let exists = self.inner.data.borrow().contains_key(key);
            if exists && cas == Some(CAS_MISSING) {
                return Err(SetError::CasMismatch);
            }
            self.inner.set(key, value, cas)
        }
    }
    let mine = session(1, NOW, HOUR, HOUR);
    // Same bucket, different session.
    let mut other = session(2, NOW, HOUR, HOUR);
    other.hash.0[..2].copy_from_slice(&mine.hash.0[..2]);
    let racy = Racy {
        inner: MemHost::default(),
        raced: false.into(),
        other: other.clone(),
    };
    insert(&racy, &mine, 0, NOW).unwrap();
    assert!(lookup(&racy.inner, &mine.hash, NOW).is_some());
    assert!(
        lookup(&racy.inner, &other.hash, NOW).is_some(),
        "the other worker's session survived"
    );
}

#[test]
fn damaged_buckets_never_panic_or_authenticate() {
    let host = MemHost::default();
    let s = session(1, NOW, HOUR, HOUR);
    let key = bucket_key(bucket_index(&s.hash));
    for junk in [vec![], vec![1], vec![1, 0, 0], vec![9; 100], {
        let mut v = vec![1];
        crate::session::encode_record(&s, 0, &mut v);
        v.truncate(v.len() - 3);
        v
    }] {
        host.data.borrow_mut().insert(key.to_string(), (junk, 1));
        assert!(lookup(&host, &s.hash, NOW).is_none());
        insert(&host, &s, 0, NOW).unwrap();
        assert!(
            lookup(&host, &s.hash, NOW).is_some(),
            "a write repairs the bucket"
        );
    }
}

#[test]
fn slide_is_coalesced() {
    let host = MemHost::default();
    let s = session(1, NOW, HOUR, 24 * HOUR);
    insert(&host, &s, 0, NOW).unwrap();
    let found = lookup(&host, &s.hash, NOW + 500).unwrap();
    assert!(
        !needs_slide(&found.record(), NOW + 500, HOUR),
        "within a second: no write"
    );
    assert!(needs_slide(&found.record(), NOW + 1_000, HOUR));
    let short = session(2, NOW, 2_000, 24 * HOUR);
    insert(&host, &short, 0, NOW).unwrap();
    let found = lookup(&host, &short.hash, NOW + 100).unwrap();
    assert!(
        needs_slide(&found.record(), NOW + 100, 2_000),
        "short windows slide in small steps"
    );
}

/// In a fleet, another proxy asks the store before refusing a session that looks idle
/// there; the store's idle deadline must then be fresh enough. Slides are marked for the
/// sidecar at least every quarter of the idle window (5 s at most), so the store trails by
/// less than the window even when it is a few seconds long.
#[test]
fn slides_reach_the_sidecar_often_enough_for_short_idle_windows() {
    let host = MemHost::default();
    let window = 4_000;
    let s = session(9, NOW, window, HOUR);
    insert(&host, &s, 0, NOW).unwrap();
    let mut synced_idle = s.idle_deadline;
    let mut t = NOW;
    while t < NOW + 20_000 {
        t += 200;
        let (after, written) = touch(&host, &s.hash, t, window, true).unwrap();
        let after = after.unwrap();
        if written.dirtied {
            // What the sync would send: the sidecar's copy from now on.
            synced_idle = after.idle_deadline;
            acknowledge(
                &host,
                bucket_index(&s.hash),
                t,
                &[DirtyRecord {
                    session: after.clone(),
                    ended: false,
                }],
            )
            .unwrap();
        }
        assert!(
            after.idle_deadline - synced_idle <= window / 4,
            "at +{} ms the sidecar trails by {} ms",
            t - NOW,
            after.idle_deadline - synced_idle
        );
    }
}

#[test]
fn bucket_keys_built_on_the_stack_read_as_before() {
    for index in [0, 1, 15, 16, 255, 256, 4_095, 4_096, 65_535, usize::MAX] {
        assert_eq!(
            &*bucket_key(index),
            format!("auth0_session/sessions/{index:03x}")
        );
    }
}
