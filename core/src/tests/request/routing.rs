use std::cell::Cell;

use super::*;
use crate::policy::path::PathError::{self, *};

fn config() -> Config {
    Config::parse(
        br#"{"auth0": {"domain": "t.example", "api": {"identifier": "https://api"}, "cluster": "auth0"},
             "rules": [
               {"path": "/admin/", "allow": {"roles": ["admin"]}},
               {"path": "/api/private", "allow": "deny"},
               {"path": "/api/", "methods": ["POST", "PUT", "DELETE"], "allow": {"permissions": ["write:data"]}},
               {"path": "/api/", "allow": {"permissions": ["read:data"]}},
               {"path": "/app/", "allow": "session"}
             ],
             "public": ["/healthz", "/static/"]}"#,
    )
    .unwrap()
}

fn get(c: &Config, path: &[u8]) -> Route {
    route(c, path, || b"GET".to_vec())
}

const ADMIN: Route = Route::Protected(Access(Some(0)));
const PRIVATE: Route = Route::Refused(Refusal::Denied(1));
const WRITE: Route = Route::Protected(Access(Some(2)));
const READ: Route = Route::Protected(Access(Some(3)));
const ANY_SESSION: Route = Route::Protected(Access::SESSION);

#[test]
fn endpoints_match_the_normalized_path_ignoring_query() {
    let c = config();
    for (path, expected) in [
        (&b"/authorize"[..], Route::Login),
        (b"/authorize?x=1", Route::Login),
        (b"/%61uthorize", Route::Login),
        (b"//authorize", Route::Login),
        (b"/logout", Route::Logout),
        (b"/ping#frag", Route::KeepAlive),
        (b"/authorize/", ANY_SESSION),
        (b"/Authorize", ANY_SESSION),
        (b"/authorizex", ANY_SESSION),
        (
            b"/authorize%2f",
            Route::Refused(Refusal::Path(EncodedSlash)),
        ),
        (b"/authorize;x", Route::Refused(Refusal::Path(Semicolon))),
    ] {
        assert_eq!(get(&c, path), expected, "{}", String::from_utf8_lossy(path));
    }
}

#[test]
fn rules_in_order_first_match_wins() {
    let c = config();
    for (method, path, expected) in [
        ("GET", &b"/healthz"[..], Route::Public),
        ("GET", b"/healthz?full=1", Route::Public),
        ("GET", b"/healthz/x", ANY_SESSION),
        ("GET", b"/static/app.js", Route::Public),
        ("GET", b"/static/", Route::Public),
        ("GET", b"/static", ANY_SESSION),
        ("GET", b"/admin/users", ADMIN),
        ("POST", b"/admin/", ADMIN),
        ("GET", b"/admin", ANY_SESSION),
        ("GET", b"/api/private", PRIVATE),
        ("POST", b"/api/private", PRIVATE),
        ("GET", b"/api/private/x", READ),
        ("GET", b"/api/data", READ),
        ("HEAD", b"/api/data", READ),
        ("POST", b"/api/data", WRITE),
        ("DELETE", b"/api/data", WRITE),
        ("post", b"/api/data", READ),
        ("GET", b"/app/", ANY_SESSION),
        ("GET", b"/elsewhere", ANY_SESSION),
    ] {
        assert_eq!(
            route(&c, path, || method.as_bytes().to_vec()),
            expected,
            "{method} {}",
            String::from_utf8_lossy(path)
        );
    }
}

/// Spellings that reach a resource behind a rule on some server (Tomcat and Jetty strip `;`
/// parameters, Windows servers take `\`, apps decode `%2F` or decode twice, old decoders take
/// overlong UTF-8): refused, whatever rule the raw path would seem to fall under.
#[test]
fn bypass_spellings_are_refused_not_guessed() {
    let c = config();
    let table: &[(&str, PathError)] = &[
        ("/static/..;/admin/users", Semicolon),
        ("/static/..;/api/private", Semicolon),
        ("/api/private;jsessionid=0123", Semicolon),
        ("/admin;/x", Semicolon),
        ("/static/..%3b/admin/", Semicolon),
        ("/static/%3B/admin/", Semicolon),
        ("/static/../admin/users", DotSegment),
        ("/static/./app.js", DotSegment),
        ("/static/..", DotSegment),
        ("/static/.", DotSegment),
        ("/static/%2e%2e/admin/", DotSegment),
        ("/static/%2E%2E/admin/", DotSegment),
        ("/static/.%2e/admin/", DotSegment),
        ("/static/%2e./admin/", DotSegment),
        ("/static/%2e/app.js", DotSegment),
        ("/static/..%2fadmin/", EncodedSlash),
        ("/static/..%2Fadmin/", EncodedSlash),
        ("/static%2f..%2fadmin/", EncodedSlash),
        ("/api%2fprivate", EncodedSlash),
        ("/static\\..\\admin\\", Backslash),
        ("/static/..\\admin/", Backslash),
        ("/static/..%5cadmin/", Backslash),
        ("/static/..%5Cadmin/", Backslash),
        ("/static/%252e%252e/admin/", DoubleEncoding),
        ("/static/..%252fadmin/", DoubleEncoding),
        ("/static/%252F", DoubleEncoding),
        ("/static/%2525", DoubleEncoding),
        ("/static/%25%32f", DoubleEncoding),
        ("/static/%25%33%64", DoubleEncoding),
        ("/static/%252%66", DoubleEncoding),
        ("/api/private%00.js", ControlCharacter),
        ("/static/%00/../admin", ControlCharacter),
        ("/static/x%0d%0aX-Injected:%201", ControlCharacter),
        ("/static/\0", ControlCharacter),
        ("/static/\t", ControlCharacter),
        ("/static/%7f", ControlCharacter),
        ("/static/%c0%ae%c0%ae/admin/", NotUtf8),
        ("/static/..%c0%afadmin/", NotUtf8),
        ("/static/..%e0%80%afadmin/", NotUtf8),
        ("/static/%C1%9C", NotUtf8),
        ("/static/%ed%a0%80", NotUtf8),
        ("/static/%f8%80%80%80%af", NotUtf8),
        ("/static/%c3", NotUtf8),
        ("/static/%", BadEscape),
        ("/static/%2", BadEscape),
        ("/static/%zz", BadEscape),
        ("/static/%%32%65%%32%65/admin/", BadEscape),
        ("", NotAbsolute),
        ("*", NotAbsolute),
        ("admin/", NotAbsolute),
        ("http://app.example/admin/", NotAbsolute),
        ("?/static/", NotAbsolute),
    ];
    for (path, reason) in table {
        for method in ["GET", "POST"] {
            assert_eq!(
                route(&c, path.as_bytes(), || method.as_bytes().to_vec()),
                Route::Refused(Refusal::Path(*reason)),
                "{method} {path:?}"
            );
        }
    }
}

/// Spellings every server reads alike are settled, so they meet the rule of the path they name.
#[test]
fn settled_spellings_meet_the_rule_of_the_path_they_name() {
    let c = config();
    for (path, expected) in [
        ("/%61dmin/users", ADMIN),
        ("/%61DMIN/users", ANY_SESSION),
        ("//admin/users", ADMIN),
        ("/admin//users", ADMIN),
        ("///api///private", PRIVATE),
        ("/api/%70rivate", PRIVATE),
        ("/api/%70%72%69%76%61%74%65", PRIVATE),
        ("/api/private?x=/../;", PRIVATE),
        ("/api/private#/../", PRIVATE),
        ("/static/caf%c3%a9.js", Route::Public),
        ("/static/caf%C3%A9.js", Route::Public),
        ("/static/%7euser/a%2Db", Route::Public),
        ("/static/...", Route::Public),
        ("/static/.well-known", Route::Public),
        ("/static/a..b", Route::Public),
        ("/static/%25", Route::Public),
        ("/static/%25zz", Route::Public),
        ("/static/%25%7a", Route::Public),
        ("/static/%25%20", Route::Public),
        ("/stat%69c/app.js", Route::Public),
        ("/api/caf\u{e9}", READ),
    ] {
        assert_eq!(get(&c, path.as_bytes()), expected, "{path:?}");
    }
}

#[test]
fn the_method_is_read_only_when_a_rule_naming_methods_matches_the_path() {
    let c = config();
    let reads = Cell::new(0);
    let method = || {
        reads.set(reads.get() + 1);
        b"POST".to_vec()
    };
    assert_eq!(route(&c, b"/static/app.js", method), Route::Public);
    assert_eq!(route(&c, b"/admin/x", method), ADMIN);
    assert_eq!(route(&c, b"/elsewhere", method), ANY_SESSION);
    assert_eq!(reads.get(), 0);
    assert_eq!(route(&c, b"/api/data", method), WRITE);
    assert_eq!(reads.get(), 1);
}

#[test]
fn refusals_answer_400_or_403_json() {
    let bad = Refusal::Path(Semicolon).reply();
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("\"invalid_path\""), "{}", bad.body);
    let denied = Refusal::Denied(1).reply();
    assert_eq!(denied.status, 403);
    assert!(denied.body.contains("\"forbidden\""), "{}", denied.body);
}

#[test]
fn the_sessions_endpoint_and_paths_under_it_need_a_sidecar() {
    let without = config();
    assert_eq!(get(&without, b"/sessions"), ANY_SESSION, "the app's path");
    let with = Config::parse(
        br#"{"auth0": {"domain": "t.example", "api": {"identifier": "https://api"}, "cluster": "auth0"},
             "sidecar": {"cluster": "sc", "token": "t"},
             "session": {"cookie": {"signing_keys": ["0123456789abcdef0123456789abcdef0123456789ab"]}}}"#,
    )
    .unwrap();
    for path in [
        &b"/sessions"[..],
        b"/sessions?x=1",
        b"/sessions/",
        b"/sessions/abc",
        b"/sessions/logout-others",
        b"//sessions/abc",
        b"/%73essions",
    ] {
        assert_eq!(get(&with, path), Route::Sessions, "{path:?}");
    }
    for path in [&b"/sessionsx"[..], b"/session", b"/api/sessions"] {
        assert_eq!(get(&with, path), ANY_SESSION, "{path:?}");
    }
}
