use serde_json::{json, Value};

use super::*;
use crate::testing::{b64, keyset, sign, ISSUER, NOW_SECS};

const CLIENT: &str = "web-client";
const NOW: Millis = NOW_SECS * 1_000;

fn tenant() -> Tenant<'static> {
    Tenant {
        issuer: ISSUER,
        client_id: CLIENT,
    }
}

fn claims() -> Value {
    json!({"iss": ISSUER, "aud": CLIENT, "iat": NOW_SECS, "exp": NOW_SECS + 120,
           "jti": "jti-1", "sid": "sid-1", "sub": "auth0|alice",
           "events": {EVENT: {}}})
}

fn header() -> Value {
    json!({"alg": "RS256", "typ": "logout+jwt", "kid": "k1"})
}

fn token(header: &Value, claims: &Value) -> String {
    sign(header, claims, 0)
}

fn checked(header: &Value, claims: &Value) -> Result<LogoutToken, CheckError> {
    check(&token(header, claims), Some(&keyset()), &tenant(), NOW)
}

fn refused(header: &Value, claims: &Value) -> Refusal {
    match checked(header, claims) {
        Err(CheckError::Refused(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn with(change: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut c = claims();
    change(c.as_object_mut().unwrap());
    c
}

#[test]
fn a_good_token_names_its_session_and_user() {
    let t = checked(&header(), &claims()).unwrap();
    assert_eq!(t.sid.as_deref(), Some("sid-1"));
    assert_eq!(t.sub.as_deref(), Some("auth0|alice"));
    assert_eq!(t.jti, "jti-1");
    assert_eq!(t.target(), Some(Target::Sid("sid-1")));
    assert_eq!(
        t.remember_until(),
        (NOW_SECS + MAX_AGE_SECS + LEEWAY_SECS) * 1_000
    );
}

#[test]
fn sub_only_ends_the_users_sessions_up_to_the_end_of_the_iat_second() {
    let t = checked(&header(), &with(|c| drop(c.remove("sid")))).unwrap();
    assert_eq!(
        t.target(),
        Some(Target::UserBefore {
            sub: "auth0|alice",
            before: (NOW_SECS + 1) * 1_000
        })
    );
}

#[test]
fn typ_may_be_absent_or_the_media_type_form() {
    let mut h = header();
    h.as_object_mut().unwrap().remove("typ");
    assert!(checked(&h, &claims()).is_ok());
    h["typ"] = json!("application/logout+jwt");
    assert!(checked(&h, &claims()).is_ok());
    h["typ"] = json!("JWT");
    assert_eq!(refused(&h, &claims()), Refusal::WrongType);
}

#[test]
fn only_rs256_is_accepted() {
    for alg in ["none", "None", "HS256", "RS384", "PS256", "ES256"] {
        let mut h = header();
        h["alg"] = json!(alg);
        assert_eq!(
            refused(&h, &claims()),
            Refusal::UnsupportedAlgorithm,
            "{alg}"
        );
    }
    let mut h = header();
    h.as_object_mut().unwrap().remove("alg");
    assert_eq!(refused(&h, &claims()), Refusal::UnsupportedAlgorithm);
}

#[test]
fn alg_none_with_an_empty_signature_is_refused_before_any_key_lookup() {
    let input = format!(
        "{}.{}",
        b64(json!({"alg": "none", "kid": "k1"}).to_string().as_bytes()),
        b64(claims().to_string().as_bytes())
    );
    for t in [format!("{input}."), input.clone()] {
        assert_eq!(
            check(&t, None, &tenant(), NOW),
            Err(CheckError::Refused(Refusal::UnsupportedAlgorithm))
        );
    }
}

#[test]
fn hs256_keyed_with_anything_is_refused() {
    // The signature bytes do not matter: the header alone refuses it.
    let input = format!(
        "{}.{}",
        b64(json!({"alg": "HS256", "typ": "logout+jwt", "kid": "k1"})
            .to_string()
            .as_bytes()),
        b64(claims().to_string().as_bytes())
    );
    let t = format!("{input}.{}", b64(b"0123456789abcdef0123456789abcdef"));
    assert_eq!(
        check(&t, Some(&keyset()), &tenant(), NOW),
        Err(CheckError::Refused(Refusal::UnsupportedAlgorithm))
    );
}

#[test]
fn a_forged_or_tampered_token_is_refused() {
    // Signed by another key under our kid.
    let forged = sign(&header(), &claims(), 1);
    assert_eq!(
        check(&forged, Some(&keyset()), &tenant(), NOW),
        Err(CheckError::Refused(Refusal::BadSignature))
    );
    // Our signature over other claims.
    let good = token(&header(), &claims());
    let parts: Vec<&str> = good.split('.').collect();
    let other = b64(with(|c| {
        c.insert("sub".into(), json!("auth0|mallory"));
    })
    .to_string()
    .as_bytes());
    let tampered = format!("{}.{}.{}", parts[0], other, parts[2]);
    assert_eq!(
        check(&tampered, Some(&keyset()), &tenant(), NOW),
        Err(CheckError::Refused(Refusal::BadSignature))
    );
}

#[test]
fn an_unknown_kid_or_no_keys_asks_for_keys() {
    let mut h = header();
    h["kid"] = json!("rotated");
    assert_eq!(checked(&h, &claims()), Err(CheckError::UnknownKey));
    assert_eq!(
        check(&token(&header(), &claims()), None, &tenant(), NOW),
        Err(CheckError::UnknownKey)
    );
}

#[test]
fn issuer_and_audience_must_be_ours() {
    assert_eq!(
        refused(
            &header(),
            &with(|c| drop(c.insert("iss".into(), json!("https://tenant.test"))))
        ),
        Refusal::WrongIssuer
    );
    assert_eq!(
        refused(
            &header(),
            &with(|c| drop(c.insert("aud".into(), json!("other-client"))))
        ),
        Refusal::WrongAudience
    );
    assert_eq!(
        refused(&header(), &with(|c| drop(c.remove("aud")))),
        Refusal::WrongAudience
    );
    let in_a_list = with(|c| drop(c.insert("aud".into(), json!(["other", CLIENT]))));
    assert!(checked(&header(), &in_a_list).is_ok());
}

#[test]
fn iat_must_be_within_two_minutes_either_way_and_exp_not_past() {
    for iat in [NOW_SECS - MAX_AGE_SECS, NOW_SECS + MAX_AGE_SECS] {
        let c = with(|c| {
            c.insert("iat".into(), json!(iat));
            c.insert("exp".into(), json!(iat + 600));
        });
        assert!(checked(&header(), &c).is_ok(), "iat {iat}");
    }
    for iat in [
        json!(NOW_SECS - MAX_AGE_SECS - 1),
        json!(NOW_SECS + MAX_AGE_SECS + 1),
        json!("now"),
        json!(-5),
    ] {
        let c = with(|c| drop(c.insert("iat".into(), iat.clone())));
        assert_eq!(refused(&header(), &c), Refusal::Expired, "iat {iat}");
    }
    assert_eq!(
        refused(&header(), &with(|c| drop(c.remove("iat")))),
        Refusal::Expired
    );
    let expired = with(|c| drop(c.insert("exp".into(), json!(NOW_SECS - LEEWAY_SECS - 1))));
    assert_eq!(refused(&header(), &expired), Refusal::Expired);
    assert!(checked(&header(), &with(|c| drop(c.remove("exp")))).is_ok());
}

#[test]
fn the_logout_event_is_required() {
    for events in [
        json!(null),
        json!({}),
        json!({EVENT: "yes"}),
        json!({"http://schemas.openid.net/event/other": {}}),
        json!([EVENT]),
    ] {
        let c = with(|c| drop(c.insert("events".into(), events.clone())));
        assert_eq!(refused(&header(), &c), Refusal::NotLogoutEvent, "{events}");
    }
    assert_eq!(
        refused(&header(), &with(|c| drop(c.remove("events")))),
        Refusal::NotLogoutEvent
    );
}

#[test]
fn sid_or_sub_is_required_and_must_be_storable() {
    let neither = with(|c| {
        c.remove("sid");
        c.remove("sub");
    });
    assert_eq!(refused(&header(), &neither), Refusal::NoSubject);
    for bad in [json!(""), json!(7), json!("a\nb"), json!("x".repeat(300))] {
        let c = with(|c| drop(c.insert("sid".into(), bad.clone())));
        assert_eq!(refused(&header(), &c), Refusal::NoSubject, "{bad}");
    }
}

#[test]
fn a_nonce_means_an_id_token_not_a_logout_token() {
    let c = with(|c| drop(c.insert("nonce".into(), json!("n"))));
    assert_eq!(refused(&header(), &c), Refusal::NoncePresent);
}

#[test]
fn jti_is_required() {
    for bad in [
        None,
        Some(json!("")),
        Some(json!(5)),
        Some(json!("j".repeat(MAX_JTI_BYTES + 1))),
    ] {
        let c = with(|c| match &bad {
            None => drop(c.remove("jti")),
            Some(v) => drop(c.insert("jti".into(), v.clone())),
        });
        assert_eq!(refused(&header(), &c), Refusal::NoJti, "{bad:?}");
    }
}

#[test]
fn garbage_is_malformed_never_a_panic() {
    for t in [
        "",
        "abc",
        "a.b",
        "a.b.c",
        "....",
        "eyJhbGciOiJSUzI1NiJ9.e30",
        "\u{0}.\u{0}.\u{0}",
    ] {
        match check(t, Some(&keyset()), &tenant(), NOW) {
            Err(CheckError::Refused(Refusal::Malformed(_) | Refusal::UnsupportedAlgorithm)) => {}
            other => panic!("{t:?}: {other:?}"),
        }
    }
    let huge = format!(
        "{}.{}.x",
        b64(header().to_string().as_bytes()),
        "A".repeat(MAX_TOKEN_BYTES)
    );
    assert!(matches!(
        check(&huge, Some(&keyset()), &tenant(), NOW),
        Err(CheckError::Refused(Refusal::Malformed(_)))
    ));
}

#[test]
fn the_form_field_is_decoded_and_must_be_single() {
    assert_eq!(token_from_form(b"logout_token=a.b.c").unwrap(), "a.b.c");
    assert_eq!(
        token_from_form(b"x=1&logout%5Ftoken=a%2Eb.c&y").unwrap(),
        "a.b.c"
    );
    assert!(matches!(token_from_form(b""), Err(Refusal::Malformed(_))));
    assert!(matches!(
        token_from_form(b"token=a.b.c"),
        Err(Refusal::Malformed(_))
    ));
    assert!(matches!(
        token_from_form(b"logout_token=a&logout_token=b"),
        Err(Refusal::Malformed(_))
    ));
    assert!(matches!(
        token_from_form(b"logout_token=%ff"),
        Err(Refusal::Malformed(_))
    ));
    let big = [b"logout_token=".as_slice(), &[b'a'; MAX_BODY_BYTES]].concat();
    assert!(matches!(token_from_form(&big), Err(Refusal::Malformed(_))));
}

#[test]
fn answers_follow_the_spec() {
    let ok = accepted();
    assert_eq!(ok.status, 200);
    assert!(ok
        .headers
        .contains(&("cache-control".into(), "no-store".into())));
    let bad = Refusal::Replayed.reply();
    assert_eq!(bad.status, 400);
    let body: Value = serde_json::from_str(&bad.body).unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(body["reason"], "replayed");
    assert!(bad
        .headers
        .contains(&("cache-control".into(), "no-store".into())));
}

#[test]
fn fetches_are_one_per_interval_and_only_when_useful() {
    // Never fetched: fetch.
    assert!(fetch_due(None, None, false, NOW));
    // Just tried: not again within the interval, whatever the reason.
    assert!(!fetch_due(None, Some(NOW - 1_000), true, NOW));
    assert!(!fetch_due(
        Some(NOW - 1_000),
        Some(NOW - FETCH_INTERVAL_MS + 1),
        true,
        NOW
    ));
    assert!(fetch_due(
        Some(NOW - 1_000),
        Some(NOW - FETCH_INTERVAL_MS),
        true,
        NOW
    ));
    // Fresh keys and a known kid: no fetch.
    assert!(!fetch_due(
        Some(NOW - 1_000),
        Some(NOW - 60_000),
        false,
        NOW
    ));
    // Old keys: refreshed.
    assert!(fetch_due(
        Some(NOW - REFRESH_AFTER_MS),
        Some(NOW - REFRESH_AFTER_MS),
        false,
        NOW
    ));
}
