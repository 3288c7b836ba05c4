use super::*;
use serde_json::{json, Value};

fn minimal() -> Value {
    json!({"auth0": {"domain": "example.auth0.com", "api": {"identifier": "https://example.com/query"}, "cluster": "auth0"}})
}

fn parse(v: &Value) -> Result<Config, ConfigError> {
    Config::parse(v.to_string().as_bytes())
}

/// Sets `value` at a dotted path in a copy of the minimal config (null removes the key).
fn with(path: &str, value: Value) -> Value {
    let mut root = minimal();
    let mut node = &mut root;
    let parts: Vec<&str> = path.split('/').collect();
    for part in &parts[..parts.len() - 1] {
        node = node
            .as_object_mut()
            .unwrap()
            .entry(part.to_string())
            .or_insert_with(|| json!({}));
    }
    let obj = node.as_object_mut().unwrap();
    let last = parts[parts.len() - 1].to_string();
    if value == json!("__remove__") {
        obj.remove(&last);
    } else {
        obj.insert(last, value);
    }
    root
}

fn err(v: &Value) -> ConfigError {
    parse(v).expect_err("should be refused")
}

#[test]
fn every_default() {
    let c = parse(&minimal()).unwrap();
    assert_eq!(c.auth0.domain, "example.auth0.com");
    assert_eq!(c.auth0.api_identifier, "https://example.com/query");
    assert_eq!(c.auth0.cluster, "auth0");
    assert_eq!(c.auth0.scope, Vec::<String>::new());
    assert_eq!(c.auth0.issuer, "https://example.auth0.com/");
    assert_eq!(c.auth0.jwks_path, "/.well-known/jwks.json");
    assert_eq!(c.auth0.userinfo_path, "/userinfo");
    assert_eq!(c.auth0.timeout_secs, 5);
    assert_eq!(c.endpoints.login, "/authorize");
    assert_eq!(c.endpoints.logout, "/logout");
    assert_eq!(c.endpoints.keep_alive, "/ping");
    let k = &c.cookie;
    assert_eq!(k.name, "session");
    assert_eq!(k.domain, None);
    assert_eq!(k.path, "/");
    assert!(k.secure);
    assert!(k.httponly);
    assert_eq!(k.samesite, SameSite::Lax);
    assert_eq!(k.inactive_lifetime, 3_600);
    assert_eq!(k.max_lifetime, 30 * 86_400);
    assert!(k.signing_keys.is_empty());
    assert!(c.public.is_empty());
    assert_eq!(
        c.headers,
        vec![
            IdentityHeader {
                name: "x-auth-user".into(),
                claim: Claim::Sub
            },
            IdentityHeader {
                name: "x-auth-email".into(),
                claim: Claim::Email
            },
        ]
    );
    assert_eq!(c.sidecar, None);
}

#[test]
fn the_design_example_parses_with_every_value() {
    let c = Config::parse(
        br#"{
      "auth0": {
        "domain": "example.auth0.com",
        "api": { "identifier": "https://example.com/query" },
        "scope": "read:data",
        "cluster": "auth0",
        "issuer": "https://example.auth0.com/",
        "jwks_path": "/.well-known/jwks.json",
        "userinfo_path": "/userinfo",
        "timeout": "5second"
      },
      "endpoints": { "login": "/authorize", "logout": "/logout", "keep_alive": "/ping" },
      "session": {
        "cookie": {
          "name": "session", "domain": null, "path": "/",
          "secure": true, "httponly": true, "samesite": "Lax",
          "inactive_lifetime": "hour", "max_lifetime": "month",
          "signing_keys": ["0123456789abcdef0123456789abcdef"]
        }
      },
      "public": ["/healthz", "/static/"],
      "headers": { "x-auth-user": "sub", "x-auth-email": "email" },
      "sidecar": { "cluster": "session_sidecar", "token": "..." }
    }"#,
    )
    .unwrap();
    assert_eq!(c.auth0.scope, vec!["read:data".to_string()]);
    assert_eq!(
        c.public,
        vec![
            PublicPath::Exact("/healthz".into()),
            PublicPath::Prefix("/static/".into())
        ]
    );
    assert_eq!(
        c.sidecar,
        Some(Sidecar {
            cluster: "session_sidecar".into(),
            token: "...".into(),
            login_requires_store: false,
        })
    );
}

#[test]
fn each_key_is_read() {
    let c = parse(&with("auth0/scope", json!("read:data write:data"))).unwrap();
    assert_eq!(c.auth0.scope, vec!["read:data", "write:data"]);
    let c = parse(&with("auth0/scope", json!(["a", "b"]))).unwrap();
    assert_eq!(c.auth0.scope, vec!["a", "b"]);
    assert_eq!(
        parse(&with("auth0/issuer", json!("http://127.0.0.1:3000/")))
            .unwrap()
            .auth0
            .issuer,
        "http://127.0.0.1:3000/"
    );
    assert_eq!(
        parse(&with("auth0/jwks_path", json!("/jwks")))
            .unwrap()
            .auth0
            .jwks_path,
        "/jwks"
    );
    assert_eq!(
        parse(&with("auth0/userinfo_path", json!("/me")))
            .unwrap()
            .auth0
            .userinfo_path,
        "/me"
    );
    assert_eq!(
        parse(&with("auth0/timeout", json!("30second")))
            .unwrap()
            .auth0
            .timeout_secs,
        30
    );
    assert_eq!(
        parse(&with("auth0/timeout", json!(2)))
            .unwrap()
            .auth0
            .timeout_secs,
        2
    );
    assert_eq!(
        parse(&with("endpoints/login", json!("/login")))
            .unwrap()
            .endpoints
            .login,
        "/login"
    );
    assert_eq!(
        parse(&with("endpoints/logout", json!("/bye")))
            .unwrap()
            .endpoints
            .logout,
        "/bye"
    );
    assert_eq!(
        parse(&with("endpoints/keep_alive", json!("/alive")))
            .unwrap()
            .endpoints
            .keep_alive,
        "/alive"
    );
    let cookie = |k: &str, v: Value| {
        parse(&with(&format!("session/cookie/{k}"), v))
            .unwrap()
            .cookie
    };
    assert_eq!(cookie("name", json!("sid")).name, "sid");
    assert_eq!(
        cookie("domain", json!("example.com")).domain.as_deref(),
        Some("example.com")
    );
    assert_eq!(cookie("path", json!("/app")).path, "/app");
    assert!(!cookie("secure", json!(false)).secure);
    assert!(!cookie("httponly", json!(false)).httponly);
    assert_eq!(
        cookie("samesite", json!("Strict")).samesite,
        SameSite::Strict
    );
    assert_eq!(cookie("samesite", json!("none")).samesite, SameSite::None);
    assert_eq!(
        cookie("inactive_lifetime", json!("30minute")).inactive_lifetime,
        1_800
    );
    assert_eq!(cookie("max_lifetime", json!("day")).max_lifetime, 86_400);
    assert_eq!(cookie("max_lifetime", json!(2)).max_lifetime, 2);
    let keys = vec!["k".repeat(32), "j".repeat(40)];
    assert_eq!(cookie("signing_keys", json!(keys)).signing_keys, keys);
    let h = parse(&with("headers", json!({"X-User": "sub", "x-name": "name"})))
        .unwrap()
        .headers;
    assert!(h.contains(&IdentityHeader {
        name: "x-user".into(),
        claim: Claim::Sub
    }));
    assert!(h.contains(&IdentityHeader {
        name: "x-name".into(),
        claim: Claim::Name
    }));
    assert!(parse(&with("headers", json!({})))
        .unwrap()
        .headers
        .is_empty());
}

#[test]
fn mo_auth_dotted_api_identifier_is_accepted() {
    let mut v = with("auth0/api", json!("__remove__"));
    v["auth0"]["api.identifier"] = json!("https://x/");
    assert_eq!(parse(&v).unwrap().auth0.api_identifier, "https://x/");
    v["auth0"]["api"] = json!({"identifier": "https://y/"});
    assert_eq!(err(&v).key, "auth0.api.identifier");
}

#[test]
fn each_error_names_its_key() {
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({}), "auth0", "is required"),
        (json!([]), "", "expected an object"),
        (
            with("auth0/domain", json!("__remove__")),
            "auth0.domain",
            "is required",
        ),
        (
            with("auth0/domain", json!("https://x.auth0.com")),
            "auth0.domain",
            "host name only",
        ),
        (
            with("auth0/domain", json!(7)),
            "auth0.domain",
            "expected a string",
        ),
        (
            with("auth0/domain", json!("  ")),
            "auth0.domain",
            "must not be empty",
        ),
        (
            with("auth0/api", json!("__remove__")),
            "auth0.api.identifier",
            "is required",
        ),
        (
            with("auth0/api", json!("x")),
            "auth0.api",
            "expected an object",
        ),
        (
            with("auth0/api/extra", json!(1)),
            "auth0.api.extra",
            "unknown key",
        ),
        (
            with("auth0/cluster", json!("__remove__")),
            "auth0.cluster",
            "is required",
        ),
        (
            with("auth0/scope", json!(5)),
            "auth0.scope",
            "expected a space-separated string",
        ),
        (
            with("auth0/scope", json!([1])),
            "auth0.scope",
            "expected scope names",
        ),
        (
            with("auth0/issuer", json!("tenant.test")),
            "auth0.issuer",
            "http(s) URL",
        ),
        (
            with("auth0/jwks_path", json!("jwks.json")),
            "auth0.jwks_path",
            "not an absolute path",
        ),
        (
            with("auth0/userinfo_path", json!("/u?x=1")),
            "auth0.userinfo_path",
            "plain path",
        ),
        (
            with("auth0/timeout", json!("5 parsecs")),
            "auth0.timeout",
            "invalid duration",
        ),
        (
            with("auth0/timeout", json!(0)),
            "auth0.timeout",
            "longer than zero",
        ),
        (
            with("auth0/timeout", json!(true)),
            "auth0.timeout",
            "expected a duration",
        ),
        (
            with("auth0/tiemout", json!("5s")),
            "auth0.tiemout",
            "unknown key",
        ),
        (
            with("endpoints/login", json!("authorize")),
            "endpoints.login",
            "not an absolute path",
        ),
        (
            with("endpoints/logout", json!("/authorize")),
            "endpoints",
            "must be different",
        ),
        (
            with("endpoints/signup", json!("/x")),
            "endpoints.signup",
            "unknown key",
        ),
        (
            with("session/cookie/name", json!("a b")),
            "session.cookie.name",
            "not a valid cookie name",
        ),
        (
            with("session/cookie/domain", json!("a;b")),
            "session.cookie.domain",
            "not a domain",
        ),
        (
            with("session/cookie/path", json!("app")),
            "session.cookie.path",
            "not an absolute path",
        ),
        (
            with("session/cookie/secure", json!("yes")),
            "session.cookie.secure",
            "expected true or false",
        ),
        (
            with("session/cookie/httponly", json!(1)),
            "session.cookie.httponly",
            "expected true or false",
        ),
        (
            with("session/cookie/samesite", json!("Loose")),
            "session.cookie.samesite",
            "not one of",
        ),
        (
            json!({"auth0": minimal()["auth0"], "session": {"cookie": {"samesite": "None", "secure": false}}}),
            "session.cookie.samesite",
            "needs secure",
        ),
        (
            with("session/cookie/inactive_lifetime", json!("forever")),
            "session.cookie.inactive_lifetime",
            "invalid duration",
        ),
        (
            with("session/cookie/max_lifetime", json!(-1)),
            "session.cookie.max_lifetime",
            "whole, non-negative",
        ),
        (
            with("session/cookie/colour", json!("blue")),
            "session.cookie.colour",
            "unknown key",
        ),
        (
            with("session/store", json!("x")),
            "session.store",
            "unknown key",
        ),
        (with("session", json!(1)), "session", "expected an object"),
        (
            with("public", json!("/healthz")),
            "public",
            "expected an array",
        ),
        (
            with("public", json!(["/ok", "static/"])),
            "public[1]",
            "not an absolute path",
        ),
        (with("public", json!([3])), "public[0]", "expected a path"),
        (
            with("headers", json!({"x-auth-user": "email_verified"})),
            "headers.x-auth-user",
            "expected one of",
        ),
        (
            with("headers", json!({"bad header": "sub"})),
            "headers.bad header",
            "not a valid header name",
        ),
        (
            with("headers", json!({"Cookie": "sub"})),
            "headers.Cookie",
            "cannot be used",
        ),
        (
            with("headers", json!(["x"])),
            "headers",
            "expected an object",
        ),
        (
            with("sidecar", json!({"cluster": "s"})),
            "sidecar.token",
            "is required",
        ),
        (
            with("sidecar", json!({"cluster": "s", "token": "t", "url": "x"})),
            "sidecar.url",
            "unknown key",
        ),
        // Issue 11 item 8: without signing keys each random cookie is a sidecar lookup.
        (
            with("sidecar", json!({"cluster": "s", "token": "t"})),
            "session.cookie.signing_keys",
            "is required with sidecar",
        ),
        (with("extra", json!(1)), "extra", "unknown key"),
    ];
    for (config, key, reason) in cases {
        let e = err(&config);
        assert_eq!(e.key, key, "{config}: {e}");
        assert!(
            e.reason.contains(reason),
            "{config}: {e} should say {reason:?}"
        );
        assert!(
            e.to_string().contains(key),
            "the message names the key: {e}"
        );
    }
}

#[test]
fn device_section_defaults_and_errors() {
    let c = parse(&with("device", json!({"client_id": "cli"}))).unwrap();
    let d = c.device.unwrap();
    assert_eq!(
        (d.start.as_str(), d.poll.as_str()),
        ("/device/start", "/device/poll")
    );
    assert_eq!(d.scope, "openid profile email");
    assert_eq!(d.audience, "https://example.com/query");
    assert_eq!(parse(&minimal()).unwrap().device, None);
    for (device, key) in [
        (json!({}), "device.client_id"),
        (json!({"client_id": "c", "start": "x"}), "device.start"),
        (json!({"client_id": "c", "poll": "/device/start"}), "device"),
        (json!({"client_id": "c", "start": "/authorize"}), "device"),
        (json!({"client_id": "c", "interval": 5}), "device.interval"),
    ] {
        assert_eq!(err(&with("device", device.clone())).key, key, "{device}");
    }
}

#[test]
fn not_json_is_refused_clearly() {
    let e = Config::parse(b"{auth0: ").unwrap_err();
    assert!(e.to_string().contains("not valid JSON"), "{e}");
    assert!(Config::parse(b"").is_err());
    assert!(Config::parse(&[0xff, 0xfe]).is_err());
}

#[test]
fn null_means_default() {
    let c = parse(&with("session/cookie/domain", Value::Null)).unwrap();
    assert_eq!(c.cookie.domain, None);
    let c = parse(&with("auth0/timeout", Value::Null)).unwrap();
    assert_eq!(c.auth0.timeout_secs, 5);
}

#[test]
fn errors_read_well() {
    // The reason says what is accepted; serde's own wording and positions do not leak.
    let e = err(&with("auth0/timeout", json!("5 parsecs")));
    assert!(
        e.reason.contains("\"5minute\"") && e.reason.contains("number of seconds"),
        "{e}"
    );
    let e = err(&with("auth0/timeout", json!(true)));
    assert!(e.reason.contains("\"hour\""), "accepted forms listed: {e}");
    let e = err(&with("auth0/tiemout", json!("5s")));
    assert!(
        e.reason.contains("known here:") && e.reason.contains("timeout"),
        "{e}"
    );
    let e = err(&with("session/cookie/secure", json!("yes")));
    assert_eq!(
        e.to_string(),
        "configuration key `session.cookie.secure`: string \"yes\", expected true or false"
    );
    for e in [
        err(&with("auth0/domain", json!(7))),
        err(&with("public", json!([3]))),
        err(&with("session/cookie/max_lifetime", json!(-1))),
    ] {
        assert!(
            !e.reason.contains(" at line ") && !e.reason.contains("invalid type"),
            "{e}"
        );
    }
    let e = err(&with("session/cookie/signing_keys", json!([])));
    assert_eq!(e.key, "session.cookie.signing_keys");
    assert!(e.reason.contains("non-empty"), "{e}");
    let e = err(&with("session/cookie/signing_keys", json!(["short"])));
    assert!(e.reason.contains("at least 32"), "{e}");
    let e = Config::parse(format!("{} trailing", minimal()).as_bytes()).unwrap_err();
    assert!(e.to_string().contains("not valid JSON"), "{e}");
}

#[test]
fn the_sessions_endpoint_defaults_and_cannot_shadow_another() {
    let base = r#""auth0": {"domain": "t.example", "api": {"identifier": "https://api"}, "cluster": "auth0"}"#;
    let c = Config::parse(format!("{{{base}}}").as_bytes()).unwrap();
    assert_eq!(c.endpoints.sessions, "/sessions");
    let c = Config::parse(
        format!(r#"{{{base}, "endpoints": {{"sessions": "/me/sessions"}}}}"#).as_bytes(),
    )
    .unwrap();
    assert_eq!(c.endpoints.sessions, "/me/sessions");
    for bad in ["/", "/ping", "sessions"] {
        let e = Config::parse(
            format!(r#"{{{base}, "endpoints": {{"sessions": "{bad}"}}}}"#).as_bytes(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("endpoints.sessions"), "{bad}: {e}");
    }
}

#[test]
fn limits_have_defaults_and_bounds() {
    let c = Config::parse(minimal().to_string().as_bytes()).unwrap();
    assert_eq!(c.limits.idp_calls_per_second, 20);
    assert_eq!(c.limits.sessions_per_user, 50);
    let c = Config::parse(
        with(
            "limits",
            json!({"idp_calls_per_second": 3, "sessions_per_user": 2}),
        )
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(
        (c.limits.idp_calls_per_second, c.limits.sessions_per_user),
        (3, 2)
    );
    for (limits, key) in [
        (
            json!({"idp_calls_per_second": 0}),
            "limits.idp_calls_per_second",
        ),
        (json!({"sessions_per_user": -1}), "limits.sessions_per_user"),
        (
            json!({"sessions_per_user": "50"}),
            "limits.sessions_per_user",
        ),
        (json!({"per_user": 5}), "limits.per_user"),
    ] {
        let e = Config::parse(with("limits", limits).to_string().as_bytes()).unwrap_err();
        assert_eq!(e.key, key, "{e}");
    }
}
