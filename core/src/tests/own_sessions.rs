use serde_json::{json, Value};

use super::*;

const BASE: &str = "/sessions";
const CALLER: SessionHash = SessionHash([7; 16]);

#[test]
fn paths_and_methods_name_what_is_asked() {
    assert_eq!(ask(BASE, b"/sessions", b"GET"), Ok(Ask::List));
    assert_eq!(ask(BASE, b"/sessions/", b"GET"), Ok(Ask::List));
    assert_eq!(
        ask(BASE, b"/sessions/logout-others", b"POST"),
        Ok(Ask::LogoutOthers)
    );
    assert_eq!(
        ask(BASE, b"/sessions/0a1b2c", b"DELETE"),
        Ok(Ask::End("0a1b2c".into()))
    );
    for (path, method, allow) in [
        (&b"/sessions"[..], &b"DELETE"[..], "GET"),
        (b"/sessions/logout-others", b"GET", "POST"),
        (b"/sessions/0a1b", b"GET", "DELETE"),
        (b"/sessions/0a1b", b"POST", "DELETE"),
    ] {
        let reply = ask(BASE, path, method).unwrap_err();
        assert_eq!(reply.status, 405);
        assert!(reply.headers.contains(&("allow".into(), allow.into())));
    }
    for path in [
        &b"/sessions/../admin"[..],
        b"/sessions/0a1b/x",
        b"/sessions/%30",
        b"/sessions/not-hex",
    ] {
        assert_eq!(ask(BASE, path, b"DELETE").unwrap_err().status, 404);
    }
    let long = format!("/sessions/{}", "a".repeat(65));
    assert_eq!(
        ask(BASE, long.as_bytes(), b"DELETE").unwrap_err().status,
        404
    );
}

#[test]
fn cross_site_requests_never_change_sessions() {
    let ok = |site: Option<&str>, origin: Option<&str>| {
        same_origin(
            site.map(str::as_bytes),
            origin.map(str::as_bytes),
            "https",
            "app.example",
        )
    };
    assert!(ok(Some("same-origin"), None));
    assert!(ok(Some("none"), Some("https://evil.example")));
    assert!(!ok(Some("cross-site"), Some("https://app.example")));
    assert!(!ok(Some("same-site"), None));
    assert!(ok(None, Some("https://app.example")));
    assert!(!ok(None, Some("https://evil.example")));
    assert!(!ok(None, Some("null")));
    assert!(
        ok(None, None),
        "not a browser: curl with Authorization: Session"
    );
    assert_eq!(cross_site().status, 403);
}

#[test]
fn sidecar_calls_carry_the_callers_hash() {
    let h = CALLER.hex();
    assert_eq!(
        sidecar_call(&Ask::List, &CALLER),
        ("GET", format!("/sync/own/{h}"))
    );
    assert_eq!(
        sidecar_call(&Ask::End("ab".into()), &CALLER),
        ("DELETE", format!("/sync/own/{h}/ab"))
    );
    assert_eq!(
        sidecar_call(&Ask::LogoutOthers, &CALLER),
        ("POST", format!("/sync/own/{h}/logout-others"))
    );
}

#[test]
fn the_list_shows_last_seen_from_the_idle_deadline() {
    let body = json!({"sessions": [
        {"id": "aa", "created": 1_000_000, "idle_deadline": 1_000_000 + 3_600_000 + 60_000,
         "max_deadline": 90_000_000, "user_agent": "Firefox 120 on Linux", "current": true},
        {"id": "bb", "created": 2_000_000, "idle_deadline": 2_000_000 + 60_000,
         "max_deadline": 90_000_000, "current": false},
        {"no": "id"}
    ]});
    let a = on_answer(
        &Ask::List,
        &CALLER,
        Some(200),
        body.to_string().as_bytes(),
        3_600_000,
    );
    assert_eq!(a.reply.status, 200);
    assert!(a.ended.is_empty());
    let list: Value = serde_json::from_str(&a.reply.body).unwrap();
    assert_eq!(
        list,
        json!([
            {"id": "aa", "created": rfc3339(1_000_000), "last_seen": rfc3339(1_060_000),
             "expires": rfc3339(90_000_000), "user_agent": "Firefox 120 on Linux", "current": true},
            // Idle deadline less than a window after creation: last seen is the creation.
            {"id": "bb", "created": rfc3339(2_000_000), "last_seen": rfc3339(2_000_000),
             "expires": rfc3339(90_000_000), "current": false},
        ])
    );
}

#[test]
fn ending_reports_the_count_and_what_to_drop_here() {
    let other = SessionHash([8; 16]);
    let ended = |id: &str, hash: &SessionHash| {
        let body = json!({"ended": [hash.hex()]}).to_string();
        on_answer(&Ask::End(id.into()), &CALLER, Some(200), body.as_bytes(), 0)
    };
    let a = ended("aa", &other);
    assert_eq!(a.reply.status, 200);
    assert_eq!(a.reply.body, r#"{"ended":1}"#);
    assert_eq!(a.ended, vec![other]);
    assert!(!a.ended_caller);
    let a = ended("cc", &CALLER);
    assert!(a.ended_caller);
    let none = on_answer(
        &Ask::LogoutOthers,
        &CALLER,
        Some(200),
        br#"{"ended":[]}"#,
        0,
    );
    assert_eq!(none.reply.body, r#"{"ended":0}"#);
}

#[test]
fn someone_elses_or_an_unknown_id_is_the_same_404() {
    let a = on_answer(
        &Ask::End("aa".into()),
        &CALLER,
        Some(200),
        br#"{"ended":[]}"#,
        0,
    );
    assert_eq!(a.reply.status, 404);
    assert!(a.ended.is_empty());
}

#[test]
fn a_caller_the_sidecar_does_not_know_is_unauthorized_and_failures_fail_closed() {
    let a = on_answer(
        &Ask::List,
        &CALLER,
        Some(404),
        br#"{"error":"no_session"}"#,
        0,
    );
    assert_eq!(a.reply.status, 401);
    for (status, body) in [
        (None, &b""[..]),
        (Some(500), b"{}"),
        (Some(404), b"{}"),
        (Some(200), b"not json"),
        (Some(200), br#"{"sessions": 5}"#),
    ] {
        let a = on_answer(&Ask::List, &CALLER, status, body, 0);
        assert_eq!(a.reply.status, 503, "{status:?}");
        let e = on_answer(&Ask::LogoutOthers, &CALLER, status, body, 0);
        assert_eq!(e.reply.status, 503);
        assert!(e.ended.is_empty());
    }
}
