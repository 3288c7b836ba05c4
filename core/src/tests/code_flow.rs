use super::*;
use crate::config::Config;
use crate::testing::{keyset, sign, ISSUER, NOW_SECS};
use serde_json::json;

const NOW: Millis = NOW_SECS * 1_000;

fn config() -> Config {
    Config::parse(
        br#"{"auth0": {"domain": "tenant.test", "api": {"identifier": "https://api.example.com/"}, "cluster": "auth0"},
             "code_flow": {"client_id": "web-app", "logout_redirect": "https://app.example/bye"}}"#,
    )
    .unwrap()
}

fn started(path: &[u8]) -> (Reply, String, String) {
    let c = config();
    let cf = c.code_flow.clone().unwrap();
    let reply = start(
        &c,
        &cf,
        "https",
        "app.example",
        path,
        &[7; START_RANDOM_BYTES],
        NOW,
    );
    let location = reply
        .headers
        .iter()
        .find(|(k, _)| k == "location")
        .unwrap()
        .1
        .clone();
    let cookie = reply
        .headers
        .iter()
        .find(|(k, _)| k == "set-cookie")
        .unwrap()
        .1
        .clone();
    (reply, location, cookie)
}

fn param(location: &str, name: &str) -> String {
    let query = location.split_once('?').unwrap().1;
    query_param(query.as_bytes(), name).unwrap()
}

/// The callback request a browser makes after the redirect round trip.
fn callback_for(path: &[u8]) -> (CodeLogin, String) {
    let (_, location, cookie) = started(path);
    let state = param(&location, "state");
    let cookie_pair = cookie.split(';').next().unwrap().to_string();
    let query = format!("code=the-code&state={state}");
    let c = config();
    let cf = c.code_flow.clone().unwrap();
    let req = CallbackRequest {
        query: query.as_bytes(),
        cookie_header: Some(cookie_pair.as_bytes()),
        scheme: "https",
        authority: "app.example",
        html: true,
    };
    (
        CodeLogin::begin(&c, &cf, &req, NOW + 1_000).unwrap(),
        param(&location, "nonce"),
    )
}

#[test]
fn navigations_are_told_apart_from_api_calls() {
    let html = Some(&b"text/html,application/xhtml+xml,*/*;q=0.8"[..]);
    assert!(is_navigation(b"GET", html, None, None));
    assert!(is_navigation(b"GET", html, Some(b"navigate"), None));
    assert!(!is_navigation(b"POST", html, None, None));
    assert!(!is_navigation(
        b"GET",
        Some(b"application/json"),
        None,
        None
    ));
    assert!(!is_navigation(b"GET", Some(b"*/*"), None, None));
    assert!(!is_navigation(b"GET", None, None, None));
    assert!(
        !is_navigation(b"GET", html, Some(b"cors"), None),
        "fetch() from a page"
    );
    assert!(!is_navigation(b"GET", html, None, Some(b"XMLHttpRequest")));
}

#[test]
fn open_redirect_attempts_land_on_a_relative_path() {
    for (path, expected) in [
        (&b"/reports/2026?x=1"[..], "/reports/2026?x=1"),
        (b"/", "/"),
        (b"//evil.example/x", "/"),
        (b"/\\evil.example", "/"),
        (b"/%2F%2Fevil.example", "/"),
        (b"/%2f%2fevil.example", "/"),
        (b"/%5Cevil.example", "/"),
        (b"/%252F%252Fevil.example", "/"),
        (b"/%25252F%25252Fevil.example", "/"),
        (b"https://evil.example/", "/"),
        (b"evil.example", "/"),
        (b"/a\r\nLocation: https://evil.example", "/"),
        (b"/a b", "/"),
        (b"/\t/evil.example", "/"),
        (b"/%09/evil.example", "/"),
        (b"/caf\xc3\xa9", "/"),
        (b"", "/"),
        (b"/ok/%2Fnot-leading", "/ok/%2Fnot-leading"),
    ] {
        let got = safe_return_path(path);
        assert_eq!(got, expected, "{:?}", String::from_utf8_lossy(path));
        assert!(got.starts_with('/') && !got.starts_with("//") && !got.contains('\\'));
    }
}

#[test]
fn the_redirect_carries_state_nonce_and_a_pkce_challenge() {
    let (reply, location, cookie) = started(b"/reports");
    assert_eq!(reply.status, 302);
    assert!(
        location.starts_with(&format!("{ISSUER}authorize?")),
        "{location}"
    );
    assert_eq!(param(&location, "response_type"), "code");
    assert_eq!(param(&location, "client_id"), "web-app");
    assert_eq!(
        param(&location, "redirect_uri"),
        "https://app.example/callback"
    );
    assert_eq!(param(&location, "scope"), "openid profile email");
    assert_eq!(param(&location, "audience"), "https://api.example.com/");
    assert_eq!(param(&location, "code_challenge_method"), "S256");
    assert_eq!(param(&location, "state").len(), 43);
    assert_eq!(param(&location, "nonce").len(), 43);
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("Path=/callback")
            && cookie.contains("Max-Age=600")
    );
    assert!(cookie.starts_with(&format!(
        "session_login_{}=",
        &param(&location, "state")[..12]
    )));
}

#[test]
fn the_exchange_sends_the_verifier_matching_the_challenge() {
    let (_, location, _) = started(b"/");
    let (code, _) = callback_for(b"/");
    let body = String::from_utf8(code.exchange_body(&config().code_flow.unwrap())).unwrap();
    let verifier = query_param(body.as_bytes(), "code_verifier").unwrap();
    assert_eq!(
        b64(&Sha256::digest(verifier.as_bytes())),
        param(&location, "code_challenge")
    );
    assert_eq!(
        query_param(body.as_bytes(), "grant_type").unwrap(),
        "authorization_code"
    );
    assert_eq!(query_param(body.as_bytes(), "code").unwrap(), "the-code");
    assert_eq!(
        query_param(body.as_bytes(), "redirect_uri").unwrap(),
        "https://app.example/callback"
    );
    assert!(query_param(body.as_bytes(), "client_secret").is_none());
}

#[test]
fn callbacks_without_a_matching_login_cookie_are_refused_before_any_call() {
    let c = config();
    let cf = c.code_flow.clone().unwrap();
    let (_, location, cookie) = started(b"/");
    let state = param(&location, "state");
    let pair = cookie.split(';').next().unwrap().to_string();
    let other_state = "x".repeat(43);
    let cases: Vec<(String, Option<String>, u64, u32)> = vec![
        (format!("code=c&state={state}"), None, NOW, 400),
        (
            format!("code=c&state={other_state}"),
            Some(pair.clone()),
            NOW,
            400,
        ),
        (format!("state={state}"), Some(pair.clone()), NOW, 400),
        (
            format!("code=c&state={state}"),
            Some(pair.clone()),
            NOW + LOGIN_TTL_MS,
            400,
        ),
        (
            "error=access_denied&error_description=<script>".to_string(),
            Some(pair.clone()),
            NOW,
            401,
        ),
    ];
    for (query, cookie, at, status) in cases {
        let req = CallbackRequest {
            query: query.as_bytes(),
            cookie_header: cookie.as_deref().map(str::as_bytes),
            scheme: "https",
            authority: "app.example",
            html: true,
        };
        let (reply, _) = CodeLogin::begin(&c, &cf, &req, at).unwrap_err();
        assert_eq!(reply.status, status, "{query}");
        assert!(!reply.body.contains("<script>"), "error text is escaped");
    }
    // A tampered state in the cookie does not match either.
    let mut forged = pair.clone();
    forged.push('A');
    let query = format!("code=c&state={state}");
    let req = CallbackRequest {
        query: query.as_bytes(),
        cookie_header: Some(forged.as_bytes()),
        scheme: "https",
        authority: "app.example",
        html: false,
    };
    assert_eq!(
        CodeLogin::begin(&c, &cf, &req, NOW).unwrap_err().0.status,
        400
    );
}

fn id_token(nonce: &str, overrides: serde_json::Value) -> String {
    let mut claims = json!({"iss": ISSUER, "sub": "auth0|web", "aud": "web-app", "exp": NOW_SECS + 600,
                            "iat": NOW_SECS, "nonce": nonce, "email": "web@example.com", "name": "Web"});
    for (k, v) in overrides.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    sign(&json!({"alg": "RS256", "kid": "k1"}), &claims, 0)
}

fn exchange(code: &mut CodeLogin, answer: serde_json::Value) -> LoginStep {
    let keys = keyset();
    let env = IdTokenEnv {
        issuer: ISSUER,
        client_id: "web-app",
        keys: Some(&keys),
        now: NOW,
    };
    code.on_token(&env, Some(200), answer.to_string().as_bytes(), &mut |_| {
        false
    })
}

#[test]
fn a_good_id_token_creates_the_session_and_lands_on_the_page() {
    let (mut code, nonce) = callback_for(b"/reports?q=1");
    let step = exchange(
        &mut code,
        json!({"id_token": id_token(&nonce, json!({})), "access_token": "at"}),
    );
    assert_eq!(
        step,
        LoginStep::Create(Identity {
            sub: "auth0|web".into(),
            email: Some("web@example.com".into()),
            name: Some("Web".into()),
            ..Default::default()
        })
    );
    let c = config();
    let (location, clear) = code.landing(&c, c.code_flow.as_ref().unwrap());
    assert_eq!(location, "/reports?q=1");
    assert!(clear.contains("Max-Age=0"));
}

#[test]
fn without_email_the_profile_comes_from_userinfo() {
    let (mut code, nonce) = callback_for(b"/");
    let step = exchange(
        &mut code,
        json!({"id_token": id_token(&nonce, json!({"email": null})), "access_token": "AT"}),
    );
    assert_eq!(step, LoginStep::Call(Callout::Userinfo));
    assert_eq!(code.bearer(), "AT");
    match code.on_userinfo(
        Some(200),
        br#"{"sub": "auth0|web", "email": "u@example.com"}"#,
    ) {
        LoginStep::Create(id) => assert_eq!(id.email.as_deref(), Some("u@example.com")),
        other => panic!("{other:?}"),
    }
}

fn refused(step: LoginStep) -> (u32, Metric) {
    match step {
        LoginStep::Fail(reply, metric) => (reply.status, metric),
        other => panic!("expected a refusal: {other:?}"),
    }
}

#[test]
fn bad_id_tokens_never_create_a_session() {
    for (overrides, metric) in [
        (json!({"nonce": "another"}), Metric::LoginInvalidToken),
        (json!({"nonce": null}), Metric::LoginInvalidToken),
        (json!({"aud": "someone-else"}), Metric::LoginWrongAudience),
        (
            json!({"aud": ["web-app", "other"]}),
            Metric::LoginWrongAudience,
        ),
        (json!({"exp": NOW_SECS - 3_600}), Metric::LoginExpired),
        (
            json!({"iss": "https://evil.test/"}),
            Metric::LoginInvalidToken,
        ),
        (json!({"sub": null}), Metric::LoginInvalidToken),
    ] {
        let (mut code, nonce) = callback_for(b"/");
        let step = exchange(
            &mut code,
            json!({"id_token": id_token(&nonce, overrides.clone())}),
        );
        assert_eq!(refused(step), (401, metric), "{overrides}");
    }
    let (mut code, nonce) = callback_for(b"/");
    let forged = sign(
        &json!({"alg": "RS256", "kid": "k1"}),
        &json!({"iss": ISSUER, "sub": "x", "aud": "web-app", "exp": NOW_SECS + 60, "nonce": nonce}),
        1,
    );
    assert_eq!(
        refused(exchange(&mut code, json!({"id_token": forged}))).0,
        401,
        "signed by a key we do not have"
    );
}

#[test]
fn exchange_failures_are_401_or_503() {
    let keys = keyset();
    let env = IdTokenEnv {
        issuer: ISSUER,
        client_id: "web-app",
        keys: Some(&keys),
        now: NOW,
    };
    for (status, body, expected) in [
        (Some(400), &br#"{"error":"invalid_grant"}"#[..], 401),
        (Some(401), b"", 401),
        (Some(500), b"", 503),
        (None, b"", 503),
        (Some(200), b"{}", 503),
        (Some(200), b"not json", 503),
    ] {
        let (mut code, _) = callback_for(b"/");
        assert_eq!(
            refused(code.on_token(&env, status, body, &mut |_| false)).0,
            expected,
            "{status:?}"
        );
    }
}

#[test]
fn an_id_token_from_a_new_key_triggers_one_jwks_fetch() {
    let (mut code, nonce) = callback_for(b"/");
    let claims =
        json!({"iss": ISSUER, "sub": "x", "aud": "web-app", "exp": NOW_SECS + 60, "nonce": nonce});
    let token = sign(&json!({"alg": "RS256", "kid": "k2"}), &claims, 1);
    let keys = keyset();
    let env = IdTokenEnv {
        issuer: ISSUER,
        client_id: "web-app",
        keys: Some(&keys),
        now: NOW,
    };
    let step = code.on_token(
        &env,
        Some(200),
        json!({"id_token": token}).to_string().as_bytes(),
        &mut |_| true,
    );
    assert_eq!(step, LoginStep::Call(Callout::Jwks));
    let rotated = KeySet::parse(
        json!({"keys": [crate::testing::jwk("k1", 0), crate::testing::jwk("k2", 1)]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let env = IdTokenEnv {
        keys: Some(&rotated),
        ..env
    };
    assert!(matches!(code.on_jwks(&env, true), LoginStep::Create(_)));
}

#[test]
fn logout_goes_through_auth0_for_navigations_only() {
    let f = crate::filter::Filter::new(config());
    let host = crate::testing::MemHost::default();
    let crate::filter::Answer::Now(nav) = f.logout(&host, None, NOW, true) else {
        panic!()
    };
    assert_eq!(nav.status, 302);
    let location = &nav.headers.iter().find(|(k, _)| k == "location").unwrap().1;
    assert_eq!(
        location,
        &format!("{ISSUER}v2/logout?client_id=web-app&returnTo=https%3A%2F%2Fapp.example%2Fbye")
    );
    let crate::filter::Answer::Now(api) = f.logout(&host, None, NOW, false) else {
        panic!()
    };
    assert_eq!(api.status, 200);
    assert!(api.body.contains("logout_url"));
}

#[test]
fn config_defaults_and_errors() {
    let cf = config().code_flow.unwrap();
    assert_eq!(cf.callback, "/callback");
    assert_eq!(cf.scope, "openid profile email");
    assert_eq!(cf.audience, "https://api.example.com/");
    assert_eq!(cf.client_secret, None);
    for (extra, key) in [
        (json!({}), "code_flow.client_id"),
        (
            json!({"client_id": "a", "scope": "profile"}),
            "code_flow.scope",
        ),
        (
            json!({"client_id": "a", "callback": "cb"}),
            "code_flow.callback",
        ),
        (
            json!({"client_id": "a", "callback": "/authorize"}),
            "code_flow.callback",
        ),
        (
            json!({"client_id": "a", "logout_redirect": "/bye"}),
            "code_flow.logout_redirect",
        ),
        (
            json!({"client_id": "a", "redirect": "/x"}),
            "code_flow.redirect",
        ),
    ] {
        let doc = json!({"auth0": {"domain": "t", "api": {"identifier": "i"}, "cluster": "c"}, "code_flow": extra});
        let e = Config::parse(doc.to_string().as_bytes()).unwrap_err();
        assert_eq!(e.key, key, "{e}");
    }
}
