use serde_json::{json, Value};

use super::map::{apply, read, unconfirmed, Read};
use super::token::{self, Cached};
use super::*;
use crate::config::{Confirm, Mapping, Target, Transform};
use crate::engine::{Engine, Outcome, Pending};
use crate::identity::ClaimValue;
use crate::login::key_cache;
use crate::ports::Response;
use crate::session::{store, SessionHash};
use crate::testing::*;

const NOW: Millis = NOW_SECS * 1_000;

/// A Person API v2 answer (mozilla-iam/cis docs/PersonAPI.md): attributes with metadata, and
/// groups as the keys of `values` objects whose values are null.
fn person() -> Value {
    let meta = json!({"classification": "PUBLIC", "verified": true, "publisher_authority": "cis"});
    json!({
        "user_id": {"metadata": meta, "value": "ad|Mozilla-LDAP|alice"},
        "active": {"metadata": meta, "value": true},
        "primary_email": {"metadata": meta, "value": "Alice@Example.com"},
        "first_name": {"metadata": meta, "value": "Alice"},
        "staff_information": {"staff": {"metadata": meta, "value": true},
                              "title": {"metadata": meta, "value": "Engineer"}},
        "access_information": {
            "ldap": {"metadata": meta, "values": {"team_moco": null, "admins": null}},
            "mozilliansorg": {"metadata": meta, "values": {"nda": null}},
            "hris": {"metadata": meta, "values": null}
        },
        "identities": {"github/id": {"value": "12345"}, "tilde~name": {"value": "t"}},
        "roles": [{"name": "editor"}, {"name": "viewer"}, {"id": "no-name"}]
    })
}

fn mapping(target: Target, transform: Transform, pointer: &str) -> Mapping {
    Mapping {
        target,
        transform,
        pointer: pointer.into(),
        each: None,
        prefix: None,
    }
}

#[test]
fn pointers_read_through_each_transform() {
    let p = person();
    let keys = mapping(
        Target::Groups,
        Transform::Keys,
        "/access_information/ldap/values",
    );
    assert_eq!(
        read(&keys, &p),
        Some(Read::List(vec!["admins".into(), "team_moco".into()]))
    );
    let value = mapping(Target::Name, Transform::Value, "/first_name/value");
    assert_eq!(read(&value, &p), Some(Read::Text("Alice".into())));
    let flag = mapping(
        Target::EmailVerified,
        Transform::Boolean,
        "/primary_email/metadata/verified",
    );
    assert_eq!(read(&flag, &p), Some(Read::Flag(true)));
    // `~1` is a `/` inside a key, `~0` a `~` (RFC 6901).
    let slash = mapping(
        Target::Claim("gh".into()),
        Transform::Value,
        "/identities/github~1id/value",
    );
    assert_eq!(read(&slash, &p), Some(Read::Text("12345".into())));
    let tilde = mapping(
        Target::Claim("t".into()),
        Transform::Value,
        "/identities/tilde~0name/value",
    );
    assert_eq!(read(&tilde, &p), Some(Read::Text("t".into())));
    // Values of an array of objects, through `each`; items without the field are skipped.
    let mut roles = mapping(Target::Roles, Transform::Values, "/roles");
    roles.each = Some("/name".into());
    roles.prefix = Some("iam:".into());
    assert_eq!(
        read(&roles, &p),
        Some(Read::List(vec!["iam:editor".into(), "iam:viewer".into()]))
    );
    // Nothing of the right shape there: nothing read.
    let null_keys = mapping(
        Target::Groups,
        Transform::Keys,
        "/access_information/hris/values",
    );
    assert_eq!(read(&null_keys, &p), None);
    let missing = mapping(Target::Groups, Transform::Keys, "/no/such");
    assert_eq!(read(&missing, &p), None);
    let not_bool = mapping(
        Target::EmailVerified,
        Transform::Boolean,
        "/first_name/value",
    );
    assert_eq!(read(&not_bool, &p), None);
}

#[test]
fn mappings_fill_the_identity() {
    let mut ldap = mapping(
        Target::Groups,
        Transform::Keys,
        "/access_information/ldap/values",
    );
    ldap.prefix = Some("ldap_".into());
    let map = vec![
        ldap,
        mapping(
            Target::Groups,
            Transform::Keys,
            "/access_information/mozilliansorg/values",
        ),
        mapping(
            Target::EmailVerified,
            Transform::Boolean,
            "/primary_email/metadata/verified",
        ),
        mapping(Target::Name, Transform::Value, "/first_name/value"),
        mapping(
            Target::Roles,
            Transform::Value,
            "/staff_information/title/value",
        ),
        mapping(
            Target::Claim("title".into()),
            Transform::Value,
            "/staff_information/title/value",
        ),
        mapping(
            Target::Claim("staff".into()),
            Transform::Boolean,
            "/staff_information/staff/value",
        ),
    ];
    let mut id = Identity {
        sub: "auth0|alice".into(),
        name: Some("from the token".into()),
        roles: vec!["reader".into()],
        groups: vec!["nda".into()],
        ..Identity::default()
    };
    apply(&map, &person(), &mut id);
    assert_eq!(id.groups, ["nda", "ldap_admins", "ldap_team_moco"]);
    assert_eq!(id.roles, ["reader", "Engineer"]);
    assert_eq!(id.email_verified, Some(true));
    assert_eq!(id.name.as_deref(), Some("Alice"));
    assert_eq!(
        id.claims,
        [
            ("staff".to_string(), ClaimValue::Flag(true)),
            ("title".to_string(), ClaimValue::Text("Engineer".into())),
        ]
    );
    // Items a session cannot hold are left out, never split.
    let answer = json!({"g": {"has space": null, "ok": null, "": null}, "n": "bad\nname"});
    let mut id = Identity::default();
    apply(
        &[
            mapping(Target::Groups, Transform::Keys, "/g"),
            mapping(Target::Name, Transform::Value, "/n"),
        ],
        &answer,
        &mut id,
    );
    assert_eq!(id.groups, ["ok"]);
    assert_eq!(id.name, None);
}

#[test]
fn confirmations_refuse_what_is_not_so() {
    let ours = Identity {
        email: Some("alice@example.com".into()),
        ..Identity::default()
    };
    let active = Confirm::True("/active/value".into());
    let same = Confirm::SameEmail("/primary_email/value".into());
    let both = [active.clone(), same.clone()];
    assert_eq!(unconfirmed(&both, &person(), &ours), None);
    let mut inactive = person();
    inactive["active"]["value"] = json!(false);
    assert_eq!(unconfirmed(&both, &inactive, &ours), Some(&active));
    // "true" means the JSON value true, not a truthy string.
    inactive["active"]["value"] = json!("true");
    assert_eq!(unconfirmed(&both, &inactive, &ours), Some(&active));
    let other = Identity {
        email: Some("mallory@example.com".into()),
        ..Identity::default()
    };
    assert_eq!(unconfirmed(&both, &person(), &other), Some(&same));
    // No email in the token: nothing to compare, not confirmed.
    assert_eq!(
        unconfirmed(&both, &person(), &Identity::default()),
        Some(&same)
    );
}

#[test]
fn tokens_are_shared_refreshed_before_expiry_and_dropped_when_refused() {
    let host = MemHost::default();
    assert_eq!(token::cached(&host, "iam", NOW), Cached::Missing);
    assert!(token::claim_fetch(&host, "iam", NOW, 6_000));
    assert!(
        !token::claim_fetch(&host, "iam", NOW + 10, 6_000),
        "one fetch at a time"
    );
    let answer = br#"{"access_token": "tok-1", "expires_in": 86400, "token_type": "Bearer"}"#;
    assert_eq!(
        token::store(&host, "iam", NOW, Some(200), answer).as_deref(),
        Ok("tok-1")
    );
    assert_eq!(
        token::cached(&host, "iam", NOW + 1),
        Cached::Fresh("tok-1".into())
    );
    let due = NOW + 86_400_000 - token::REFRESH_BEFORE_MS;
    assert_eq!(
        token::cached(&host, "iam", due),
        Cached::Due("tok-1".into())
    );
    assert_eq!(
        token::cached(&host, "iam", NOW + 86_400_000),
        Cached::Missing
    );
    // A refused token is dropped only if it is still the cached one.
    token::drop_refused(&host, "iam", "tok-0");
    assert_eq!(
        token::cached(&host, "iam", NOW + 1),
        Cached::Fresh("tok-1".into())
    );
    token::drop_refused(&host, "iam", "tok-1");
    assert_eq!(token::cached(&host, "iam", NOW + 1), Cached::Missing);
    // A stored token freed the fetch's claim: the refused one is replaced at once.
    assert!(token::claim_fetch(&host, "iam", NOW + 2, 6_000));
    // Failures never echo the answer (it may hold a secret).
    let e = token::store(&host, "iam", NOW, Some(401), b"{\"secret\": \"s3cr3t\"}").unwrap_err();
    assert!(!e.contains("s3cr3t"), "{e}");
    assert!(token::store(&host, "iam", NOW, Some(200), b"{}").is_err());
    assert!(token::store(&host, "iam", NOW, None, b"").is_err());
}

/// The test configuration with one identity API.
fn engine(on_failure: &str) -> Engine {
    let mut doc: Value = serde_json::from_str(&format!(
        r#"{{"auth0": {{"domain": "tenant.test", "api": {{"identifier": "{AUDIENCE}"}},
             "cluster": "auth0", "scope": "read:data"}}}}"#
    ))
    .unwrap();
    doc["profile"] = json!([{
        "name": "iam",
        "cluster": "person_api",
        "url": "https://person.example/base/",
        "path": "/v2/user/user_id/{sub}",
        "token": {"client_id": "m2m", "client_secret": "very-secret", "audience": "api.sso.mozilla.com",
                  "scope": "classification:public display:all"},
        "timeout": 2,
        "map": {"groups": {"keys": "/access_information/ldap/values"},
                "staff": {"boolean": "/staff_information/staff/value"}},
        "confirm": [{"true": "/active/value"}],
        "on_failure": on_failure
    }]);
    Engine::new(Config::parse(doc.to_string().as_bytes()).unwrap())
}

/// An engine holding the keys and the API's token, and a login paused on its API call.
fn paused_login(on_failure: &str, token: &[u8]) -> (Engine, MemHost, Req, Pending) {
    let e = engine(on_failure);
    let host = MemHost::default();
    key_cache::store(&host, NOW, &jwks_json()).unwrap();
    token::store(&host, "iam", NOW, Some(200), token).unwrap();
    let req = login_request();
    let (_, pending) = call(e.on_request(&host, &req, NOW));
    (e, host, req, pending)
}

fn login_request() -> Req {
    Req::new("POST", "/authorize").with("authorization", &format!("Bearer {}", jwt(&claims())))
}

fn call(outcome: Outcome<'_>) -> (Call, Pending) {
    match outcome {
        Outcome::Call(call, pending) => (call, pending),
        other => panic!("expected a call: {other:?}"),
    }
}

fn reply(outcome: Outcome<'_>) -> Reply {
    match outcome {
        Outcome::Reply(reply) => reply,
        other => panic!("expected a reply: {other:?}"),
    }
}

fn ok(body: Value) -> Response {
    Response {
        status: Some(200),
        body: Some(body.to_string().into_bytes()),
    }
}

fn header<'a>(call: &'a Call, name: &str) -> Option<&'a str> {
    call.headers
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_str())
}

/// The identity of the session a login reply's cookie names.
fn stored(host: &MemHost, reply: &Reply) -> Identity {
    let cookie = reply
        .headers
        .iter()
        .find(|(k, _)| k == "set-cookie")
        .map(|(_, v)| {
            v.split(';')
                .next()
                .unwrap()
                .split_once('=')
                .unwrap()
                .1
                .to_string()
        })
        .expect("a session cookie");
    let hash = SessionHash::of_cookie(cookie.as_bytes()).unwrap();
    store::lookup(host, &hash, NOW)
        .expect("the session")
        .record()
        .to_session()
        .identity
}

#[test]
fn a_login_fetches_the_token_calls_the_api_and_stores_what_it_says() {
    let e = engine("refuse");
    let host = MemHost::default();
    key_cache::store(&host, NOW, &jwks_json()).unwrap();
    let req = login_request();
    let (fetch, pending) = call(e.on_request(&host, &req, NOW));
    assert_eq!(fetch.cluster, "auth0");
    assert_eq!(header(&fetch, ":path"), Some("/oauth/token"));
    let form = String::from_utf8(fetch.body.clone().unwrap()).unwrap();
    assert!(form.contains("grant_type=client_credentials"), "{form}");
    assert!(form.contains("audience=api.sso.mozilla.com"), "{form}");
    let token = ok(json!({"access_token": "m2m-token", "expires_in": 86400}));
    let (api, pending) = call(e.on_response(&host, &req, pending, token));
    assert_eq!(api.upstream, crate::ports::Upstream::Profile(0));
    assert_eq!(api.cluster, "person_api");
    assert_eq!(api.timeout_ms, 2_000);
    assert_eq!(header(&api, ":authority"), Some("person.example"));
    // The base URL's path comes first; `sub` is URL-encoded.
    assert_eq!(
        header(&api, ":path"),
        Some("/base/v2/user/user_id/auth0%7Calice")
    );
    assert_eq!(header(&api, "authorization"), Some("Bearer m2m-token"));
    assert_eq!(pending.max_answer(), 64 * 1024);
    let r = reply(e.on_response(&host, &req, pending, ok(person())));
    assert_eq!(r.status, 200, "{}", r.body);
    let id = stored(&host, &r);
    assert_eq!(id.groups, ["admins", "team_moco"]);
    assert_eq!(id.claims, [("staff".to_string(), ClaimValue::Flag(true))]);
    assert_eq!(host.count_of(Metric::ProfileTokenFetched), 1);

    // The next login uses the cached token: one call, straight to the API.
    let (api, _) = call(e.on_request(&host, &login_request(), NOW + 5));
    assert_eq!(header(&api, "authorization"), Some("Bearer m2m-token"));
}

#[test]
fn an_inactive_account_is_refused_403() {
    let (e, host, req, pending) = paused_login("continue", br#"{"access_token": "t"}"#);
    let mut answer = person();
    answer["active"]["value"] = json!(false);
    // Even with `continue`: an answer that says no is not a failure to answer.
    let r = reply(e.on_response(&host, &req, pending, ok(answer)));
    assert_eq!(r.status, 403);
    assert!(r.body.contains("identity_not_confirmed"), "{}", r.body);
    assert_eq!(host.count_of(Metric::LoginNotConfirmed), 1);
    assert_eq!(host.count_of(Metric::LoginOk), 0);
}

#[test]
fn a_failing_api_refuses_or_is_skipped_as_configured() {
    for (policy, status) in [("refuse", 503), ("continue", 200)] {
        for failure in [
            Response::none(),
            Response {
                status: Some(500),
                body: Some(b"oops".to_vec()),
            },
            Response {
                status: Some(200),
                body: None,
            },
            Response {
                status: Some(200),
                body: Some(b"not json".to_vec()),
            },
        ] {
            let e = engine(policy);
            let host = MemHost::default();
            key_cache::store(&host, NOW, &jwks_json()).unwrap();
            token::store(&host, "iam", NOW, Some(200), br#"{"access_token": "t"}"#).unwrap();
            let req = login_request();
            let (_, pending) = call(e.on_request(&host, &req, NOW));
            let r = reply(e.on_response(&host, &req, pending, failure.clone()));
            assert_eq!(r.status, status, "{policy} {failure:?}: {}", r.body);
            if policy == "refuse" {
                assert!(r.body.contains("identity_unavailable"));
                assert_eq!(host.count_of(Metric::ProfileRefused), 1);
            } else {
                assert_eq!(host.count_of(Metric::ProfileSkipped), 1);
                assert!(stored(&host, &r).groups.is_empty());
            }
        }
    }
    // A call the host cannot make is a failure like any other.
    let e = engine("continue");
    let host = MemHost::default();
    key_cache::store(&host, NOW, &jwks_json()).unwrap();
    token::store(&host, "iam", NOW, Some(200), br#"{"access_token": "t"}"#).unwrap();
    let (_, pending) = call(e.on_request(&host, &login_request(), NOW));
    assert_eq!(reply(e.on_dispatch_failed(&host, pending)).status, 200);
}

#[test]
fn a_refused_token_is_fetched_anew_once() {
    let (e, host, req, pending) = paused_login("refuse", br#"{"access_token": "old"}"#);
    let unauthorized = Response {
        status: Some(401),
        body: Some(Vec::new()),
    };
    let (fetch, pending) = call(e.on_response(&host, &req, pending, unauthorized.clone()));
    assert_eq!(header(&fetch, ":path"), Some("/oauth/token"));
    let token = ok(json!({"access_token": "new", "expires_in": 3600}));
    let (api, pending) = call(e.on_response(&host, &req, pending, token));
    assert_eq!(header(&api, "authorization"), Some("Bearer new"));
    // Refused again: no third try.
    let r = reply(e.on_response(&host, &req, pending, unauthorized));
    assert_eq!(r.status, 503);
}

#[test]
fn while_another_worker_fetches_the_token_the_policy_applies() {
    let e = engine("continue");
    let host = MemHost::default();
    key_cache::store(&host, NOW, &jwks_json()).unwrap();
    assert!(token::claim_fetch(&host, "iam", NOW, 6_000));
    let r = reply(e.on_request(&host, &login_request(), NOW));
    assert_eq!(r.status, 200);
    assert_eq!(host.count_of(Metric::ProfileSkipped), 1);
}

#[test]
fn the_timer_fetches_tokens_ahead_of_need_once_across_workers() {
    let e = engine("refuse");
    let host = MemHost::default();
    let mut first = crate::engine::timer::Timer::new(0);
    let mut second = crate::engine::timer::Timer::new(1);
    let fetches = |calls: &Vec<(Call, crate::engine::timer::TimerCall)>| {
        calls
            .iter()
            .filter(|(c, _)| {
                c.body
                    .as_deref()
                    .is_some_and(|b| b.starts_with(b"grant_type=client_credentials"))
            })
            .count()
    };
    let a = first.tick(&e, &host, NOW);
    let b = second.tick(&e, &host, NOW);
    assert_eq!((fetches(&a), fetches(&b)), (1, 0));
    let (_, timer_call) = a.into_iter().find(|(c, _)| c.body.is_some()).unwrap();
    let token = ok(json!({"access_token": "t", "expires_in": 86400}));
    first.on_response(&e, &host, timer_call, token, NOW);
    assert_eq!(token::cached(&host, "iam", NOW), Cached::Fresh("t".into()));
    assert_eq!(fetches(&second.tick(&e, &host, NOW + 60_000)), 0);
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let e = engine("refuse");
    let text = format!("{:?}", e.config());
    assert!(!text.contains("very-secret"), "{text}");
}
