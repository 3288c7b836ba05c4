use super::*;
use crate::config::Config;
use crate::login::jwks::KeySet;
use crate::testing::{b64, jwt, keyset, sign, AUDIENCE, ISSUER, NOW_SECS};
use crate::url::query_param;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

const NOW: Millis = NOW_SECS * 1_000;

thread_local! {
    /// The shared data a test's login start and callback both see (one per test thread).
    static HOST: &'static crate::testing::MemHost = Box::leak(Box::default());
}

fn host() -> &'static crate::testing::MemHost {
    HOST.with(|h| *h)
}

fn config() -> Config {
    Config::parse(
        br#"{"auth0": {"domain": "tenant.test", "api": {"identifier": "https://api.example.com/"}, "cluster": "auth0", "scope": "read:data"},
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
        host(),
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
        CodeLogin::begin(&c, &cf, host(), &req, NOW + 1_000).unwrap(),
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
        let (reply, _) = CodeLogin::begin(&c, &cf, host(), &req, at).unwrap_err();
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
        CodeLogin::begin(&c, &cf, host(), &req, NOW)
            .unwrap_err()
            .0
            .status,
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
    exchange_with(&config(), code, answer)
}

fn exchange_with(c: &Config, code: &mut CodeLogin, answer: serde_json::Value) -> LoginStep {
    let keys = keyset();
    let env = IdTokenEnv {
        config: c,
        client_id: "web-app",
        keys: Some(&keys),
        now: NOW,
    };
    code.on_token(&env, Some(200), answer.to_string().as_bytes(), &mut |_| {
        false
    })
}

/// An access token for the API, as Auth0 issues one when `/authorize` had `audience`.
fn access_token(overrides: serde_json::Value) -> String {
    let mut claims = json!({"iss": ISSUER, "sub": "auth0|web", "aud": [AUDIENCE], "exp": NOW_SECS + 600,
                            "iat": NOW_SECS, "scope": "openid profile email read:data"});
    for (k, v) in overrides.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    jwt(&claims)
}

#[test]
fn a_good_id_token_creates_the_session_and_lands_on_the_page() {
    let (mut code, nonce) = callback_for(b"/reports?q=1");
    let step = exchange(
        &mut code,
        json!({"id_token": id_token(&nonce, json!({})), "access_token": access_token(json!({}))}),
    );
    assert_eq!(
        step,
        LoginStep::Create(Identity {
            sub: "auth0|web".into(),
            email: Some("web@example.com".into()),
            name: Some("Web".into()),
            // What the API was granted: the access token's, never the ID token's.
            permissions: ["openid", "profile", "email", "read:data"]
                .map(String::from)
                .to_vec(),
            ..Default::default()
        })
    );
    let c = config();
    let (location, clear) = code.landing(&c, c.code_flow.as_ref().unwrap());
    assert_eq!(location, "/reports?q=1");
    assert!(clear.contains("Max-Age=0"));
}

#[test]
fn the_id_tokens_sid_is_kept_for_back_channel_logout() {
    let at = access_token(json!({}));
    let (mut code, nonce) = callback_for(b"/");
    let step = exchange(
        &mut code,
        json!({"id_token": id_token(&nonce, json!({"sid": "auth0-sid-1"})), "access_token": at}),
    );
    match step {
        LoginStep::Create(id) => assert_eq!(id.sid.as_deref(), Some("auth0-sid-1")),
        other => panic!("{other:?}"),
    }
    // Through /userinfo too, and a sid that could not be stored is dropped.
    let at = access_token(json!({"aud": [AUDIENCE, "https://tenant.test/userinfo"]}));
    let (mut code, nonce) = callback_for(b"/");
    let token = id_token(&nonce, json!({"sid": "s-2", "email": null}));
    let step = exchange(&mut code, json!({"id_token": token, "access_token": at}));
    assert_eq!(step, LoginStep::Call(Callout::Userinfo));
    match code.on_userinfo(
        Some(200),
        br#"{"sub": "auth0|web", "email": "u@example.com"}"#,
    ) {
        LoginStep::Create(id) => assert_eq!(id.sid.as_deref(), Some("s-2")),
        other => panic!("{other:?}"),
    }
    let (mut code, nonce) = callback_for(b"/");
    let token = id_token(&nonce, json!({"sid": "a\nb"}));
    let at = access_token(json!({}));
    match exchange(&mut code, json!({"id_token": token, "access_token": at})) {
        LoginStep::Create(id) => assert_eq!(id.sid, None),
        other => panic!("{other:?}"),
    }
}

#[test]
fn without_email_the_profile_comes_from_userinfo() {
    let (mut code, nonce) = callback_for(b"/");
    let at = access_token(json!({"aud": [AUDIENCE, "https://tenant.test/userinfo"]}));
    let step = exchange(
        &mut code,
        json!({"id_token": id_token(&nonce, json!({"email": null})), "access_token": at}),
    );
    assert_eq!(step, LoginStep::Call(Callout::Userinfo));
    assert_eq!(code.bearer(), at);
    match code.on_userinfo(
        Some(200),
        br#"{"sub": "auth0|web", "email": "u@example.com"}"#,
    ) {
        LoginStep::Create(id) => assert_eq!(id.email.as_deref(), Some("u@example.com")),
        other => panic!("{other:?}"),
    }
}

/// Issue 11 item 2: the code flow checked only the ID token, so a user without the API's
/// permission logged in at the proxy. Its access token now passes the login endpoint's checks.
#[test]
fn the_access_token_is_checked_like_the_token_login() {
    for (answer_token, status, metric) in [
        (
            access_token(json!({"scope": "openid profile email"})),
            403,
            Metric::LoginInsufficientScope,
        ),
        (
            access_token(json!({"aud": ["https://other.api/"]})),
            401,
            Metric::LoginWrongAudience,
        ),
        (
            access_token(json!({"iss": "https://evil.test/"})),
            401,
            Metric::LoginInvalidToken,
        ),
        (
            access_token(json!({"exp": NOW_SECS - 3_600})),
            401,
            Metric::LoginExpired,
        ),
        (
            sign(
                &json!({"alg": "RS256", "kid": "k1"}),
                &serde_json::from_slice::<serde_json::Value>(
                    &URL_SAFE_NO_PAD
                        .decode(access_token(json!({})).split('.').nth(1).unwrap())
                        .unwrap(),
                )
                .unwrap(),
                1,
            ),
            401,
            Metric::LoginInvalidToken,
        ),
        (
            access_token(json!({"sub": "auth0|mallory"})),
            401,
            Metric::LoginInvalidToken,
        ),
        // Opaque: its scopes cannot be checked, and a scope is required here.
        ("opaqueAT".to_string(), 403, Metric::LoginInsufficientScope),
    ] {
        let (mut code, nonce) = callback_for(b"/");
        let step = exchange(
            &mut code,
            json!({"id_token": id_token(&nonce, json!({})), "access_token": answer_token}),
        );
        assert_eq!(refused(step), (status, metric), "{answer_token}");
    }
    let (mut code, nonce) = callback_for(b"/");
    let step = exchange(&mut code, json!({"id_token": id_token(&nonce, json!({}))}));
    assert_eq!(refused(step).0, 503, "no access token at all");
}

#[test]
fn an_opaque_access_token_needs_accept_opaque_and_no_scope() {
    let mut c = config();
    c.auth0.scope.clear();
    let (mut code, nonce) = callback_for(b"/");
    let answer = json!({"id_token": id_token(&nonce, json!({})), "access_token": "opaqueAT"});
    assert_eq!(
        refused(exchange_with(&c, &mut code, answer.clone())),
        (401, Metric::LoginWrongAudience)
    );
    c.auth0.accept_opaque = true;
    let (mut code, nonce) = callback_for(b"/");
    let answer = json!({"id_token": id_token(&nonce, json!({})), "access_token": "opaqueAT"});
    assert_eq!(
        exchange_with(&c, &mut code, answer),
        LoginStep::Call(Callout::Userinfo)
    );
    assert_eq!(code.bearer(), "opaqueAT");
    assert_eq!(
        refused(code.on_userinfo(Some(401), b"")),
        (401, Metric::LoginInvalidToken)
    );
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
    let c = config();
    let env = IdTokenEnv {
        config: &c,
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
    let c = config();
    let env = IdTokenEnv {
        config: &c,
        client_id: "web-app",
        keys: Some(&keys),
        now: NOW,
    };
    let step = code.on_token(
        &env,
        Some(200),
        json!({"id_token": token, "access_token": access_token(json!({"sub": "x"}))})
            .to_string()
            .as_bytes(),
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
    let f = crate::request::filter::Filter::new(config());
    let host = crate::testing::MemHost::default();
    let crate::session::create::Answer::Now(nav) = f.logout(&host, None, NOW, true) else {
        panic!()
    };
    assert_eq!(nav.status, 302);
    let location = &nav.headers.iter().find(|(k, _)| k == "location").unwrap().1;
    assert_eq!(
        location,
        &format!("{ISSUER}v2/logout?client_id=web-app&returnTo=https%3A%2F%2Fapp.example%2Fbye")
    );
    let crate::session::create::Answer::Now(api) = f.logout(&host, None, NOW, false) else {
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

/// Issue 11 item 10: the per-login cookie was unsigned, so a cookie planted on the victim's
/// browser (with the attacker's state and code: login CSRF) or naming another return path
/// (an open redirect) was taken at face value.
#[test]
fn a_forged_or_altered_login_cookie_is_refused() {
    let c = config();
    let cf = c.code_flow.clone().unwrap();
    let (_, location, cookie) = started(b"/reports");
    let state = param(&location, "state");
    let pair = cookie.split(';').next().unwrap().to_string();
    let (name, value) = pair.split_once('=').unwrap();
    let (payload, _) = value.rsplit_once('.').unwrap();
    let begin = |cookie_pair: String| {
        let query = format!("code=c&state={state}");
        let req = CallbackRequest {
            query: query.as_bytes(),
            cookie_header: Some(cookie_pair.as_bytes()),
            scheme: "https",
            authority: "app.example",
            html: false,
        };
        CodeLogin::begin(&c, &cf, host(), &req, NOW)
    };
    assert!(begin(pair.clone()).is_ok(), "the genuine cookie");
    // The attacker's own login cookie, re-made with a return path of their choosing.
    let mut fields: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    fields["r"] = json!("//evil.example/");
    let altered = URL_SAFE_NO_PAD.encode(fields.to_string());
    let forged_tag = b64(&[0u8; 16]);
    for forged in [
        format!("{name}={altered}.{}", value.rsplit_once('.').unwrap().1),
        format!("{name}={altered}.{forged_tag}"),
        format!("{name}={altered}"),
        format!("{name}={payload}"),
        format!("{name}={payload}.{forged_tag}"),
    ] {
        let (reply, _) = begin(forged.clone()).map(|_| ()).unwrap_err();
        assert_eq!(reply.status, 400, "{forged}");
    }
    // Made with another process's key (none configured): refused too.
    let other = crate::testing::MemHost::default();
    let req_query = format!("code=c&state={state}");
    let req = CallbackRequest {
        query: req_query.as_bytes(),
        cookie_header: Some(pair.as_bytes()),
        scheme: "https",
        authority: "app.example",
        html: false,
    };
    assert_eq!(
        CodeLogin::begin(&c, &cf, &other, &req, NOW)
            .map(|_| ())
            .unwrap_err()
            .0
            .status,
        400
    );
}

#[test]
fn the_return_path_is_checked_again_at_landing() {
    let (mut code, _) = callback_for(b"/ok");
    code.cookie.return_to = "//evil.example/x".into();
    let c = config();
    assert_eq!(code.landing(&c, c.code_flow.as_ref().unwrap()).0, "/");
}

#[test]
fn with_signing_keys_the_login_cookie_is_signed_by_them() {
    let mut c = config();
    c.cookie.signing_keys = vec!["k".repeat(32)];
    let cf = c.code_flow.clone().unwrap();
    let fresh = crate::testing::MemHost::default();
    let reply = start(
        &c,
        &cf,
        &fresh,
        "https",
        "app.example",
        b"/",
        &[9; START_RANDOM_BYTES],
        NOW,
    );
    assert!(fresh.data.borrow().is_empty(), "no process key is made");
    let location = &reply
        .headers
        .iter()
        .find(|(k, _)| k == "location")
        .unwrap()
        .1;
    let cookie = &reply
        .headers
        .iter()
        .find(|(k, _)| k == "set-cookie")
        .unwrap()
        .1;
    let query = format!("code=c&state={}", param(location, "state"));
    let pair = cookie.split(';').next().unwrap();
    let req = CallbackRequest {
        query: query.as_bytes(),
        cookie_header: Some(pair.as_bytes()),
        scheme: "https",
        authority: "app.example",
        html: false,
    };
    // Another Envoy with the same keys (and its own shared data) accepts it.
    let elsewhere = crate::testing::MemHost::default();
    assert!(CodeLogin::begin(&c, &cf, &elsewhere, &req, NOW).is_ok());
    c.cookie.signing_keys = vec!["x".repeat(32)];
    assert!(CodeLogin::begin(&c, &cf, &elsewhere, &req, NOW).is_err());
}

/// Browsers drop a `__Host-` cookie unless it has `Secure`, `Path=/` and no `Domain`; the
/// login cookie lives on the callback path, so it must not carry that prefix.
#[test]
fn a_host_prefixed_session_cookie_still_logs_in_by_the_code_flow() {
    let mut c = config();
    c.cookie.name = "__Host-session".into();
    let cf = c.code_flow.clone().unwrap();
    let reply = start(
        &c,
        &cf,
        host(),
        "https",
        "app.example",
        b"/r",
        &[5; START_RANDOM_BYTES],
        NOW,
    );
    let location = &reply
        .headers
        .iter()
        .find(|(k, _)| k == "location")
        .unwrap()
        .1;
    let cookie = &reply
        .headers
        .iter()
        .find(|(k, _)| k == "set-cookie")
        .unwrap()
        .1;
    let attrs: Vec<&str> = cookie.split(';').map(str::trim).collect();
    let name = attrs[0].split_once('=').unwrap().0;
    // What a browser enforces for prefixed names.
    if name.starts_with("__Host-") {
        assert!(
            attrs.contains(&"Path=/") && attrs.contains(&"Secure"),
            "{cookie}"
        );
        assert!(!attrs.iter().any(|a| a.starts_with("Domain")), "{cookie}");
    }
    if name.starts_with("__Secure-") {
        assert!(attrs.contains(&"Secure"), "{cookie}");
    }
    assert!(name.starts_with("__Secure-session_login_"), "{cookie}");
    let query = format!("code=c&state={}", param(location, "state"));
    let req = CallbackRequest {
        query: query.as_bytes(),
        cookie_header: Some(attrs[0].as_bytes()),
        scheme: "https",
        authority: "app.example",
        html: true,
    };
    let code = CodeLogin::begin(&c, &cf, host(), &req, NOW).unwrap();
    let (to, clear) = code.landing(&c, &cf);
    assert_eq!(to, "/r");
    assert!(clear.starts_with(&format!("{name}=;")), "{clear}");
}
