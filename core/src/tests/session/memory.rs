use std::sync::Arc;

use super::*;
use crate::session::store::{self, BUCKETS};

#[test]
fn envoy_semantics() {
    let m = MemoryStore::default();
    assert_eq!(m.get("k"), (None, None));
    m.set("k", b"1", Some(12345)).unwrap(); // a missing key always inserts
    let (v, cas) = m.get("k");
    assert_eq!(v.as_deref(), Some(&b"1"[..]));
    assert_eq!(
        m.set("k", b"2", cas.map(|c| c + 1)),
        Err(SetError::CasMismatch)
    );
    m.set("k", b"2", cas).unwrap();
    assert_eq!(
        m.set("k", b"3", cas),
        Err(SetError::CasMismatch),
        "the CAS moved"
    );
    m.set("k", b"4", Some(0)).unwrap();
    m.set("k", b"5", None).unwrap();
    assert_eq!(m.get("k").0.as_deref(), Some(&b"5"[..]));
}

#[test]
fn concurrent_increments_lose_nothing() {
    let m = Arc::new(MemoryStore::default());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let m = Arc::clone(&m);
            std::thread::spawn(move || {
                for _ in 0..500 {
                    loop {
                        let (v, cas) = m.get("n");
                        let n = v.map_or(0, |v| u32::from_le_bytes(v[..4].try_into().unwrap()));
                        if m.set("n", &(n + 1).to_le_bytes(), Some(cas.unwrap_or(u32::MAX)))
                            .is_ok()
                        {
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let v = m.get("n").0.unwrap();
    assert_eq!(u32::from_le_bytes(v[..4].try_into().unwrap()), 2_000);
}

#[test]
fn memory_stays_flat_under_churn() {
    use crate::identity::Identity;
    use crate::session::{new_secret, Session};
    let m = MemoryStore::default();
    let now = 1_000_000;
    let churn = |from: u32, to: u32| {
        for i in from..to {
            let mut random = [0u8; 32];
            random[..4].copy_from_slice(&i.to_le_bytes());
            let (_, hash) = new_secret(&random);
            let identity = Identity {
                sub: format!("user{i}"),
                ..Identity::default()
            };
            // Each session lives 1 s; they are created 1 ms apart: about 1,000 are live.
            let at = now + u64::from(i);
            store::insert(&m, &Session::new(hash, identity, at, 1_000, 1_000), 0, at).unwrap();
        }
    };
    churn(0, 20_000);
    let (keys, first) = m.size();
    churn(20_000, 60_000);
    let (more_keys, then) = m.size();
    assert!(keys <= BUCKETS && more_keys <= BUCKETS);
    assert!(
        then < first + first / 10,
        "{first} then {then} bytes: expired sessions were not dropped"
    );
}
