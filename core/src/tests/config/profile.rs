use serde_json::{json, Value};

use super::*;
use crate::config::{Claim, Config};

fn doc(profile: Value) -> Value {
    json!({
        "auth0": {"domain": "example.auth0.com", "api": {"identifier": "https://api"}, "cluster": "auth0"},
        "profile": [profile]
    })
}

fn person_api() -> Value {
    json!({
        "name": "iam",
        "cluster": "person_api",
        "url": "https://person.api.sso.mozilla.com",
        "path": "/v2/user/user_id/{sub}",
        "token": {"client_id": "id", "client_secret": "secret", "audience": "api.sso.mozilla.com",
                  "scope": "classification:public display:all"},
        "map": {
            "groups": {"keys": "/access_information/ldap/values", "prefix": "ldap_"},
            "email_verified": {"boolean": "/primary_email/metadata/verified"},
            "staff": {"boolean": "/staff_information/staff/value"}
        },
        "confirm": [{"true": "/active/value"}, {"same_email": "/primary_email/value"}]
    })
}

fn parse(v: &Value) -> Result<Config, ConfigError> {
    Config::parse(v.to_string().as_bytes())
}

/// `person_api()` with `key` set to `value` (null removes it).
fn with(key: &str, value: Value) -> Value {
    doc(crate::testing::with_key(person_api(), key, value))
}

#[test]
fn the_person_api_shape_and_its_defaults() {
    let c = parse(&doc(person_api())).unwrap();
    let p = &c.profile[0];
    assert_eq!(p.origin, "https://person.api.sso.mozilla.com");
    assert_eq!(p.authority, "person.api.sso.mozilla.com");
    assert_eq!(p.path, "/v2/user/user_id/{sub}");
    assert_eq!(p.timeout_ms, 3_000);
    assert_eq!(p.max_answer, 64 * 1024);
    assert_eq!(p.on_failure, OnFailure::Refuse);
    assert_eq!(p.token.as_ref().unwrap().audience, "api.sso.mozilla.com");
    assert_eq!(p.map.len(), 3);
    assert!(p.map.contains(&Mapping {
        target: Target::Groups,
        transform: Transform::Keys,
        pointer: "/access_information/ldap/values".into(),
        each: None,
        prefix: Some("ldap_".into()),
    }));
    assert_eq!(p.confirm.len(), 2);
    assert!(
        c.profile.len() == 1
            && parse(&json!({"auth0": doc(person_api())["auth0"]}))
                .unwrap()
                .profile
                .is_empty()
    );
}

#[test]
fn the_management_api_shape() {
    let roles = json!({
        "name": "auth0-roles",
        "cluster": "auth0_mgmt",
        "url": "https://example.auth0.com/api/v2",
        "path": "/users/{sub}/roles",
        "token": {"client_id": "id", "client_secret": "secret", "audience": "https://example.auth0.com/api/v2/",
                  "scope": "read:users read:roles"},
        "timeout": "2s",
        "max_answer_bytes": 16384,
        "map": {"roles": {"values": "", "each": "/name"}},
        "on_failure": "continue"
    });
    let c = parse(&doc(roles)).unwrap();
    let p = &c.profile[0];
    assert_eq!(p.path, "/api/v2/users/{sub}/roles");
    assert_eq!(
        (p.timeout_ms, p.max_answer, p.on_failure),
        (2_000, 16_384, OnFailure::Continue)
    );
    assert_eq!(p.map[0].each.as_deref(), Some("/name"));
}

#[test]
fn groups_can_be_sent_as_a_header() {
    let mut d = doc(person_api());
    d["headers"] = json!({"x-auth-groups": "groups"});
    let c = parse(&d).unwrap();
    assert_eq!(c.headers[0].claim, Claim::Groups);
}

#[test]
fn errors_name_the_key() {
    let cases = [
        (with("name", Value::Null), "profile[0].name", "is required"),
        (with("name", json!("i am")), "profile[0].name", "letters"),
        (
            with("cluster", Value::Null),
            "profile[0].cluster",
            "is required",
        ),
        (with("url", json!("ftp://x")), "profile[0].url", "http(s)"),
        (
            with("url", json!("https://u@x")),
            "profile[0].url",
            "without user",
        ),
        (with("path", json!("/v2/user")), "profile[0].path", "{sub}"),
        (
            with("path", json!("v2/{sub}")),
            "profile[0].path",
            "absolute",
        ),
        (
            with("on_failure", json!("retry")),
            "profile[0].on_failure",
            "refuse, continue",
        ),
        (with("timeout", json!(0)), "profile[0].timeout", ""),
        (
            with("max_answer_bytes", json!(0)),
            "profile[0].max_answer_bytes",
            "1 to 1000000",
        ),
        (with("extra", json!(1)), "profile[0].extra", "unknown key"),
        (
            with("token", json!({"client_id": "a", "audience": "b"})),
            "profile[0].token.client_secret",
            "is required",
        ),
        (
            with("map", json!({"groups": {"keys": "access/values"}})),
            "profile[0].map.groups.keys",
            "JSON Pointer",
        ),
        (
            with("map", json!({"groups": {"keys": "/a~2b"}})),
            "profile[0].map.groups.keys",
            "JSON Pointer",
        ),
        (
            with("map", json!({"groups": {"keys": "/a", "values": "/b"}})),
            "profile[0].map.groups",
            "exactly one",
        ),
        (
            with("map", json!({"groups": {"boolean": "/a"}})),
            "profile[0].map.groups.boolean",
            "cannot fill groups",
        ),
        (
            with("map", json!({"email_verified": {"value": "/a"}})),
            "profile[0].map.email_verified.value",
            "cannot fill email_verified",
        ),
        (
            with("map", json!({"sub": {"value": "/a"}})),
            "profile[0].map.sub",
            "no identity API may set",
        ),
        (
            with("map", json!({"bad name": {"value": "/a"}})),
            "profile[0].map.bad name",
            "claim name",
        ),
        (
            with("map", json!({"groups": {"keys": "/a", "each": "/b"}})),
            "profile[0].map.groups.each",
            "values only",
        ),
        (
            with("map", json!({"groups": {"keys": "/a", "shape": "/b"}})),
            "profile[0].map.groups.shape",
            "unknown key",
        ),
        (
            with("confirm", json!([{"false": "/a"}])),
            "profile[0].confirm[0].false",
            "unknown key",
        ),
        (
            with("confirm", json!([{}])),
            "profile[0].confirm[0]",
            "exactly one",
        ),
        (
            with("confirm", json!([{"true": "active"}])),
            "profile[0].confirm[0]",
            "JSON Pointer",
        ),
    ];
    for (d, key, says) in cases {
        let e = parse(&d).expect_err(&d.to_string());
        assert_eq!(e.key, key, "{d}: {e}");
        assert!(e.reason.contains(says), "{d}: {e}");
    }
    let mut twice = doc(person_api());
    twice["profile"] = json!([person_api(), person_api()]);
    let e = parse(&twice).unwrap_err();
    assert_eq!(e.key, "profile[1].name");
    let mut nothing = person_api();
    nothing.as_object_mut().unwrap().remove("map");
    nothing.as_object_mut().unwrap().remove("confirm");
    assert_eq!(parse(&doc(nothing)).unwrap_err().key, "profile[0].map");
}
