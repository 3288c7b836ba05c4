//! The relay through the engine, as a host drives it: a token login, then requests to a
//! relaying route, another protected route and a public path.

use serde_json::json;

use super::*;
use crate::config::Config;
use crate::engine::{Engine, Outcome};
use crate::login::key_cache;
use crate::ports::SharedData;
use crate::testing::*;

const NOW: Millis = NOW_SECS * 1_000;

fn relay_config(extra: &str) -> Config {
    Config::parse(
        format!(
            r#"{{"auth0": {{"domain": "tenant.test", "api": {{"identifier": "{AUDIENCE}"}},
                 "cluster": "auth0", "scope": "read:data"}},
                "public": ["/healthz"],
                "rules": [{{"path": "/api/", "allow": "session", "relay": "access_token"}}]
                {extra}}}"#
        )
        .as_bytes(),
    )
    .unwrap()
}

fn reply(outcome: Outcome<'_>) -> crate::reply::Reply {
    match outcome {
        Outcome::Reply(reply) => reply,
        other => panic!("expected a reply: {other:?}"),
    }
}

fn forwarded(outcome: Outcome<'_>) -> Vec<(String, Option<Vec<u8>>)> {
    match outcome {
        Outcome::Forward(edits) => edits
            .into_iter()
            .map(|e| match e {
                HeaderEdit::Set(n, v) => (n.to_string(), Some(v.into_vec())),
                HeaderEdit::Remove(n) => (n.to_string(), None),
                HeaderEdit::RemoveName(n) => (n, None),
            })
            .collect(),
        other => panic!("expected a forward: {other:?}"),
    }
}

fn header<'e>(edits: &'e [(String, Option<Vec<u8>>)], name: &str) -> Option<&'e Option<Vec<u8>>> {
    edits.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v)
}

/// Logs in with a JWT expiring `ttl` seconds after NOW: the cookie and the token.
fn login(e: &Engine, host: &MemHost, ttl: u64) -> (String, String) {
    key_cache::store(host, NOW, &jwks_json()).unwrap();
    let mut claims = claims();
    claims["exp"] = json!(NOW_SECS + ttl);
    let token = jwt(&claims);
    let req = Req::new("POST", "/authorize").with("authorization", &format!("Bearer {token}"));
    let r = reply(e.on_request(host, &req, NOW));
    assert_eq!(r.status, 200, "{}", r.body);
    let cookie = r
        .headers
        .iter()
        .find(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.split(';').next().unwrap_or_default().to_string())
        .unwrap();
    (cookie, token)
}

fn token_keys(host: &MemHost) -> usize {
    host.data
        .borrow()
        .keys()
        .filter(|k| k.starts_with("auth0_session/tokens/"))
        .count()
}

/// An engine relaying `/api/`, and a session whose token expires in `ttl_secs`.
fn logged_in(ttl_secs: u64) -> (Engine, MemHost, String) {
    let e = Engine::new(relay_config(""));
    let host = MemHost::default();
    let (cookie, _) = login(&e, &host, ttl_secs);
    (e, host, cookie)
}

#[test]
fn a_relaying_route_gets_the_login_token_and_no_other_route_does() {
    let e = Engine::new(relay_config(""));
    let host = MemHost::default();
    let (cookie, token) = login(&e, &host, 600);
    let bearer = format!("Bearer {token}").into_bytes();

    let req = Req::new("GET", "/api/items")
        .with("cookie", &format!("{cookie}; theme=dark"))
        .with("authorization", "Bearer the-clients-own");
    let edits = forwarded(e.on_request(&host, &req, NOW + 1_000));
    assert_eq!(header(&edits, "authorization"), Some(&Some(bearer.clone())));
    assert_eq!(
        header(&edits, "cookie"),
        Some(&Some(b"theme=dark".to_vec())),
        "never the session cookie"
    );

    // `Authorization: Session <secret>` as the credential: removed, then the token set.
    let secret = cookie.split_once('=').unwrap().1;
    let req = Req::new("GET", "/api/items").with("authorization", &format!("Session {secret}"));
    let edits = forwarded(e.on_request(&host, &req, NOW + 1_000));
    assert_eq!(header(&edits, "authorization"), Some(&Some(bearer)));

    let other = Req::new("GET", "/elsewhere").with("cookie", &cookie);
    let edits = forwarded(e.on_request(&host, &other, NOW + 1_000));
    assert_eq!(header(&edits, "authorization"), None);
    let public = Req::new("GET", "/healthz").with("cookie", &cookie);
    let edits = forwarded(e.on_request(&host, &public, NOW + 1_000));
    assert_eq!(header(&edits, "authorization"), None);
}

#[test]
fn the_header_is_configurable() {
    let e = Engine::new(relay_config(r#", "relay": {"header": "x-access-token"}"#));
    let host = MemHost::default();
    let (cookie, token) = login(&e, &host, 600);
    let req = Req::new("GET", "/api/items").with("cookie", &cookie);
    let edits = forwarded(e.on_request(&host, &req, NOW));
    assert_eq!(
        header(&edits, "x-access-token"),
        Some(&Some(format!("Bearer {token}").into_bytes()))
    );
    assert_eq!(header(&edits, "authorization"), None);
}

#[test]
fn an_expired_token_ends_the_session_and_asks_to_log_in_again() {
    let (e, host, cookie) = logged_in(120);
    let late = NOW + 121_000;
    let req = Req::new("GET", "/api/items").with("cookie", &cookie);
    let r = reply(e.on_request(&host, &req, late));
    assert_eq!(r.status, 401);
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["error"], "reauthentication_required");
    assert!(!r.body.contains("eyJ"), "no token in the body");
    assert_eq!(host.count_of(Metric::RelayReauthenticate), 1);
    // Ended like a logout: every route now sees no session, and the token is gone.
    let other = Req::new("GET", "/elsewhere").with("cookie", &cookie);
    assert_eq!(reply(e.on_request(&host, &other, late)).status, 401);
    let hash = e.filter.presented(&Some(cookie.as_bytes()).into()).0[0];
    assert_eq!(tokens::get(&host, &hash), None);
}

#[test]
fn a_navigation_with_the_code_flow_is_sent_to_log_in_again() {
    let e = Engine::new(relay_config(r#", "code_flow": {"client_id": "app"}"#));
    let host = MemHost::default();
    let (cookie, _) = login(&e, &host, 120);
    let req = Req::new("GET", "/api/page")
        .with("cookie", &cookie)
        .with(":authority", "app.example")
        .with("accept", "text/html")
        .with("sec-fetch-mode", "navigate");
    let r = reply(e.on_request(&host, &req, NOW + 121_000));
    assert_eq!(r.status, 302, "{}", r.body);
    let ajax = Req::new("GET", "/api/page")
        .with("cookie", &cookie)
        .with("accept", "text/html")
        .with("sec-fetch-mode", "cors");
    let (cookie, _) = login(&e, &host, 120);
    let ajax = ajax.with("cookie", &cookie);
    let r = reply(e.on_request(&host, &ajax, NOW + 121_000));
    assert_eq!(
        (r.status, r.body.contains("reauthentication_required")),
        (401, true)
    );
}

#[test]
fn without_a_relaying_rule_no_token_is_kept_or_read() {
    let e = Engine::new(config());
    let host = MemHost::default();
    let (cookie, _) = login(&e, &host, 600);
    assert_eq!(token_keys(&host), 0);
    let req = Req::new("GET", "/api/items").with("cookie", &cookie);
    let edits = forwarded(e.on_request(&host, &req, NOW));
    assert_eq!(header(&edits, "authorization"), None);
}

#[test]
fn logout_forgets_the_token() {
    let (e, host, cookie) = logged_in(600);
    let hash = e.filter.presented(&Some(cookie.as_bytes()).into()).0[0];
    assert!(tokens::get(&host, &hash).is_some());
    let req = Req::new("POST", "/logout").with("cookie", &cookie);
    assert_eq!(reply(e.on_request(&host, &req, NOW)).status, 200);
    assert_eq!(tokens::get(&host, &hash), None);
    let (body, _) = host.get("auth0_session/tokens/0000");
    let _ = body;
}

#[test]
fn rules_and_settings_are_checked_naming_the_key() {
    let parse = |rules: &str, extra: &str| {
        Config::parse(
            format!(
                r#"{{"auth0": {{"domain": "t.test", "api": {{"identifier": "a"}}, "cluster": "c"}},
                    "rules": {rules} {extra}}}"#
            )
            .as_bytes(),
        )
    };
    let e = parse(
        r#"[{"path": "/p/", "allow": "public", "relay": "access_token"}]"#,
        "",
    )
    .unwrap_err();
    assert_eq!(e.key, "rules[0].relay");
    let e = parse(
        r#"[{"path": "/p/", "allow": "session", "relay": "refresh_token"}]"#,
        "",
    )
    .unwrap_err();
    assert!(e.key.starts_with("rules[0].relay"), "{e}");
    assert!(e.reason.contains("access_token"), "{e}");
    let ok = r#"[{"path": "/p/", "allow": "session", "relay": "access_token"}]"#;
    let c = parse(ok, "").unwrap();
    assert!(c.relays());
    assert_eq!(c.relay.header, "authorization");
    assert_eq!(c.relay.refresh_skew_secs, 60);
    assert!(c.relay.offline_access);
    for (extra, key) in [
        (r#", "relay": {"header": "Bad Header"}"#, "relay.header"),
        (r#", "relay": {"header": "cookie"}"#, "relay.header"),
        (r#", "relay": {"header": "x-auth-user"}"#, "relay.header"),
        (r#", "relay": {"keys": []}"#, "relay.keys"),
        (r#", "relay": {"keys": ["not base64!"]}"#, "relay.keys[0]"),
        (r#", "relay": {"keys": ["c2hvcnQ="]}"#, "relay.keys[0]"),
        (r#", "relay": {"refresh_skew": "2h"}"#, "relay.refresh_skew"),
        (r#", "relay": {"hdr": "x"}"#, "relay.hdr"),
    ] {
        let e = parse(ok, extra).unwrap_err();
        assert_eq!(e.key, key, "{extra}: {e}");
    }
    let key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let c = parse(
        ok,
        &format!(r#", "relay": {{"keys": ["{key}"], "refresh_skew": "30s"}}"#),
    )
    .unwrap();
    assert_eq!((c.relay.keys.len(), c.relay.refresh_skew_secs), (1, 30));
    assert!(
        !format!("{:?}", c.relay).contains("48"),
        "Debug never shows a key"
    );
}
