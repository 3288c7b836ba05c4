use super::*;
use crate::testing::*;
use serde_json::json;

fn env<'a>(config: &'a Config, keys: Option<&'a KeySet>) -> LoginEnv<'a> {
    LoginEnv {
        config,
        keys,
        now: NOW_SECS * 1_000,
    }
}

fn bearer(token: &str) -> Vec<u8> {
    format!("Bearer {token}").into_bytes()
}

fn start(token: &str, keys: Option<&KeySet>, refetch: bool) -> (Login, LoginStep) {
    start_with(&config(), token, keys, refetch)
}

/// No scope required, opaque tokens accepted: the only configuration they may log in with.
fn opaque_config() -> Config {
    Config::parse(
        format!(
            r#"{{"auth0": {{"domain": "tenant.test", "api": {{"identifier": "{AUDIENCE}"}},
                 "cluster": "auth0", "accept_opaque": true}}}}"#
        )
        .as_bytes(),
    )
    .unwrap()
}

fn start_with(
    config: &Config,
    token: &str,
    keys: Option<&KeySet>,
    refetch: bool,
) -> (Login, LoginStep) {
    let mut login = Login::new(Some(&bearer(token))).unwrap();
    let step = login.start(&env(config, keys), &mut |_| refetch);
    (login, step)
}

fn metric(step: &LoginStep) -> Option<Metric> {
    match step {
        LoginStep::Fail(_, m) => Some(*m),
        _ => None,
    }
}

#[test]
fn missing_or_garbage_authorization_is_401_without_callout() {
    let (reply, metric) = Login::new(None).unwrap_err();
    assert_eq!(reply.status, 401);
    assert_eq!(metric, Metric::LoginInvalidToken);
    assert!(reply.headers.contains(&(
        "www-authenticate".into(),
        "Bearer error=\"invalid_token\"".into()
    )));
    assert!(Login::new(Some(b"Bearer a.b")).is_err());
}

#[test]
fn jwt_for_the_api_only_creates_a_session_from_its_claims() {
    let keys = keyset();
    let (_, step) = start(&jwt(&claims()), Some(&keys), false);
    assert_eq!(
        step,
        LoginStep::Create(crate::identity::Identity {
            sub: "auth0|alice".into(),
            email: Some("alice@example.com".into()),
            name: None,
            permissions: vec!["openid".into(), "read:data".into()],
            ..Default::default()
        })
    );
}

#[test]
fn the_session_gets_the_tokens_permissions_and_roles_from_the_configured_claim() {
    let mut config = config();
    config.auth0.roles_claim = Some("https://app.example/roles".into());
    let mut c = claims();
    c["permissions"] = json!(["read:data", "write:data"]);
    c["https://app.example/roles"] = json!(["admin"]);
    let keys = keyset();
    let mut login = Login::new(Some(&bearer(&jwt(&c)))).unwrap();
    let LoginStep::Create(identity) = login.start(&env(&config, Some(&keys)), &mut |_| false)
    else {
        panic!("expected a session");
    };
    assert_eq!(identity.permissions, ["read:data", "write:data"]);
    assert_eq!(identity.roles, ["admin"]);
}

/// A login whose token is also for the `/userinfo` audience.
fn userinfo_login() -> (Login, LoginStep) {
    let keys = keyset();
    let mut c = claims();
    c["aud"] = json!([AUDIENCE, "https://tenant.test/userinfo"]);
    start(&jwt(&c), Some(&keys), false)
}

#[test]
fn jwt_with_the_userinfo_audience_fetches_the_profile_once() {
    let (mut login, step) = userinfo_login();
    assert_eq!(step, LoginStep::Call(Callout::Userinfo));
    let body = br#"{"sub": "auth0|alice", "email": "alice@new.example", "name": "Alice"}"#;
    match login.on_userinfo(Some(200), body) {
        LoginStep::Create(id) => {
            assert_eq!(id.email.as_deref(), Some("alice@new.example"));
            assert_eq!(id.name.as_deref(), Some("Alice"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        metric(&login.on_userinfo(Some(200), body)),
        Some(Metric::LoginIdpUnavailable),
        "no second call"
    );
}

#[test]
fn userinfo_for_another_subject_is_refused() {
    let (mut login, _) = userinfo_login();
    let step = login.on_userinfo(Some(200), br#"{"sub": "auth0|mallory"}"#);
    assert_eq!(metric(&step), Some(Metric::LoginInvalidToken));
}

#[test]
fn opaque_tokens_are_checked_by_userinfo() {
    let (mut login, step) = start_with(&opaque_config(), "opaqueTOKEN123", None, false);
    assert_eq!(step, LoginStep::Call(Callout::Userinfo));
    assert_eq!(login.token(), "opaqueTOKEN123");
    match login.on_userinfo(
        Some(200),
        br#"{"sub": "auth0|olivia", "email": "o@example.com"}"#,
    ) {
        LoginStep::Create(id) => assert_eq!(id.sub, "auth0|olivia"),
        other => panic!("{other:?}"),
    }
}

/// Issue 11 item 1: `/userinfo` accepts any token of the tenant (another application's, one
/// asked for without `audience`), so an opaque token logs in only when accepted explicitly,
/// and never while a scope is required: its scopes cannot be checked.
#[test]
fn opaque_tokens_are_refused_unless_accepted_and_no_scope_is_required() {
    let mut cfg = opaque_config();
    cfg.auth0.accept_opaque = false;
    let (_, step) = start_with(&cfg, "opaqueTOKEN123", None, false);
    match step {
        LoginStep::Fail(reply, metric) => {
            assert_eq!((reply.status, metric), (401, Metric::LoginWrongAudience));
            assert!(reply.body.contains("invalid_token"), "{}", reply.body);
        }
        other => panic!("no /userinfo call for a refused opaque token: {other:?}"),
    }
    for accept in [false, true] {
        let mut cfg = config();
        cfg.auth0.accept_opaque = accept;
        let (_, step) = start_with(&cfg, "opaqueTOKEN123", None, false);
        match step {
            LoginStep::Fail(reply, metric) => {
                assert_eq!(
                    (reply.status, metric),
                    (403, Metric::LoginInsufficientScope)
                );
                assert!(reply.body.contains("insufficient_scope"), "{}", reply.body);
            }
            other => panic!("accept_opaque {accept}: {other:?}"),
        }
    }
    // Five-segment (encrypted) tokens are opaque to us too.
    let (_, step) = start("a.b.c.d.e", None, false);
    assert_eq!(metric(&step), Some(Metric::LoginInsufficientScope));
}

#[test]
fn userinfo_answers_map_to_401_or_503() {
    for (status, body, expected) in [
        (Some(401), &b""[..], Metric::LoginInvalidToken),
        (Some(403), b"", Metric::LoginInvalidToken),
        (Some(429), b"", Metric::LoginIdpUnavailable),
        (Some(500), b"", Metric::LoginIdpUnavailable),
        (None, b"", Metric::LoginIdpUnavailable),
        (Some(200), b"not json", Metric::LoginIdpUnavailable),
        (
            Some(200),
            b"{\"email\": \"no sub\"}",
            Metric::LoginIdpUnavailable,
        ),
    ] {
        let (mut login, _) = start_with(&opaque_config(), "opaque", None, false);
        let step = login.on_userinfo(status, body);
        assert_eq!(metric(&step), Some(expected), "{status:?}");
        if let LoginStep::Fail(reply, _) = step {
            let want = if expected == Metric::LoginIdpUnavailable {
                503
            } else {
                401
            };
            assert_eq!(reply.status, want);
        }
    }
}

#[test]
fn unknown_kid_refetches_once_then_refuses() {
    let keys = keyset();
    let token = sign(&json!({"alg": "RS256", "kid": "k2"}), &claims(), 1);
    let (_, step) = start(&token, Some(&keys), true);
    assert_eq!(step, LoginStep::Call(Callout::Jwks));
    let (_, step) = start(&token, Some(&keys), false);
    assert_eq!(
        metric(&step),
        Some(Metric::LoginInvalidToken),
        "no refetch allowed: 401"
    );
}

#[test]
fn rotation_is_picked_up_after_the_refetch() {
    let config = config();
    let token = sign(&json!({"alg": "RS256", "kid": "k2"}), &claims(), 1);
    let mut login = Login::new(Some(&bearer(&token))).unwrap();
    let old = keyset();
    assert_eq!(
        login.start(&env(&config, Some(&old)), &mut |_| true),
        LoginStep::Call(Callout::Jwks)
    );
    let rotated = KeySet::parse(
        json!({"keys": [jwk("k1", 0), jwk("k2", 1)]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert!(matches!(
        login.on_jwks(&env(&config, Some(&rotated)), true),
        LoginStep::Create(_)
    ));
}

#[test]
fn no_keys_at_all_is_503_not_401() {
    let token = jwt(&claims());
    let (_, step) = start(&token, None, false);
    assert_eq!(metric(&step), Some(Metric::LoginIdpUnavailable));
    let cfg = config();
    let mut asked = None;
    Login::new(Some(&bearer(&token)))
        .unwrap()
        .start(&env(&cfg, None), &mut |have_keys| {
            asked = Some(have_keys);
            false
        });
    assert_eq!(
        asked,
        Some(false),
        "the fetch limiter is told no keys are cached"
    );
    let config = config();
    let mut login = Login::new(Some(&bearer(&token))).unwrap();
    assert_eq!(
        login.start(&env(&config, None), &mut |_| true),
        LoginStep::Call(Callout::Jwks)
    );
    assert_eq!(
        metric(&login.on_jwks(&env(&config, None), false)),
        Some(Metric::LoginIdpUnavailable)
    );
}

#[test]
fn refusals_carry_their_outcome() {
    let keys = keyset();
    let mut expired = claims();
    expired["exp"] = json!(NOW_SECS - 3_600);
    let mut wrong_aud = claims();
    wrong_aud["aud"] = json!("https://other/");
    let mut no_scope = claims();
    no_scope["scope"] = json!("openid");
    for (c, m, status) in [
        (expired, Metric::LoginExpired, 401),
        (wrong_aud, Metric::LoginWrongAudience, 401),
        (no_scope, Metric::LoginInsufficientScope, 403),
    ] {
        let (_, step) = start(&jwt(&c), Some(&keys), false);
        match step {
            LoginStep::Fail(reply, got) => {
                assert_eq!(got, m);
                assert_eq!(reply.status, status);
                let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
                let code = if status == 403 {
                    "insufficient_scope"
                } else {
                    "invalid_token"
                };
                assert_eq!(body["error"], code);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn error_bodies_never_echo_the_token() {
    let token = sign(&json!({"alg": "HS256", "kid": "k1"}), &claims(), 0);
    let (_, step) = start(&token, Some(&keyset()), false);
    let LoginStep::Fail(reply, _) = step else {
        panic!()
    };
    assert!(!reply.body.contains(&token[..20]));
}
