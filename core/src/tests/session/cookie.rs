use super::*;
use crate::config::SameSite;

fn settings() -> CookieSettings {
    CookieSettings {
        max_lifetime: 86_400,
        ..CookieSettings::default()
    }
}

#[test]
fn absent_cookie_leaves_header_alone() {
    let (found, edit) = take_session_cookies(b"a=1; b=2", "session");
    assert!(found.is_empty());
    assert_eq!(edit, CookieEdit::Unchanged);
}

#[test]
fn only_our_cookie_removes_header() {
    let (found, edit) = take_session_cookies(b"session=abc", "session");
    assert_eq!(found, vec![&b"abc"[..]]);
    assert_eq!(edit, CookieEdit::Remove);
}

#[test]
fn others_are_kept_in_order() {
    let (found, edit) = take_session_cookies(b"a=1;  session=abc ;b=\"x y\"; c", "session");
    assert_eq!(found, vec![&b"abc"[..]]);
    assert_eq!(edit, CookieEdit::Replace(b"a=1; b=\"x y\"; c".to_vec()));
}

#[test]
fn duplicates_are_all_candidates_and_all_removed() {
    let (found, edit) = take_session_cookies(b"session=one; x=1; session=\"two\"", "session");
    assert_eq!(found, vec![&b"one"[..], &b"two"[..]]);
    assert_eq!(edit, CookieEdit::Replace(b"x=1".to_vec()));
}

#[test]
fn a_flood_of_duplicates_is_capped_but_all_stripped() {
    let header = "session=x; ".repeat(1_000);
    let (found, edit) = take_session_cookies(header.as_bytes(), "session");
    assert_eq!(found.len(), MAX_CANDIDATES);
    assert_eq!(edit, CookieEdit::Remove);
}

#[test]
fn names_match_exactly() {
    let (found, edit) = take_session_cookies(b"Session=a; sessionx=b; xsession=c", "session");
    assert!(found.is_empty());
    assert_eq!(edit, CookieEdit::Unchanged);
}

#[test]
fn non_ascii_bytes_do_not_break_parsing() {
    let (found, edit) = take_session_cookies(b"\xff\xfe=\x80; session=ok", "session");
    assert_eq!(found, vec![&b"ok"[..]]);
    assert_eq!(edit, CookieEdit::Replace(b"\xff\xfe=\x80".to_vec()));
}

#[test]
fn set_cookie_has_every_attribute() {
    let mut s = settings();
    s.domain = Some("example.com".into());
    let header = set_cookie(&s, "SECRET", 0, 86_400_000);
    assert_eq!(
        header,
        "session=SECRET; Expires=Fri, 02 Jan 1970 00:00:00 GMT; Max-Age=86400; Path=/; \
         Domain=example.com; Secure; HttpOnly; SameSite=Lax"
    );
}

#[test]
fn flags_follow_settings() {
    let mut s = settings();
    s.secure = false;
    s.httponly = false;
    s.samesite = SameSite::Strict;
    s.path = "/app".into();
    let header = set_cookie(&s, "v", 0, 1_000);
    assert!(header.ends_with("; Path=/app; SameSite=Strict"), "{header}");
}

#[test]
fn clear_cookie_expires_in_the_past() {
    assert_eq!(
        clear_cookie(&settings()),
        "session=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax"
    );
}
