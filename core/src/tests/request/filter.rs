use super::*;
use crate::identity::Identity;
use crate::protected::Decision;
use crate::session::create::{Answer, Landing};
use crate::session::sync::RecentMisses;
use crate::shared_data::SharedData;
use crate::testing::{config, MemHost};
use serde_json::Value;

const NOW: Millis = 1_795_426_200_000;

fn filter() -> Filter {
    let mut c = config();
    c.cookie.inactive_lifetime = 2;
    c.cookie.max_lifetime = 5;
    Filter::new(c)
}

fn now_reply(answer: Answer) -> Reply {
    match answer {
        Answer::Now(reply) => reply,
        other => panic!("expected an immediate reply: {other:?}"),
    }
}

fn create(f: &Filter, host: &MemHost, identity: Identity, random: &[u8; 32], now: Millis) -> Reply {
    now_reply(
        f.sessions()
            .create_session(host, identity, random, now, Landing::Json),
    )
}

fn logout(f: &Filter, host: &MemHost, cookie: Option<&[u8]>, now: Millis) -> Reply {
    now_reply(f.logout(host, cookie, now, false))
}

fn reply_of(decision: Decision<'_>) -> Reply {
    match decision {
        Decision::Reply(reply) => reply,
        other => panic!("expected a reply: {other:?}"),
    }
}

fn protected<'a>(
    f: &'a Filter,
    host: &dyn Host,
    cookie: Option<&[u8]>,
    now: Millis,
) -> Decision<'a> {
    f.protected(host, cookie, now, &RecentMisses::default())
}

fn keep_alive(f: &Filter, host: &MemHost, cookie: Option<&[u8]>, now: Millis) -> Reply {
    reply_of(f.keep_alive(host, cookie, now, &RecentMisses::default()))
}

fn alice() -> Identity {
    Identity {
        sub: "auth0|alice".into(),
        email: Some("alice@example.com".into()),
        name: Some("Alice".into()),
        ..Default::default()
    }
}

/// Logs in and returns the cookie header value.
fn login(f: &Filter, host: &MemHost, seed: u8) -> String {
    let reply = create(f, host, alice(), &[seed; 32], NOW);
    assert_eq!(reply.status, 200);
    let body: Value = serde_json::from_str(&reply.body).unwrap();
    format!("session={}", body["value"].as_str().unwrap())
}

#[test]
fn login_answer_matches_the_contract() {
    let f = filter();
    let host = MemHost::default();
    let reply = create(&f, &host, alice(), &[7; 32], NOW);
    let body: Value = serde_json::from_str(&reply.body).unwrap();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "domain",
            "expires",
            "httponly",
            "inactive_lifetime",
            "name",
            "path",
            "secure",
            "value"
        ]
    );
    assert_eq!(body["expires"], "2026-11-23T09:30:05Z");
    assert_eq!(body["inactive_lifetime"], 2);
    assert_eq!(body["value"].as_str().unwrap().len(), 43);
    let set_cookie = &reply
        .headers
        .iter()
        .find(|(k, _)| k == "set-cookie")
        .unwrap()
        .1;
    assert!(set_cookie.starts_with(&format!("session={}; ", body["value"].as_str().unwrap())));
    assert!(
        set_cookie.contains("HttpOnly")
            && set_cookie.contains("Secure")
            && set_cookie.contains("SameSite=Lax")
    );
    assert_eq!(host.count_of(Metric::LoginOk), 1);
    assert_eq!(host.count_of(Metric::SessionsLive), 1);
    // Nothing in shared data holds the secret.
    let secret = body["value"].as_str().unwrap().as_bytes().to_vec();
    for (v, _) in host.data.borrow().values() {
        assert!(!v.windows(secret.len()).any(|w| w == secret.as_slice()));
    }
}

#[test]
fn protected_forwards_identity_and_strips_our_cookie() {
    let f = filter();
    let host = MemHost::default();
    let cookie = login(&f, &host, 1);
    let header = format!("theme=dark; {cookie}; lang=en");
    match protected(&f, &host, Some(header.as_bytes()), NOW + 10) {
        Decision::Forward(edits) => assert_eq!(
            edits,
            vec![
                HeaderEdit::Set("x-auth-user", b"auth0|alice".to_vec()),
                HeaderEdit::Set("x-auth-email", b"alice@example.com".to_vec()),
                HeaderEdit::Set("cookie", b"theme=dark; lang=en".to_vec()),
            ]
        ),
        other => panic!("{other:?}"),
    }
    match protected(&f, &host, Some(cookie.as_bytes()), NOW + 10) {
        Decision::Forward(edits) => assert!(edits.contains(&HeaderEdit::Remove("cookie"))),
        other => panic!("{other:?}"),
    }
}

#[test]
fn missing_claims_remove_their_header() {
    let f = filter();
    let host = MemHost::default();
    let reply = create(
        &f,
        &host,
        Identity {
            sub: "s".into(),
            email: None,
            name: None,
            ..Default::default()
        },
        &[3; 32],
        NOW,
    );
    let body: Value = serde_json::from_str(&reply.body).unwrap();
    let cookie = format!("session={}", body["value"].as_str().unwrap());
    match protected(&f, &host, Some(cookie.as_bytes()), NOW) {
        Decision::Forward(edits) => assert!(edits.contains(&HeaderEdit::Remove("x-auth-email"))),
        other => panic!("{other:?}"),
    }
}

#[test]
fn no_or_bad_cookie_is_401() {
    let f = filter();
    let host = MemHost::default();
    for header in [
        None,
        Some(&b"other=1"[..]),
        Some(b"session=short"),
        Some(&[b's'; 60][..]),
        Some(b"session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    ] {
        assert_eq!(protected(&f, &host, header, NOW), Decision::Unauthenticated);
        let r = f.unauthenticated(&host, None, NOW);
        assert_eq!(r.status, 401);
        assert!(r.body.contains("\"unauthorized\""));
    }
    assert_eq!(host.count_of(Metric::Rejected), 5);
}

#[test]
fn malformed_cookies_cost_no_lookup() {
    struct Counting(MemHost, std::cell::Cell<u32>);
    impl SharedData for Counting {
        fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
            self.1.set(self.1.get() + 1);
            self.0.get(key)
        }
        fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), store::SetError> {
            self.0.set(key, value, cas)
        }
    }
    impl Host for Counting {
        fn count(&self, _: Metric, _: i64) {}
        fn record(&self, _: crate::metrics::Metric, _: u64) {}
    }
    let f = filter();
    let host = Counting(MemHost::default(), 0.into());
    for header in [
        &b"session=short"[..],
        b"session=!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        b"session=",
    ] {
        protected(&f, &host, Some(header), NOW);
    }
    assert_eq!(host.1.get(), 0);
}

#[test]
fn idle_expiry_and_absolute_expiry() {
    let f = filter();
    let host = MemHost::default();
    let cookie = login(&f, &host, 1);
    let ok = |at| {
        matches!(
            protected(&f, &host, Some(cookie.as_bytes()), at),
            Decision::Forward(_)
        )
    };
    assert!(ok(NOW + 1_500), "within the idle window; slides");
    assert!(ok(NOW + 3_000), "slid by the previous request");
    assert!(ok(NOW + 4_500));
    assert!(!ok(NOW + 5_000), "absolute lifetime is never extended");

    let cookie2 = login(&f, &host, 2);
    let ok2 = |at| {
        matches!(
            protected(&f, &host, Some(cookie2.as_bytes()), at),
            Decision::Forward(_)
        )
    };
    assert!(!ok2(NOW + 2_000), "idle expiry");
}

#[test]
fn keep_alive_slides_and_reports_deadlines() {
    let f = filter();
    let host = MemHost::default();
    let cookie = login(&f, &host, 1);
    let reply = keep_alive(&f, &host, Some(cookie.as_bytes()), NOW + 1_000);
    assert_eq!(reply.status, 200);
    let body: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(body["idle_expires"], "2026-11-23T09:30:03Z");
    assert_eq!(body["expires"], "2026-11-23T09:30:05Z");
    assert_eq!(body["inactive_lifetime"], 2);
    assert_eq!(keep_alive(&f, &host, None, NOW).status, 401);
    assert_eq!(host.count_of(Metric::KeepAlive), 1);
}

#[test]
fn logout_ends_the_session_and_clears_the_cookie() {
    let f = filter();
    let host = MemHost::default();
    let cookie = login(&f, &host, 1);
    let reply = logout(&f, &host, Some(cookie.as_bytes()), NOW + 1);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, r#"{"logged_out":true}"#);
    let clear = &reply
        .headers
        .iter()
        .find(|(k, _)| k == "set-cookie")
        .unwrap()
        .1;
    assert!(clear.starts_with("session=; ") && clear.contains("Max-Age=0"));
    assert!(matches!(
        protected(&f, &host, Some(cookie.as_bytes()), NOW + 2),
        Decision::Unauthenticated
    ));
    assert_eq!(
        logout(&f, &host, Some(cookie.as_bytes()), NOW + 3).body,
        r#"{"logged_out":false}"#
    );
    assert_eq!(logout(&f, &host, None, NOW + 3).status, 200);
    assert_eq!(host.count_of(Metric::SessionsLive), 0);
}

#[test]
fn logout_fails_closed_under_contention() {
    let f = filter();
    let host = MemHost::default();
    let cookie = login(&f, &host, 1);
    host.fail_next_sets.set(crate::shared_data::CAS_RETRIES);
    assert_eq!(logout(&f, &host, Some(cookie.as_bytes()), NOW).status, 503);
    assert!(matches!(
        protected(&f, &host, Some(cookie.as_bytes()), NOW),
        Decision::Forward(_)
    ));
}

#[test]
fn public_paths_strip_identity_headers() {
    let f = filter();
    assert_eq!(
        f.public(None, None),
        vec![
            HeaderEdit::Remove("x-auth-user"),
            HeaderEdit::Remove("x-auth-email")
        ]
    );
    let edits = f.public(Some(b"a=1; session=secret"), None);
    assert_eq!(
        edits.last(),
        Some(&HeaderEdit::Set("cookie", b"a=1".to_vec())),
        "the app never sees the secret"
    );
    assert_eq!(
        f.public(Some(b"a=1"), None).len(),
        2,
        "other cookies untouched"
    );
}

#[test]
fn duplicate_cookies_find_the_live_one() {
    let f = filter();
    let host = MemHost::default();
    let cookie = login(&f, &host, 1);
    let header = format!("session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; {cookie}");
    assert!(matches!(
        protected(&f, &host, Some(header.as_bytes()), NOW),
        Decision::Forward(_)
    ));
}

/// Issue 11 item 9: `Authorization: Session` reached the app on public paths, and on any
/// path when the Cookie header also named our cookie.
#[test]
fn authorization_session_is_always_stripped() {
    let f = filter();
    let host = MemHost::default();
    let edits = f.public(None, Some(b"Session abc"));
    assert!(edits.contains(&HeaderEdit::Remove("authorization")));
    let edits = f.public(Some(b"session=x"), Some(b"session  abc"));
    assert!(edits.contains(&HeaderEdit::Remove("authorization")));
    let edits = f.public(None, Some(b"Bearer app-token"));
    assert!(
        !edits.contains(&HeaderEdit::Remove("authorization")),
        "the app's own Authorization is kept"
    );
    let cookie = login(&f, &host, 9);
    let auth = format!("Session {}", cookie.trim_start_matches("session="));
    for other in [&b"Session AAAA"[..], auth.as_bytes()] {
        let presented = Presented {
            cookie: Some(cookie.as_bytes()),
            authorization: Some(other),
            authority: None,
        };
        match f.protected(&host, presented, NOW, &RecentMisses::default()) {
            Decision::Forward(edits) => {
                assert!(
                    edits.contains(&HeaderEdit::Remove("authorization")),
                    "{edits:?}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
}

/// Issue 11 item 5: `X_Auth_User` reaches WSGI, PHP and Rack apps as `HTTP_X_AUTH_USER`.
#[test]
fn identity_headers_in_other_spellings_are_removed() {
    let f = filter();
    let names: [&[u8]; 7] = [
        b"x_auth_user",
        b"X_Auth_User",
        b"x-auth_email",
        b"x_auth-user",
        b"x-auth-user",
        b"x_auth_users",
        b"accept",
    ];
    let edits = f.identity_spellings(names);
    assert_eq!(
        edits,
        vec![
            HeaderEdit::RemoveName("x_auth_user".into()),
            HeaderEdit::RemoveName("X_Auth_User".into()),
            HeaderEdit::RemoveName("x-auth_email".into()),
            HeaderEdit::RemoveName("x_auth-user".into()),
        ]
    );
    assert!(f
        .identity_spellings([&b"x-auth-user"[..], b"cookie"])
        .is_empty());
}

/// Issue 11 item 11: a cross-site GET (a link or an image on another site) carries a
/// SameSite=Lax cookie and logged the user out (of Auth0 too, with logout_redirect).
#[test]
fn logout_by_a_cross_site_request_is_refused() {
    assert!(Filter::logout_refusal(b"POST", None).is_none());
    assert!(Filter::logout_refusal(b"POST", Some(b"cross-site")).is_none());
    assert!(Filter::logout_refusal(b"GET", Some(b"same-origin")).is_none());
    assert!(Filter::logout_refusal(b"GET", Some(b"none")).is_none());
    for (site, status) in [
        (Some(&b"cross-site"[..]), 403),
        (Some(b"same-site"), 403),
        (Some(b"garbage"), 403),
        (None, 405),
    ] {
        let reply = Filter::logout_refusal(b"GET", site).unwrap();
        assert_eq!(reply.status, status, "{site:?}");
    }
}
