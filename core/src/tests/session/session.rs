use super::*;
use crate::identity::ClaimValue;
use crate::session::sync::{session_from_json, session_json};

fn full() -> Session {
    let mut s = Session::new(
        SessionHash([7; 16]),
        Identity {
            sub: "auth0|alice".into(),
            email: Some("alice@example.com".into()),
            name: Some("Alice".into()),
            sid: Some("sid-123".into()),
            permissions: vec!["read:data".into(), "write:data".into()],
            roles: vec!["admin".into()],
            groups: vec!["team_moco".into(), "mozilliansorg_nda".into()],
            email_verified: Some(true),
            claims: vec![
                ("staff".into(), ClaimValue::Flag(true)),
                (
                    "teams".into(),
                    ClaimValue::List(vec!["a".into(), "b".into()]),
                ),
                ("title".into(), ClaimValue::Text("Engineer, Firefox".into())),
            ],
        },
        1_000,
        60_000,
        3_600_000,
    );
    s.user_agent = Some("Firefox 120 on Linux".into());
    s
}

#[test]
fn a_record_keeps_every_field_of_a_session() {
    let session = full();
    let mut bytes = Vec::new();
    encode_record(&session, 0, &mut bytes);
    let views: Vec<RecordView<'_>> = records(&bytes).collect();
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].to_session(), session);
    let permissions: Vec<&[u8]> = list_items(views[0].permissions()).collect();
    assert_eq!(permissions, [&b"read:data"[..], &b"write:data"[..]]);
    assert_eq!(views[0].roles(), b"admin");
}

#[test]
fn records_follow_each_other_in_a_bucket() {
    let mut a = full();
    let mut b = full();
    b.hash = SessionHash([8; 16]);
    b.identity.permissions.clear();
    a.identity.roles = vec!["r1".into(), "r2".into()];
    let mut bytes = Vec::new();
    encode_record(&a, 0, &mut bytes);
    encode_record(&b, 0, &mut bytes);
    let back: Vec<Session> = records(&bytes).map(|r| r.to_session()).collect();
    assert_eq!(back, [a, b]);
}

#[test]
fn an_overlong_list_keeps_only_whole_items_that_fit() {
    let mut s = full();
    s.identity.permissions = (0..200).map(|i| format!("perm:{i:04}")).collect();
    let mut bytes = Vec::new();
    encode_record(&s, 0, &mut bytes);
    let view = records(&bytes).next().map(|r| r.to_session());
    let kept = view.map(|v| v.identity.permissions).unwrap_or_default();
    assert!(!kept.is_empty() && kept.len() < 200);
    assert_eq!(kept[..], s.identity.permissions[..kept.len()]);
    assert!(kept.iter().map(|p| p.len() + 1).sum::<usize>() <= MAX_LIST_BYTES + 1);
}

#[test]
fn items_that_could_split_a_list_are_never_stored() {
    let mut s = full();
    s.identity.permissions = vec!["read:data write:all".into(), "ok".into(), "".into()];
    s.identity.roles = vec!["a\nb".into()];
    let mut bytes = Vec::new();
    encode_record(&s, 0, &mut bytes);
    let back = records(&bytes).next().map(|r| r.to_session());
    let back = back.map(|b| b.identity).unwrap_or_default();
    assert_eq!(back.permissions, ["ok"]);
    assert!(back.roles.is_empty());
}

#[test]
fn a_truncated_record_is_not_read() {
    let mut bytes = Vec::new();
    encode_record(&full(), 0, &mut bytes);
    for cut in 0..bytes.len() {
        assert_eq!(records(&bytes[..cut]).count(), 0, "cut at {cut}");
    }
}

#[test]
fn the_wire_form_round_trips_and_older_answers_read_as_empty() {
    let session = full();
    assert_eq!(session_from_json(&session_json(&session)), Some(session));
    let old = serde_json::json!({
        "hash": "07070707070707070707070707070707", "sub": "auth0|alice",
        "created": 1, "idle_deadline": 2, "max_deadline": 3,
    });
    let back = session_from_json(&old).map(|s| (s.identity, s.user_agent));
    let (identity, user_agent) = back.unwrap_or_default();
    assert_eq!(identity.sub, "auth0|alice");
    assert!(identity.permissions.is_empty() && identity.roles.is_empty());
    assert_eq!((identity.sid, user_agent), (None, None));
}

#[test]
fn hostile_wire_lists_grant_nothing_extra() {
    let v = serde_json::json!({
        "hash": "07070707070707070707070707070707", "sub": "s",
        "created": 1, "idle_deadline": 2, "max_deadline": 3,
        "permissions": ["a b", 5, "ok", "x".repeat(300)], "roles": "admin",
        "sid": "bad\u{0}sid", "user_agent": "u".repeat(500),
    });
    let s = session_from_json(&v).unwrap_or_else(full);
    assert_eq!(s.identity.permissions, ["ok"]);
    assert!(s.identity.roles.is_empty());
    assert_eq!((s.identity.sid, s.user_agent), (None, None));
}
