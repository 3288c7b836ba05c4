use super::*;
use crate::config::Limits;
use crate::identity::Identity;
use crate::metrics::Metric;
use crate::request::filter::Filter;
use crate::session::create::{Answer, Landing};
use crate::session::store::{self, Probe};
use crate::session::sync::RecentMisses;
use crate::testing::{config, MemHost};

const NOW: Millis = 1_795_426_200_000;

fn user(sub: &str) -> Identity {
    Identity {
        sub: sub.into(),
        ..Default::default()
    }
}

fn filter(cap: u32) -> Filter {
    let mut c = config();
    c.limits = Limits {
        sessions_per_user: cap,
        ..Limits::default()
    };
    Filter::new(c)
}

fn login(f: &Filter, host: &MemHost, sub: &str, n: u32, now: Millis) -> String {
    let mut random = [0u8; 32];
    random[..4].copy_from_slice(&n.to_le_bytes());
    random[4..8].copy_from_slice(&(sub.len() as u32).to_le_bytes());
    match f
        .sessions()
        .create_session(host, user(sub), &random, now, Landing::Json)
    {
        Answer::Now(reply) => {
            assert_eq!(reply.status, 200, "{}", reply.body);
            let v: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
            format!("session={}", v["value"].as_str().unwrap())
        }
        other => panic!("{other:?}"),
    }
}

fn live(f: &Filter, host: &MemHost, cookie: &str, now: Millis) -> bool {
    matches!(
        f.protected(host, Some(cookie.as_bytes()), now, &RecentMisses::default()),
        crate::protected::Decision::Forward(_)
    )
}

/// Bytes of records in shared data: every key's value but its one-byte version header (a
/// bucket key, once made, stays: at most 4,096 of them, a byte each when empty).
fn shared_bytes(host: &MemHost) -> usize {
    host.data
        .borrow()
        .values()
        .map(|(v, _)| v.len().saturating_sub(1))
        .sum()
}

/// Issue 11 item 6: one valid login repeated in a loop grew shared data without limit.
#[test]
fn a_login_loop_keeps_the_newest_sessions_and_memory_flat() {
    let f = filter(5);
    let host = MemHost::default();
    let cookies: Vec<String> = (0..8)
        .map(|n| login(&f, &host, "auth0|looper", n, NOW))
        .collect();
    let alive: Vec<bool> = cookies.iter().map(|c| live(&f, &host, c, NOW)).collect();
    assert_eq!(
        alive,
        [false, false, false, true, true, true, true, true],
        "the oldest end"
    );
    assert_eq!(host.count_of(Metric::SessionsCapped), 3);
    assert_eq!(host.count_of(Metric::SessionsLive), 5);
    assert_eq!(listed(&host, "auth0|looper", NOW).len(), 5);
    // Others are not touched by someone else's loop.
    let other = login(&f, &host, "auth0|bystander", 1, NOW);
    let after = shared_bytes(&host);
    for n in 8..2_000 {
        login(&f, &host, "auth0|looper", n, NOW + u64::from(n));
    }
    assert!(live(&f, &host, &other, NOW + 3_000));
    assert_eq!(host.count_of(Metric::SessionsLive), 6);
    assert!(
        shared_bytes(&host) <= after + 64,
        "flat: {} bytes after 2,000 logins, {after} after 8",
        shared_bytes(&host)
    );
}

#[test]
fn ended_or_expired_sessions_leave_the_index() {
    let f = filter(3);
    let host = MemHost::default();
    let a = login(&f, &host, "auth0|u", 1, NOW);
    let b = login(&f, &host, "auth0|u", 2, NOW);
    // A logout takes it off the list.
    f.logout(&host, Some(a.as_bytes()), NOW + 1, false);
    assert_eq!(listed(&host, "auth0|u", NOW + 1).len(), 1);
    // Idle expiry (an hour): gone from the store, so the next login drops it from the list
    // instead of ending a live one for it.
    let later = NOW + 2 * 3_600_000;
    let c = login(&f, &host, "auth0|u", 3, later);
    let d = login(&f, &host, "auth0|u", 4, later);
    let e = login(&f, &host, "auth0|u", 5, later);
    assert_eq!(listed(&host, "auth0|u", later).len(), 3);
    assert!(!live(&f, &host, &b, later));
    assert!(
        [c, d, e].iter().all(|x| live(&f, &host, x, later)),
        "none capped"
    );
    assert_eq!(host.count_of(Metric::SessionsCapped), 0);
    // Past the absolute deadline, the index key is emptied by its next rewrite.
    let gone = NOW + 31 * 86_400_000;
    let _ = remove(&host, "auth0|u", &SessionHash([0; 16]), gone);
    assert!(listed(&host, "auth0|u", gone).is_empty());
}

#[test]
fn a_capped_session_is_told_to_the_sidecar_and_stays_ended() {
    let mut c = config();
    c.limits.sessions_per_user = 1;
    c.sidecar = Some(crate::config::Sidecar {
        cluster: "s".into(),
        token: "t".into(),
        login_requires_store: false,
    });
    c.cookie.signing_keys = vec!["k".repeat(32)];
    let f = Filter::new(c);
    let host = MemHost::default();
    let first =
        match f
            .sessions()
            .create_session(&host, user("auth0|u"), &[1; 32], NOW, Landing::Json)
        {
            Answer::AfterSync(wt) => f.sessions().written_through(&host, wt, true, NOW),
            other => panic!("{other:?}"),
        };
    let v: serde_json::Value = serde_json::from_str(&first.body).unwrap();
    let first = format!("session={}", v["value"].as_str().unwrap());
    let _second =
        f.sessions()
            .create_session(&host, user("auth0|u"), &[2; 32], NOW + 1, Landing::Json);
    let hash = crate::session::cookie_mac::CookieCodec::new(&["k".repeat(32)])
        .decode(first.trim_start_matches("session=").as_bytes())
        .unwrap();
    assert!(matches!(store::probe(&host, &hash, NOW + 2), Probe::Ended));
    let batch = crate::session::sync::build_batch(&host, NOW + 2);
    let body: serde_json::Value = serde_json::from_slice(&batch.body).unwrap();
    assert!(
        body["end"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h == &hash.hex()),
        "{body}"
    );
}

#[test]
fn a_full_bucket_refuses_new_sessions_not_old_ones() {
    let host = MemHost::default();
    let s = |n: u32| {
        let mut h = [0u8; 16];
        h[4..8].copy_from_slice(&n.to_le_bytes());
        crate::session::Session::new(SessionHash(h), user("u"), NOW, 3_600_000, 86_400_000)
    };
    for n in 0..store::MAX_BUCKET_RECORDS as u32 {
        store::insert(&host, &s(n), 0, NOW).unwrap();
    }
    assert_eq!(
        store::insert(&host, &s(u32::MAX), 0, NOW),
        Err(store::StoreError::Full)
    );
    assert!(store::lookup(&host, &s(0).hash, NOW).is_some());
}

#[test]
fn a_login_below_the_cap_looks_up_no_other_session() {
    // The store lookups that tell a dead listed session from a live one are paid only by a
    // login beyond the cap: a user with many sessions (or one index key shared by many users)
    // must not make every login cost a lookup per listed session.
    let host = MemHost::default();
    let lookups = std::cell::Cell::new(0);
    let alive = |_: &SessionHash| {
        lookups.set(lookups.get() + 1);
        true
    };
    for i in 0..5u8 {
        let evicted = add(
            &host,
            "auth0|u",
            &SessionHash([i; 16]),
            NOW + 1_000,
            NOW,
            5,
            &alive,
        )
        .unwrap();
        assert!(evicted.is_empty());
    }
    assert_eq!(lookups.get(), 0, "below the cap: no lookup");
    let evicted = add(
        &host,
        "auth0|u",
        &SessionHash([9; 16]),
        NOW + 1_000,
        NOW,
        5,
        &alive,
    )
    .unwrap();
    assert_eq!(
        evicted,
        vec![SessionHash([0; 16])],
        "the oldest live one ends"
    );
    assert_eq!(
        lookups.get(),
        5,
        "beyond it: each listed session is looked up once"
    );
    assert_eq!(listed(&host, "auth0|u", NOW).len(), 5);
}
