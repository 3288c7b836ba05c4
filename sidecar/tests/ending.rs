// A test crate: failing loudly on unexpected errors is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! Ending sessions from anywhere, on a real SQLite file: by Auth0's `sid`, a user's sessions
//! issued before an instant, the `jti` replay memory, and a user's own list of sessions.
//! Every end is also a revocation the filters' next sync returns.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use session_core::identity::Identity;
use session_core::session::{Session, SessionHash};
use session_core::time::Millis;
use session_sidecar::store::{public_id, SessionStore, SqliteStore, SyncRequest};

const NOW: Millis = 1_795_426_200_000;

fn store() -> SqliteStore {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "sidecar-ending-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    SqliteStore::open(dir.join("s.sqlite").to_str().unwrap()).unwrap()
}

fn session(n: u8, sub: &str, sid: Option<&str>, created: Millis) -> Session {
    Session {
        hash: SessionHash([n; 16]),
        created,
        idle_deadline: created + 3_600_000,
        max_deadline: created + 86_400_000,
        identity: Identity {
            sub: sub.into(),
            sid: sid.map(str::to_string),
            ..Default::default()
        },
        user_agent: Some(format!("Firefox {n} on Linux")),
    }
}

fn put(store: &SqliteStore, sessions: &[&Session]) {
    store
        .sync(
            &SyncRequest {
                since: None,
                upsert: sessions.iter().map(|s| (*s).clone()).collect(),
                end: vec![],
            },
            NOW,
        )
        .unwrap();
}

/// The hashes a filter polling from cursor 0 is told to drop.
fn revoked(store: &SqliteStore) -> Vec<String> {
    let mut ended = store
        .sync(
            &SyncRequest {
                since: Some(0),
                ..Default::default()
            },
            NOW,
        )
        .unwrap()
        .ended;
    ended.sort();
    ended
}

fn live(store: &SqliteStore, s: &Session) -> bool {
    store.session(&s.hash, NOW).unwrap().is_some()
}

#[test]
fn a_sid_ends_exactly_its_sessions_and_they_are_revoked_everywhere() {
    let st = store();
    let a1 = session(1, "auth0|alice", Some("sid-a"), NOW - 10_000);
    let a2 = session(2, "auth0|alice", Some("sid-b"), NOW - 10_000);
    let b = session(3, "auth0|bob", Some("sid-c"), NOW - 10_000);
    let token_login = session(4, "auth0|alice", None, NOW - 10_000);
    put(&st, &[&a1, &a2, &b, &token_login]);
    let ended = st.end_sessions_by_sid("sid-a", NOW).unwrap();
    assert_eq!(ended, vec![a1.hash.hex()]);
    assert!(!live(&st, &a1));
    assert!(live(&st, &a2) && live(&st, &b) && live(&st, &token_login));
    assert_eq!(revoked(&st), vec![a1.hash.hex()]);
    // Again, or an unknown sid: nothing more.
    assert!(st.end_sessions_by_sid("sid-a", NOW).unwrap().is_empty());
    assert!(st.end_sessions_by_sid("nobody", NOW).unwrap().is_empty());
}

#[test]
fn a_sub_ends_only_that_users_sessions_issued_before_the_instant() {
    let st = store();
    let old = session(1, "auth0|alice", Some("s1"), NOW - 60_000);
    let older = session(2, "auth0|alice", None, NOW - 120_000);
    let newer = session(3, "auth0|alice", Some("s3"), NOW + 1_000);
    let other = session(4, "auth0|bob", None, NOW - 60_000);
    put(&st, &[&old, &older, &newer, &other]);
    let mut ended = st
        .end_user_sessions_before("auth0|alice", NOW, NOW + 2_000)
        .unwrap();
    ended.sort();
    let mut expected = vec![old.hash.hex(), older.hash.hex()];
    expected.sort();
    assert_eq!(ended, expected);
    assert!(live(&st, &newer) && live(&st, &other));
}

#[test]
fn a_jti_is_accepted_once_while_it_matters() {
    let st = store();
    assert!(st.remember_jti("j1", NOW + 150_000, NOW).unwrap());
    assert!(!st.remember_jti("j1", NOW + 150_000, NOW + 1).unwrap());
    assert!(st.remember_jti("j2", NOW + 150_000, NOW).unwrap());
    // Pruned once its time has passed; by then the token itself is refused as too old.
    st.prune(NOW + 150_000, session_sidecar::store::KEEP_EXPIRED_MS)
        .unwrap();
    assert!(st.remember_jti("j1", NOW + 300_000, NOW + 150_000).unwrap());
}

#[test]
fn a_user_lists_only_their_live_sessions_and_sees_which_is_theirs() {
    let st = store();
    let a1 = session(1, "auth0|alice", None, NOW - 20_000);
    let a2 = session(2, "auth0|alice", None, NOW - 10_000);
    let b = session(3, "auth0|bob", None, NOW - 10_000);
    let mut expired = session(4, "auth0|alice", None, NOW - 10_000);
    expired.idle_deadline = NOW - 1;
    put(&st, &[&a1, &a2, &b, &expired]);
    let list = st.own_sessions(&a2.hash, NOW).unwrap().unwrap();
    let ids: Vec<(&str, bool)> = list.iter().map(|s| (s.id.as_str(), s.current)).collect();
    let (id1, id2) = (public_id(&a1.hash.hex()), public_id(&a2.hash.hex()));
    assert_eq!(ids, vec![(id1.as_str(), false), (id2.as_str(), true)]);
    assert_eq!(list[0].created, a1.created);
    assert_eq!(list[0].idle_deadline, a1.idle_deadline);
    assert_eq!(list[0].max_deadline, a1.max_deadline);
    assert_eq!(list[0].user_agent.as_deref(), Some("Firefox 1 on Linux"));
    // A caller that is not a live session gets nothing.
    assert_eq!(st.own_sessions(&expired.hash, NOW).unwrap(), None);
    assert_eq!(st.own_sessions(&SessionHash([9; 16]), NOW).unwrap(), None);
}

#[test]
fn a_user_ends_their_own_sessions_never_anyone_elses() {
    let st = store();
    let a1 = session(1, "auth0|alice", None, NOW - 20_000);
    let a2 = session(2, "auth0|alice", None, NOW - 10_000);
    let b = session(3, "auth0|bob", None, NOW - 10_000);
    put(&st, &[&a1, &a2, &b]);
    let bob_id = public_id(&b.hash.hex());
    assert_eq!(
        st.end_own_session(&a2.hash, &bob_id, NOW).unwrap(),
        Some(vec![]),
        "someone else's session: not found, not ended"
    );
    assert!(live(&st, &b));
    assert_eq!(
        st.end_own_session(&a2.hash, "no-such-id", NOW).unwrap(),
        Some(vec![])
    );
    assert_eq!(
        st.end_own_session(&a2.hash, &public_id(&a1.hash.hex()), NOW)
            .unwrap(),
        Some(vec![a1.hash.hex()])
    );
    assert!(!live(&st, &a1));
    // An ended caller can do nothing more.
    assert_eq!(
        st.end_own_session(&a1.hash, &public_id(&a2.hash.hex()), NOW)
            .unwrap(),
        None
    );
    assert!(live(&st, &a2));
}

#[test]
fn logout_others_keeps_only_the_callers_session() {
    let st = store();
    let a1 = session(1, "auth0|alice", None, NOW - 20_000);
    let a2 = session(2, "auth0|alice", None, NOW - 10_000);
    let a3 = session(3, "auth0|alice", None, NOW - 5_000);
    let b = session(4, "auth0|bob", None, NOW - 10_000);
    put(&st, &[&a1, &a2, &a3, &b]);
    let mut ended = st.end_other_sessions(&a2.hash, NOW).unwrap().unwrap();
    ended.sort();
    let mut expected = vec![a1.hash.hex(), a3.hash.hex()];
    expected.sort();
    assert_eq!(ended, expected);
    assert!(live(&st, &a2) && live(&st, &b));
    assert_eq!(revoked(&st), expected);
    assert_eq!(st.end_other_sessions(&a1.hash, NOW).unwrap(), None);
}
