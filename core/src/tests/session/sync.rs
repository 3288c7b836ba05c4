use super::*;
use crate::config::Sidecar;
use crate::protected::Decision;
use crate::request::filter::{Filter, HeaderEdit};
use crate::session::create::{Answer, Landing};
use crate::testing::{config, MemHost};

const NOW: Millis = 1_795_426_200_000;

fn filter() -> Filter {
    let mut c = config();
    c.sidecar = Some(crate::testing::sidecar());
    Filter::new(c)
}

fn alice() -> Identity {
    Identity {
        sub: "auth0|alice".into(),
        email: Some("alice@example.com".into()),
        name: None,
        ..Default::default()
    }
}

/// Logs in; returns the cookie header and the pending write-through.
fn login(f: &Filter, host: &MemHost, seed: u8) -> (String, crate::session::create::WriteThrough) {
    match f
        .sessions()
        .create_session(host, alice(), &[seed; 32], NOW, Landing::Json)
    {
        Answer::AfterSync(wt) => {
            let body: Value = serde_json::from_slice(&wt.body).unwrap();
            assert_eq!(body["upsert"][0]["sub"], "auth0|alice");
            assert!(body["since"].is_null(), "a write-through does not poll");
            let reply = f.sessions().written_through(host, clone_wt(&wt), true, NOW);
            let v: Value = serde_json::from_str(&reply.body).unwrap();
            (format!("session={}", v["value"].as_str().unwrap()), wt)
        }
        other => panic!("{other:?}"),
    }
}

fn clone_wt(wt: &crate::session::create::WriteThrough) -> crate::session::create::WriteThrough {
    wt.clone_for_tests()
}

fn dirty_count(host: &MemHost) -> usize {
    dirty::marked(host)
        .into_iter()
        .map(|i| store::dirty_records(host, i, NOW).len())
        .sum()
}

#[test]
fn an_acknowledged_login_leaves_nothing_to_sync() {
    let f = filter();
    let host = MemHost::default();
    login(&f, &host, 1);
    assert!(dirty::marked(&host).is_empty());
    let batch = build_batch(&host, NOW);
    assert!(batch.sent.is_empty());
    let body: Value = serde_json::from_slice(&batch.body).unwrap();
    assert_eq!(
        body["since"], 0,
        "an empty batch still polls for revocations"
    );
}

#[test]
fn a_failed_write_through_is_retried_by_the_timer_until_acknowledged() {
    let f = filter();
    let host = MemHost::default();
    let Answer::AfterSync(wt) =
        f.sessions()
            .create_session(&host, alice(), &[1; 32], NOW, Landing::Json)
    else {
        panic!()
    };
    let reply = f.sessions().written_through(&host, wt, false, NOW);
    assert_eq!(
        reply.status, 200,
        "logins succeed while the sidecar is down"
    );
    assert_eq!(dirty_count(&host), 1);

    let batch = build_batch(&host, NOW + 1_000);
    let body: Value = serde_json::from_slice(&batch.body).unwrap();
    assert_eq!(body["upsert"].as_array().unwrap().len(), 1);
    // The sidecar is still down: nothing applied, the batch is built again next time.
    assert_eq!(dirty_count(&host), 1);
    let applied =
        apply_answer(&host, &batch, br#"{"cursor": 7, "ended": []}"#, NOW + 2_000).unwrap();
    assert_eq!(applied.synced, 1);
    assert_eq!(dirty_count(&host), 0);
    assert!(dirty::marked(&host).is_empty());
    let next: Value = serde_json::from_slice(&build_batch(&host, NOW).body).unwrap();
    assert_eq!(next["since"], 7, "the cursor moves on");
}

#[test]
fn a_record_changed_while_its_batch_was_in_flight_stays_dirty() {
    let f = filter();
    let host = MemHost::default();
    let Answer::AfterSync(wt) =
        f.sessions()
            .create_session(&host, alice(), &[1; 32], NOW, Landing::Json)
    else {
        panic!()
    };
    f.sessions().written_through(&host, wt, false, NOW);
    let batch = build_batch(&host, NOW);
    // A keep-alive slides the deadline across a sync step before the answer comes back.
    let hash = batch.sent[0].1[0].session.hash;
    let (_, written) = store::touch(&host, &hash, NOW + 6_000, 3_600_000, true).unwrap();
    assert!(!written.dirtied, "already dirty");
    apply_answer(&host, &batch, br#"{"cursor": 1}"#, NOW + 6_000).unwrap();
    assert_eq!(
        dirty_count(&host),
        1,
        "the newer deadline still has to be sent"
    );
}

#[test]
fn keep_alives_are_coalesced_into_sync_steps() {
    let f = filter();
    let host = MemHost::default();
    let (cookie, _) = login(&f, &host, 1);
    let misses = RecentMisses::default();
    f.protected(&host, Some(cookie.as_bytes()), NOW + 1_000, &misses);
    f.protected(&host, Some(cookie.as_bytes()), NOW + 2_000, &misses);
    let after_two = dirty_count(&host);
    for s in 3..=12 {
        f.protected(&host, Some(cookie.as_bytes()), NOW + s * 1_000, &misses);
    }
    assert!(after_two <= 1);
    assert_eq!(
        dirty_count(&host),
        1,
        "one dirty record however many slides"
    );
    let batch = build_batch(&host, NOW + 12_000);
    assert_eq!(batch.sent.iter().map(|(_, r)| r.len()).sum::<usize>(), 1);
}

#[test]
fn logout_tombstones_until_the_sidecar_has_the_end() {
    let f = filter();
    let host = MemHost::default();
    let (cookie, _) = login(&f, &host, 1);
    let Answer::AfterSync(wt) = f.logout(&host, Some(cookie.as_bytes()), NOW + 1, false) else {
        panic!()
    };
    let body: Value = serde_json::from_slice(&wt.body).unwrap();
    assert_eq!(body["end"].as_array().unwrap().len(), 1);
    let misses = RecentMisses::default();
    let decision = f.protected(&host, Some(cookie.as_bytes()), NOW + 2, &misses);
    assert_eq!(
        decision,
        Decision::Unauthenticated,
        "a tombstone never lets anyone in, nor asks the sidecar (which may not know yet)"
    );
    f.sessions().written_through(&host, wt, false, NOW + 2);
    let batch = build_batch(&host, NOW + 3);
    let body: Value = serde_json::from_slice(&batch.body).unwrap();
    assert_eq!(body["end"].as_array().unwrap().len(), 1);
    assert!(body["upsert"].as_array().unwrap().is_empty());
    apply_answer(&host, &batch, br#"{"cursor": 2}"#, NOW + 4).unwrap();
    assert_eq!(dirty_count(&host), 0);
    let stored: usize = host
        .data
        .borrow()
        .iter()
        .filter(|(k, _)| k.contains("/sessions/"))
        .map(|(_, (v, _))| v.len())
        .sum();
    assert!(
        stored > 1,
        "the tombstone stays for the grace once acknowledged"
    );
    crate::session::store::sweep(
        &host,
        crate::session::store::bucket_index(&hash_of(&cookie)),
        NOW + 4 + crate::session::store::TOMBSTONE_GRACE_MS,
    )
    .unwrap();
    let stored: usize = host
        .data
        .borrow()
        .iter()
        .filter(|(k, _)| k.contains("/sessions/"))
        .map(|(_, (v, _))| v.len())
        .sum();
    assert!(stored <= 1, "and is gone after it");
}

fn hash_of(cookie: &str) -> crate::session::SessionHash {
    crate::session::SessionHash::of_cookie(cookie.trim_start_matches("session=").as_bytes())
        .unwrap()
}

/// The sidecar's answer to a restore of this login's session: live, as it had it.
fn sidecar_has(host: &MemHost, cookie: &str) -> Vec<u8> {
    let _ = host;
    let s = crate::session::Session::new(hash_of(cookie), alice(), NOW, 3_600_000, 86_400_000);
    session_json(&s).to_string().into_bytes()
}

fn pending(decision: Decision<'_>) -> crate::protected::PendingRestore {
    match decision {
        Decision::Restore(p) => p,
        other => panic!("expected a restore: {other:?}"),
    }
}

/// Issue 11 item 4: the sidecar was down at the logout; a thief's request with the cookie
/// then asked it, got the session as live, and put it back over the tombstone.
#[test]
fn an_ended_session_is_never_restored_whatever_the_order() {
    let f = filter();
    let misses = RecentMisses::default();
    // 1. Logout while the sidecar is down: the thief's requests never ask it.
    let host = MemHost::default();
    let (cookie, _) = login(&f, &host, 1);
    let Answer::AfterSync(wt) = f.logout(&host, Some(cookie.as_bytes()), NOW + 1, false) else {
        panic!()
    };
    f.sessions().written_through(&host, wt, false, NOW + 1);
    for at in [2, 1_000, 60_000] {
        assert_eq!(
            f.protected(&host, Some(cookie.as_bytes()), NOW + at, &misses),
            Decision::Unauthenticated
        );
        assert!(matches!(
            f.keep_alive(&host, Some(cookie.as_bytes()), NOW + at, &misses),
            Decision::Reply(r) if r.status == 401
        ));
    }

    // 2. A restore already asked when the logout happens (this Envoy had restarted): the
    //    sidecar's "live" answer arrives after the logout and is refused.
    let restarted = MemHost::default();
    let p = pending(f.protected(&restarted, Some(cookie.as_bytes()), NOW + 2, &misses));
    let Answer::AfterSync(wt) = f.logout(&restarted, Some(cookie.as_bytes()), NOW + 3, false)
    else {
        panic!("a logout of a session not held here still tells the sidecar")
    };
    let body: Value = serde_json::from_slice(&wt.body).unwrap();
    assert_eq!(body["end"][0], hash_of(&cookie).hex());
    let mut m = RecentMisses::default();
    let late = f.restored(
        &restarted,
        p,
        Some(200),
        &sidecar_has(&host, &cookie),
        NOW + 4,
        &mut m,
    );
    assert_eq!(late, Decision::Unauthenticated);
    assert!(crate::session::store::lookup(&restarted, &hash_of(&cookie), NOW + 5).is_none());

    // 3. The end acknowledged (tombstone kept for the grace) while a restore read before the
    //    commit is still on its way.
    let host = MemHost::default();
    let (cookie, _) = login(&f, &host, 2);
    let restored_elsewhere = MemHost::default();
    let p = pending(f.protected(
        &restored_elsewhere,
        Some(cookie.as_bytes()),
        NOW + 1,
        &misses,
    ));
    let Answer::AfterSync(wt) =
        f.logout(&restored_elsewhere, Some(cookie.as_bytes()), NOW + 2, false)
    else {
        panic!()
    };
    f.sessions()
        .written_through(&restored_elsewhere, wt, true, NOW + 3);
    let answer = sidecar_has(&host, &cookie);
    let late = f.restored(
        &restored_elsewhere,
        p,
        Some(200),
        &answer,
        NOW + 1_900,
        &mut m,
    );
    assert_eq!(late, Decision::Unauthenticated);

    // 4. Revoked at the sidecar: the sync drops it, and a restore in flight cannot land.
    let host = MemHost::default();
    let (cookie, _) = login(&f, &host, 3);
    let p = pending(f.protected(&MemHost::default(), Some(cookie.as_bytes()), NOW, &misses));
    let revoked = format!(
        r#"{{"cursor": 9, "ended": ["{}"]}}"#,
        hash_of(&cookie).hex()
    );
    apply_answer(&host, &build_batch(&host, NOW), revoked.as_bytes(), NOW + 1).unwrap();
    let late = f.restored(
        &host,
        p,
        Some(200),
        &sidecar_has(&host, &cookie),
        NOW + 2,
        &mut m,
    );
    assert_eq!(late, Decision::Unauthenticated);
    // The same holds on an Envoy that never held it.
    let other = MemHost::default();
    let p = pending(f.protected(&other, Some(cookie.as_bytes()), NOW, &misses));
    apply_answer(
        &other,
        &build_batch(&other, NOW),
        revoked.as_bytes(),
        NOW + 1,
    )
    .unwrap();
    let late = f.restored(
        &other,
        p,
        Some(200),
        &sidecar_has(&host, &cookie),
        NOW + 2,
        &mut m,
    );
    assert_eq!(late, Decision::Unauthenticated);
}

#[test]
fn revocations_from_the_sidecar_end_sessions() {
    let f = filter();
    let host = MemHost::default();
    let (cookie, wt) = login(&f, &host, 1);
    let hash =
        crate::session::SessionHash::of_cookie(cookie.trim_start_matches("session=").as_bytes())
            .unwrap();
    let _ = wt;
    let answer = format!(r#"{{"cursor": 9, "ended": ["{}", "zz"]}}"#, hash.hex());
    let applied =
        apply_answer(&host, &build_batch(&host, NOW), answer.as_bytes(), NOW + 5).unwrap();
    assert_eq!(applied.revoked, 1);
    let misses = RecentMisses::default();
    assert!(!matches!(
        f.protected(&host, Some(cookie.as_bytes()), NOW + 6, &misses),
        Decision::Forward(_)
    ));
}

#[test]
fn garbage_answers_change_nothing() {
    let host = MemHost::default();
    let batch = build_batch(&host, NOW);
    for bad in [&b""[..], b"{}", b"[]", b"{\"cursor\": \"7\"}", b"\xff"] {
        assert_eq!(apply_answer(&host, &batch, bad, NOW), None);
    }
}

#[test]
fn restore_puts_the_session_back_with_its_deadlines() {
    let f = filter();
    let host = MemHost::default();
    let (cookie, wt) = login(&f, &host, 1);
    let session = wt.records_for_tests()[0].session.clone();
    let empty = MemHost::default(); // a restarted Envoy
    let mut misses = RecentMisses::default();
    let Decision::Restore(pending) =
        f.protected(&empty, Some(cookie.as_bytes()), NOW + 10, &misses)
    else {
        panic!()
    };
    assert_eq!(
        Filter::restore_path(&pending),
        format!("/sync/sessions/{}", session.hash.hex())
    );
    let body = session_json(&session).to_string();
    match f.restored(
        &empty,
        pending,
        Some(200),
        body.as_bytes(),
        NOW + 10,
        &mut misses,
    ) {
        Decision::Forward(edits) => {
            assert!(edits.contains(&HeaderEdit::Set("x-auth-user", b"auth0|alice"[..].into())))
        }
        other => panic!("{other:?}"),
    }
    let found = store::lookup(&empty, &session.hash, NOW + 11).unwrap();
    assert_eq!(found.record().to_session(), session, "original deadlines");
    assert!(
        dirty::marked(&empty).is_empty(),
        "restored sessions are clean"
    );
}

#[test]
fn a_denied_restore_is_remembered_and_an_unanswered_one_fails_closed() {
    let f = filter();
    let host = MemHost::default();
    let cookie = format!("session={}", "E".repeat(43));
    let mut misses = RecentMisses::default();
    let Decision::Restore(pending) = f.protected(&host, Some(cookie.as_bytes()), NOW, &misses)
    else {
        panic!()
    };
    assert_eq!(
        f.restored(&host, pending, Some(404), b"", NOW, &mut misses),
        Decision::Unauthenticated
    );
    assert!(
        matches!(
            f.protected(&host, Some(cookie.as_bytes()), NOW + 1, &misses),
            Decision::Unauthenticated
        ),
        "no second lookup"
    );
    assert!(
        matches!(
            f.protected(&host, Some(cookie.as_bytes()), NOW + 20_000, &misses),
            Decision::Restore(_)
        ),
        "forgotten later"
    );

    let Decision::Restore(pending) = f.protected(
        &host,
        Some(&b"session=QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"[..]),
        NOW,
        &misses,
    ) else {
        panic!()
    };
    let Decision::Reply(r) = f.restored(&host, pending, None, b"", NOW, &mut misses) else {
        panic!()
    };
    assert_eq!(r.status, 503, "sidecar trouble never lets a request in");
}

#[test]
fn a_restore_answer_for_another_or_an_expired_session_is_refused() {
    let hash = SessionHash([1; 16]);
    let mut s = Session::new(SessionHash([2; 16]), alice(), NOW, 1_000, 10_000);
    let other = session_json(&s).to_string();
    assert_eq!(
        parse_restore(&hash, Some(200), other.as_bytes(), NOW),
        Restored::NotFound
    );
    s.hash = hash;
    let expired = session_json(&s).to_string();
    assert_eq!(
        parse_restore(&hash, Some(200), expired.as_bytes(), NOW + 5_000),
        Restored::NotFound
    );
    assert_eq!(
        parse_restore(&hash, Some(200), b"nope", NOW),
        Restored::Unavailable
    );
    assert_eq!(
        parse_restore(&hash, Some(500), b"", NOW),
        Restored::Unavailable
    );
}

#[test]
fn wire_format_round_trips() {
    let s = Session::new(SessionHash([0xab; 16]), alice(), NOW, 1_000, 10_000);
    assert_eq!(session_from_json(&session_json(&s)), Some(s));
    assert_eq!(SessionHash::from_hex("zz"), None);
    assert_eq!(SessionHash::from_hex(&"é".repeat(16)), None);
}

#[test]
fn with_signing_keys_forged_cookies_cost_no_lookup_and_no_restore() {
    struct Counting(MemHost, std::cell::Cell<u32>);
    impl crate::session::store::SharedData for Counting {
        fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
            self.1.set(self.1.get() + 1);
            self.0.get(key)
        }
        fn set(
            &self,
            key: &str,
            value: &[u8],
            cas: Option<u32>,
        ) -> Result<(), crate::session::store::SetError> {
            self.0.set(key, value, cas)
        }
    }
    impl crate::request::filter::Host for Counting {
        fn count(&self, _: crate::metrics::Metric, _: i64) {}
        fn record(&self, _: crate::metrics::Metric, _: u64) {}
    }
    let mut c = config();
    c.sidecar = Some(Sidecar {
        cluster: "s".into(),
        token: "t".into(),
        login_requires_store: false,
    });
    c.cookie.signing_keys = vec!["a-signing-key-of-at-least-32-chars!".into()];
    let f = Filter::new(c);
    let host = Counting(MemHost::default(), 0.into());
    let misses = RecentMisses::default();
    for i in 0..1_000u32 {
        let (secret, _) = crate::session::new_secret(&[(i % 251) as u8; 32]);
        let forged = format!("session={secret}.AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(
            f.protected(&host, Some(forged.as_bytes()), NOW, &misses),
            Decision::Unauthenticated
        );
        let unsigned = format!("session={secret}");
        assert_eq!(
            f.protected(&host, Some(unsigned.as_bytes()), NOW, &misses),
            Decision::Unauthenticated
        );
    }
    assert_eq!(host.1.get(), 0, "no shared-data read, no sidecar restore");
    // A cookie the proxy signed is looked up, and restored if needed.
    let Answer::AfterSync(wt) =
        f.sessions()
            .create_session(&host.0, alice(), &[1; 32], NOW, Landing::Json)
    else {
        panic!()
    };
    let reply = f.sessions().written_through(&host.0, wt, true, NOW);
    let value = serde_json::from_str::<Value>(&reply.body).unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(value.len(), 66);
    let cookie = format!("session={value}");
    assert!(matches!(
        f.protected(&host, Some(cookie.as_bytes()), NOW, &misses),
        Decision::Forward(_)
    ));
    let empty = Counting(MemHost::default(), 0.into());
    assert!(matches!(
        f.protected(&empty, Some(cookie.as_bytes()), NOW, &misses),
        Decision::Restore(_)
    ));
}

/// A correctly signed cookie the store did not know a moment ago is most likely a login on
/// another proxy whose write had not landed: the miss is remembered for at most the sync
/// interval, not the 10 s an unsigned (possibly forged) cookie gets.
#[test]
fn a_miss_for_a_signed_cookie_is_remembered_briefly() {
    let mut c = config();
    c.sidecar = Some(Sidecar {
        cluster: "s".into(),
        token: "t".into(),
        login_requires_store: false,
    });
    c.cookie.signing_keys = vec!["a-signing-key-of-at-least-32-chars!".into()];
    let f = Filter::new(c);
    let issuer = MemHost::default();
    let Answer::AfterSync(wt) =
        f.sessions()
            .create_session(&issuer, alice(), &[7; 32], NOW, Landing::Json)
    else {
        panic!()
    };
    let reply = f.sessions().written_through(&issuer, wt, true, NOW);
    let value = serde_json::from_str::<Value>(&reply.body).unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string();
    let cookie = format!("session={value}");
    // Another proxy, whose shared data never saw the session.
    let other = MemHost::default();
    let mut misses = RecentMisses::default();
    let Decision::Restore(pending) = f.protected(&other, Some(cookie.as_bytes()), NOW, &misses)
    else {
        panic!()
    };
    assert_eq!(
        f.restored(&other, pending, Some(404), b"", NOW, &mut misses),
        Decision::Unauthenticated
    );
    assert_eq!(
        f.protected(&other, Some(cookie.as_bytes()), NOW + 10, &misses),
        Decision::Unauthenticated,
        "remembered for a moment"
    );
    assert!(
        matches!(
            f.protected(
                &other,
                Some(cookie.as_bytes()),
                NOW + SYNC_INTERVAL_MS,
                &misses
            ),
            Decision::Restore(_)
        ),
        "asked again once the sync interval has passed"
    );
}

/// Logins acknowledged while the sidecar was unreachable are a backlog: a full batch
/// answered means another is sent at once, and the drain ends with the backlog.
#[test]
fn a_backlog_drains_in_back_to_back_batches() {
    let f = filter();
    let host = MemHost::default();
    let total = MAX_BATCH * 2 + 10;
    for i in 0..total {
        let mut random = [0u8; 32];
        random[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let Answer::AfterSync(wt) =
            f.sessions()
                .create_session(&host, alice(), &random, NOW, Landing::Json)
        else {
            panic!()
        };
        f.sessions().written_through(&host, wt, false, NOW); // the sidecar was unreachable
    }
    assert_eq!(dirty_count(&host), total);
    let mut batches = 0;
    loop {
        let batch = build_batch(&host, NOW);
        batches += 1;
        let applied = apply_answer(&host, &batch, br#"{"cursor": 0, "ended": []}"#, NOW).unwrap();
        if !drain_next(&host, &applied, NOW) {
            break;
        }
        assert!(batches < 10, "the drain ends");
    }
    assert_eq!(dirty_count(&host), 0, "everything sent");
    assert_eq!(batches, 3, "two full batches, then the rest, back to back");
    // An ordinary tick's batch (nothing left) does not start a drain.
    let batch = build_batch(&host, NOW);
    let applied = apply_answer(&host, &batch, br#"{"cursor": 0, "ended": []}"#, NOW).unwrap();
    assert!(!drain_next(&host, &applied, NOW));
}

/// With `sidecar.login_requires_store`, a login the sidecar did not store is refused (503)
/// and leaves no session behind: nothing is ever answered that an Envoy crash could lose.
/// A logout is still answered (the tombstone keeps it ended until the sidecar hears of it).
#[test]
fn a_login_the_store_did_not_take_is_refused_when_so_configured() {
    let mut c = config();
    c.sidecar = Some(Sidecar {
        cluster: "s".into(),
        token: "t".into(),
        login_requires_store: true,
    });
    let f = Filter::new(c);
    let host = MemHost::default();
    let Answer::AfterSync(wt) =
        f.sessions()
            .create_session(&host, alice(), &[3; 32], NOW, Landing::Json)
    else {
        panic!()
    };
    let hash = wt.records_for_tests()[0].session.hash;
    let reply = f.sessions().written_through(&host, wt, false, NOW);
    assert_eq!(reply.status, 503);
    assert!(!reply.body.contains("value"), "no secret handed out");
    assert!(
        store::lookup(&host, &hash, NOW).is_none(),
        "no session left"
    );
    assert_eq!(dirty_count(&host), 0, "nothing to sync later either");

    // Stored: answered as usual.
    let (cookie, _) = login(&f, &host, 4);
    assert!(matches!(
        f.protected(
            &host,
            Some(cookie.as_bytes()),
            NOW + 1,
            &RecentMisses::default()
        ),
        Decision::Forward(_)
    ));
    let Answer::AfterSync(wt) = f.logout(&host, Some(cookie.as_bytes()), NOW + 2, false) else {
        panic!()
    };
    assert_eq!(
        f.sessions()
            .written_through(&host, wt, false, NOW + 2)
            .status,
        200
    );
}

#[test]
fn what_identity_apis_add_goes_over_the_wire_and_older_answers_still_load() {
    use crate::identity::ClaimValue;
    let mut s = Session::new(SessionHash([3; 16]), alice(), NOW, 60_000, 3_600_000);
    s.identity.groups = vec!["team_moco".into(), "nda".into()];
    s.identity.email_verified = Some(true);
    s.identity.claims = vec![
        ("staff".into(), ClaimValue::Flag(true)),
        ("teams".into(), ClaimValue::List(vec!["a".into()])),
        ("title".into(), ClaimValue::Text("Engineer".into())),
    ];
    let wire = session_json(&s);
    assert_eq!(wire["groups"], serde_json::json!(["team_moco", "nda"]));
    assert_eq!(wire["claims"]["staff"], true);
    assert_eq!(session_from_json(&wire), Some(s.clone()));
    // A sidecar from before knows none of them: the session loads without them.
    let mut old = wire.clone();
    for field in ["groups", "email_verified", "claims"] {
        old.as_object_mut().unwrap().remove(field);
    }
    let loaded = session_from_json(&old).unwrap();
    assert!(loaded.identity.groups.is_empty() && loaded.identity.claims.is_empty());
    assert_eq!(loaded.identity.email_verified, None);
    // A group that could split a list is dropped, never split.
    let mut bad = wire;
    bad["groups"] = serde_json::json!(["ok", "two words"]);
    assert_eq!(session_from_json(&bad).unwrap().identity.groups, ["ok"]);
}
