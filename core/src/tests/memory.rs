use std::sync::Arc;

use super::*;
use crate::store::{self, BUCKETS};

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
fn keys_stay_bounded_under_churn() {
    use crate::session::{new_secret, Session};
    use crate::token::Identity;
    let m = MemoryStore::default();
    let now = 1_000_000;
    for i in 0..20_000u32 {
        let mut random = [0u8; 32];
        random[..4].copy_from_slice(&i.to_le_bytes());
        let (_, hash) = new_secret(&random);
        let identity = Identity {
            sub: format!("user{i}"),
            email: None,
            name: None,
        };
        // Each session lives 1 s; they are created 1 ms apart, so at most ~1,000 are live.
        let session = Session::new(hash, identity, now + u64::from(i), 1_000, 1_000);
        store::insert(&m, &session, 0, now + u64::from(i)).unwrap();
    }
    let (keys, bytes) = m.size();
    assert!(keys <= BUCKETS, "{keys} keys");
    assert!(
        bytes < 400_000,
        "{bytes} bytes: expired sessions were not dropped"
    );
}
