//! The signed identity assertion: keys, signatures a standard verifier accepts, the cache
//! (reuse, re-signing at half life and on a claims change), client copies removed, the JWKS
//! endpoint and the configuration's errors.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::cache::{Cache, PER_SHARD, SHARDS};
use super::claims::claims_of;
use super::keys::AssertionKey;
use super::*;
use crate::config::{Config, ConfigError};
use crate::engine::{Engine, Outcome};
use crate::identity::Identity;
use crate::request::filter::HeaderEdit;
use crate::session::{encode_record, Session};
use crate::testing::{MemHost, Req, AUDIENCE, NOW_SECS};

const NOW: Millis = NOW_SECS * 1_000;

/// PKCS#8, as `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256` writes it.
const KEY_1: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgvAlITXeR/zQhTl+F
zfNLCq2UbpmsiG6HHri7ArUsYtahRANCAASxhptcuIgHOPZjecoqBvAlKVdrr3xV
Ob0jmXfk4CKfYEm+xNY8l/ft3YEJbxqZJ2hRUTVcq8brr4UtwDZeVPPG
-----END PRIVATE KEY-----";

/// SEC1, as `openssl ecparam -genkey -name prime256v1 -noout` writes it.
const KEY_2: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIPPg76aZGM4W+lIubRZArBxs+XqtnBaZZaU10qLosDrZoAoGCCqGSM49
AwEHoUQDQgAEC7XhcFyzAJe6fJCzdx0ISOfyIClJXrqTcqpCuEkSEzHk9azro2eA
LRTOFCqwT/bbebFISpAXsXb7IsvA+4dE9A==
-----END EC PRIVATE KEY-----";

/// A P-384 key: not what ES256 signs with.
const KEY_P384: &str = "-----BEGIN PRIVATE KEY-----
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDA5puqmy6hQe66bZ34W
-----END PRIVATE KEY-----";

fn config_with(assertion: Value) -> Result<Config, ConfigError> {
    let doc = json!({
        "auth0": {"domain": "tenant.test", "api": {"identifier": AUDIENCE}, "cluster": "auth0"},
        "public": ["/healthz", "/static/"],
        "headers": {"x-auth-user": "sub", "x-auth-roles": "roles"},
        "assertion": assertion,
    });
    Config::parse(doc.to_string().as_bytes())
}

fn config(audience: Option<&str>) -> Config {
    let mut a = json!({"issuer": "https://proxy.example/", "keys": [KEY_1, KEY_2]});
    if let Some(aud) = audience {
        a["audience"] = aud.into();
    }
    config_with(a).unwrap()
}

/// A configuration without an audience, a host and an empty cache.
fn fixture() -> (Config, MemHost, Assertions) {
    (config(None), MemHost::default(), Assertions::default())
}

fn settings(c: &Config) -> &AssertionSettings {
    c.assertion.as_ref().unwrap()
}

fn session(seed: u8, roles: &[&str]) -> Session {
    let identity = Identity {
        sub: "auth0|alice".into(),
        email: Some("alice@example.com".into()),
        name: Some("Alice".into()),
        sid: Some("auth0-sid".into()),
        permissions: vec!["read:data".into()],
        roles: roles.iter().map(|r| r.to_string()).collect(),
        ..Identity::default()
    };
    let hash = SessionHash([seed; 16]);
    Session::new(hash, identity, NOW, 3_600_000, 30 * 86_400_000)
}

fn record_bytes(s: &Session) -> Vec<u8> {
    let mut out = Vec::new();
    encode_record(s, 0, &mut out);
    out
}

fn issue(
    a: &Assertions,
    host: &MemHost,
    c: &Config,
    s: &Session,
    aud: Option<&str>,
    now: Millis,
) -> Option<String> {
    let bytes = record_bytes(s);
    let record = RecordView { bytes: &bytes };
    a.issue(
        host,
        settings(c),
        &s.hash,
        &record,
        aud.map(str::as_bytes),
        now,
    )
    .map(|t| String::from_utf8(t).unwrap())
}

fn part(token: &str, i: usize) -> Value {
    let text = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).unwrap()).unwrap()
}

/// What an app does: the key named by `kid` from the published JWKS, then the signature.
fn verify(jwks: &str, token: &str) -> Result<Value, String> {
    let jwks: Value = serde_json::from_str(jwks).unwrap();
    let header = part(token, 0);
    if header["alg"] != "ES256" {
        return Err("alg".into());
    }
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .ok_or("no such kid")?;
    let coord = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
    let point = p256::EncodedPoint::from_affine_coordinates(
        coord("x").as_slice().into(),
        coord("y").as_slice().into(),
        false,
    );
    let key = VerifyingKey::from_encoded_point(&point).map_err(|e| e.to_string())?;
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap())
        .map_err(|e| e.to_string())?;
    key.verify(signed.as_bytes(), &signature)
        .map_err(|e| e.to_string())?;
    Ok(part(token, 1))
}

#[test]
fn keys_in_both_pem_forms_are_named_by_their_rfc_7638_thumbprint() {
    for pem in [KEY_1, KEY_2] {
        let key = AssertionKey::from_pem(pem).unwrap();
        let jwk = key.jwk();
        // The required members, sorted, no whitespace (a BTreeMap serializes sorted).
        let required: BTreeMap<&str, &Value> = ["crv", "kty", "x", "y"]
            .into_iter()
            .map(|m| (m, &jwk[m]))
            .collect();
        let canonical = serde_json::to_string(&required).unwrap();
        let expected = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        assert_eq!(key.kid(), expected);
        assert_eq!(jwk["kid"], expected);
        assert_eq!(
            (jwk["kty"].as_str(), jwk["crv"].as_str()),
            (Some("EC"), Some("P-256"))
        );
        assert!(
            jwk.get("d").is_none(),
            "the private part is never published"
        );
        assert!(!format!("{key:?}").contains(&pem[40..60]));
    }
}

#[test]
fn a_signature_verifies_against_the_published_jwks_with_p256s_verifier() {
    let (c, host, a) = fixture();
    let s = session(1, &["admin", "staff"]);
    let token = issue(&a, &host, &c, &s, Some("App.Example:8443"), NOW).unwrap();
    let header = part(&token, 0);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(
        header["kid"],
        settings(&c).keys[0].kid(),
        "the first key signs"
    );
    let claims = verify(&settings(&c).jwks, &token).unwrap();
    assert_eq!(
        claims,
        json!({
            "iss": "https://proxy.example/",
            "aud": "app.example:8443",
            "sub": "auth0|alice",
            "email": "alice@example.com",
            "name": "Alice",
            "permissions": ["read:data"],
            "roles": ["admin", "staff"],
            "sid": s.hash.public_id(),
            "iat": NOW_SECS,
            "exp": NOW_SECS + 300,
        })
    );
    // Neither the hash sessions are looked up by nor Auth0's sid.
    assert_ne!(claims["sid"], s.hash.hex());
    assert_eq!(claims["sid"].as_str().unwrap().len(), 24);
    // A token altered anywhere no longer verifies.
    let mut tampered = token.clone().into_bytes();
    let at = tampered.len() - 5;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    assert!(verify(&settings(&c).jwks, &String::from_utf8(tampered).unwrap()).is_err());
}

#[test]
fn signatures_are_deterministic_rfc_6979() {
    // Our signer: the same key and message give the same token, with no randomness.
    let key = AssertionKey::from_pem(KEY_1).unwrap();
    assert_eq!(key.sign(b"{\"sub\":\"x\"}"), key.sign(b"{\"sub\":\"x\"}"));
    assert_ne!(key.sign(b"{\"sub\":\"x\"}"), key.sign(b"{\"sub\":\"y\"}"));
    // The library's nonce is RFC 6979's: its P-256/SHA-256 vector for "sample" (A.2.5).
    use p256::ecdsa::signature::Signer;
    let x = hex("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721");
    let signing = p256::ecdsa::SigningKey::from_slice(&x).unwrap();
    let signature: Signature = signing.sign(b"sample");
    assert_eq!(
        signature.to_bytes().to_vec(),
        hex(concat!(
            "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716",
            "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8"
        ))
    );
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn signed_once_per_session_and_audience_then_reused() {
    let (c, host, a) = fixture();
    let s = session(2, &["staff"]);
    let first = issue(&a, &host, &c, &s, Some("a.example"), NOW).unwrap();
    for ms in [1, 1_000, 149_999] {
        assert_eq!(
            issue(&a, &host, &c, &s, Some("a.example"), NOW + ms).unwrap(),
            first
        );
    }
    assert_eq!(host.count_of(Metric::AssertionsSigned), 1);
    // Another audience is another assertion; each is reused.
    let other = issue(&a, &host, &c, &s, Some("b.example"), NOW + 10).unwrap();
    assert_ne!(other, first);
    assert_eq!(
        issue(&a, &host, &c, &s, Some("b.example"), NOW + 20).unwrap(),
        other
    );
    assert_eq!(host.count_of(Metric::AssertionsSigned), 2);
    // Another session is another assertion.
    let t = session(3, &["staff"]);
    assert_ne!(
        issue(&a, &host, &c, &t, Some("a.example"), NOW).unwrap(),
        first
    );
    assert_eq!(a.cached(), 3);
}

#[test]
fn re_signed_at_half_its_lifetime() {
    let c = config(Some("https://app.example"));
    let host = MemHost::default();
    let a = Assertions::default();
    let s = session(4, &[]);
    let first = issue(&a, &host, &c, &s, None, NOW).unwrap();
    assert_eq!(
        issue(&a, &host, &c, &s, None, NOW + 149_999).unwrap(),
        first
    );
    let second = issue(&a, &host, &c, &s, None, NOW + 150_000).unwrap();
    assert_ne!(second, first);
    let claims = verify(&settings(&c).jwks, &second).unwrap();
    assert_eq!(claims["iat"], NOW_SECS + 150);
    assert_eq!(claims["exp"], NOW_SECS + 450);
    assert_eq!(
        claims["aud"], "https://app.example",
        "the configured audience wins"
    );
    assert_eq!(host.count_of(Metric::AssertionsSigned), 2);
}

#[test]
fn re_signed_when_the_claims_change() {
    let (c, host, a) = fixture();
    let before = issue(
        &a,
        &host,
        &c,
        &session(5, &["staff"]),
        Some("a.example"),
        NOW,
    )
    .unwrap();
    // The same session (same hash) with a role removed, e.g. after re-enrichment.
    let after = issue(
        &a,
        &host,
        &c,
        &session(5, &[]),
        Some("a.example"),
        NOW + 1_000,
    )
    .unwrap();
    assert_ne!(after, before);
    assert_eq!(
        verify(&settings(&c).jwks, &after).unwrap()["roles"],
        json!([])
    );
    assert_eq!(host.count_of(Metric::AssertionsSigned), 2);
    assert_eq!(a.cached(), 1, "the older one is replaced");
}

#[test]
fn the_assertion_ends_with_its_session() {
    let (c, host, a) = fixture();
    let mut s = session(6, &[]);
    s.max_deadline = NOW + 60_000;
    let token = issue(&a, &host, &c, &s, Some("a.example"), NOW).unwrap();
    assert_eq!(
        verify(&settings(&c).jwks, &token).unwrap()["exp"],
        NOW_SECS + 60
    );
}

#[test]
fn no_audience_no_assertion() {
    let (c, host, a) = fixture();
    let s = session(7, &[]);
    for bad in [None, Some(""), Some("a b"), Some("evil/x"), Some("a\"b")] {
        assert_eq!(issue(&a, &host, &c, &s, bad, NOW), None, "{bad:?}");
    }
    let long = "a".repeat(256);
    assert_eq!(issue(&a, &host, &c, &s, Some(&long), NOW), None);
    assert_eq!(host.count_of(Metric::AssertionsSigned), 0);
}

#[test]
fn the_cache_is_bounded() {
    let (c, host, a) = fixture();
    for i in 0..(SHARDS * PER_SHARD + 500) {
        let mut s = session(0, &[]);
        s.hash.0[..8].copy_from_slice(&(i as u64).to_le_bytes());
        issue(&a, &host, &c, &s, Some("a.example"), NOW).unwrap();
    }
    assert!(a.cached() <= SHARDS * PER_SHARD, "{}", a.cached());
    let cache = Cache::default();
    assert!(cache.is_empty());
}

#[test]
fn claims_are_read_from_the_record_in_one_place() {
    let s = session(8, &["staff"]);
    let bytes = record_bytes(&s);
    let claims = claims_of(&RecordView { bytes: &bytes });
    assert_eq!(claims.sub, b"auth0|alice");
    assert_eq!(claims.roles, b"staff");
    assert_eq!(
        (claims.email_verified, claims.groups),
        (None, None),
        "until enrichment"
    );
}

#[test]
fn claims_carry_what_enrichment_added_to_the_record() {
    let mut s = session(9, &["staff"]);
    s.identity.groups = vec!["team_a".into(), "vpn".into()];
    s.identity.email_verified = Some(true);
    let bytes = record_bytes(&s);
    let claims = claims_of(&RecordView { bytes: &bytes });
    assert_eq!(claims.groups, Some(&b"team_a vpn"[..]));
    assert_eq!(claims.email_verified, Some(true));
}

/// A request to the app's host, for the engine.
fn app_request(method: &str, path: &str) -> Req {
    Req::new(method, path).with(":authority", "App.Example")
}

fn logged_in(e: &Engine, host: &MemHost) -> String {
    let identity = Identity {
        sub: "auth0|alice".into(),
        ..Default::default()
    };
    let answer = e.filter.sessions().create_session(
        host,
        identity,
        &[9; 32],
        NOW,
        crate::session::create::Landing::Json,
    );
    let crate::session::create::Answer::Now(reply) = answer else {
        panic!("{answer:?}");
    };
    let body: Value = serde_json::from_str(&reply.body).unwrap();
    format!("session={}", body["value"].as_str().unwrap())
}

fn forwarded(outcome: Outcome<'_>) -> Vec<HeaderEdit<'_>> {
    match outcome {
        Outcome::Forward(edits) => edits.into_vec(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_engine_sets_it_on_protected_requests_and_removes_client_copies_everywhere() {
    let e = Engine::new(config(None));
    let host = MemHost::default();
    let cookie = logged_in(&e, &host);
    let forged = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.";
    // Protected: ours replaces the client's, and the `_` spelling goes too.
    let req = app_request("GET", "/app")
        .with("cookie", &cookie)
        .with("x-auth-assertion", forged)
        .with("X_Auth_Assertion", forged);
    let edits = forwarded(e.on_request(&host, &req, NOW + 10));
    let set: Vec<&crate::ports::HeaderValue> = edits
        .iter()
        .filter_map(|ed| match ed {
            HeaderEdit::Set("x-auth-assertion", v) => Some(v),
            _ => None,
        })
        .collect();
    assert_eq!(set.len(), 1, "{edits:?}");
    let claims = verify(
        &settings(e.config()).jwks,
        std::str::from_utf8(set[0]).unwrap(),
    )
    .unwrap();
    assert_eq!(claims["aud"], "app.example");
    assert_eq!(claims["sub"], "auth0|alice");
    assert!(claims.get("email").is_none(), "absent, not empty");
    assert!(edits.contains(&HeaderEdit::RemoveName("X_Auth_Assertion".into())));
    // The next request reuses it.
    let again = forwarded(e.on_request(&host, &req, NOW + 20));
    assert!(again.contains(&HeaderEdit::Set("x-auth-assertion", set[0].clone())));
    assert_eq!(host.count_of(Metric::AssertionsSigned), 1);
    // Public: removed in every spelling.
    let public = app_request("GET", "/static/app.js")
        .with("x-auth-assertion", forged)
        .with("x_auth_assertion", forged);
    let edits = forwarded(e.on_request(&host, &public, NOW));
    assert!(
        edits.contains(&HeaderEdit::Remove("x-auth-assertion")),
        "{edits:?}"
    );
    assert!(edits.contains(&HeaderEdit::RemoveName("x_auth_assertion".into())));
    // No session: refused, nothing forwarded.
    let anonymous = app_request("GET", "/app").with("x-auth-assertion", forged);
    assert!(matches!(e.on_request(&host, &anonymous, NOW), Outcome::Reply(r) if r.status == 401));
    // Without an authority (and no configured audience) the header is removed, not guessed.
    let mut bare = app_request("GET", "/app")
        .with("cookie", &cookie)
        .with("x-auth-assertion", forged);
    bare.0.remove(":authority");
    let edits = forwarded(e.on_request(&host, &bare, NOW + 30));
    assert!(
        edits.contains(&HeaderEdit::Remove("x-auth-assertion")),
        "{edits:?}"
    );
}

#[test]
fn the_jwks_is_served_publicly_and_cacheable() {
    let e = Engine::new(config(None));
    let host = MemHost::default();
    let Outcome::Reply(reply) = e.on_request(
        &host,
        &app_request("GET", "/.well-known/auth0-session/jwks.json"),
        NOW,
    ) else {
        panic!()
    };
    assert_eq!(reply.status, 200);
    let header = |n: &str| {
        reply
            .headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("cache-control"), Some("public, max-age=300"));
    let jwks: Value = serde_json::from_str(&reply.body).unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "every key is published");
    assert!(keys
        .iter()
        .all(|k| k.get("d").is_none() && k["alg"] == "ES256"));
    let Outcome::Reply(post) = e.on_request(
        &host,
        &app_request("POST", "/.well-known/auth0-session/jwks.json"),
        NOW,
    ) else {
        panic!()
    };
    assert_eq!(post.status, 405);
}

#[test]
fn configuration_errors_name_the_key() {
    let base = || json!({"issuer": "https://proxy.example/", "keys": [KEY_1]});
    let err = |a: Value| config_with(a).unwrap_err();
    let with = |k: &str, v: Value| {
        let mut a = base();
        a[k] = v;
        a
    };
    let ok = config_with(base()).unwrap();
    let s = settings(&ok);
    assert_eq!(
        (
            s.header.as_str(),
            s.lifetime,
            s.jwks_path.as_str(),
            s.audience.as_deref()
        ),
        (
            "x-auth-assertion",
            300,
            "/.well-known/auth0-session/jwks.json",
            None
        )
    );
    let mut no_issuer = base();
    no_issuer.as_object_mut().unwrap().remove("issuer");
    assert_eq!(err(no_issuer).key, "assertion.issuer");
    let mut no_keys = base();
    no_keys.as_object_mut().unwrap().remove("keys");
    assert_eq!(err(no_keys).key, "assertion.keys");
    assert_eq!(err(with("keys", json!([]))).key, "assertion.keys");
    for lifetime in [json!(30), json!("hour")] {
        let e = err(with("lifetime", lifetime));
        assert_eq!(e.key, "assertion.lifetime");
        assert!(e.reason.contains("60") && e.reason.contains("600"), "{e}");
    }
    assert_eq!(
        config_with(with("lifetime", json!("2minute")))
            .unwrap()
            .assertion
            .unwrap()
            .lifetime,
        120
    );
    for bad in [
        KEY_P384,
        "not a key",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
    ] {
        let e = err(with("keys", json!([KEY_1, bad])));
        assert_eq!(e.key, "assertion.keys[1]", "{e}");
        assert!(
            !e.to_string().contains("MIG"),
            "the key is never quoted: {e}"
        );
    }
    assert_eq!(
        err(with("keys", json!([KEY_1, KEY_1]))).key,
        "assertion.keys[1]"
    );
    assert_eq!(
        err(with("header", json!("x-auth-user"))).key,
        "assertion.header"
    );
    assert_eq!(err(with("header", json!("cookie"))).key, "assertion.header");
    assert_eq!(
        err(with("header", json!("bad header"))).key,
        "assertion.header"
    );
    assert_eq!(
        err(with("jwks_path", json!("/authorize"))).key,
        "assertion.jwks_path"
    );
    assert_eq!(
        err(with("jwks_path", json!("jwks"))).key,
        "assertion.jwks_path"
    );
    assert_eq!(err(with("kid", json!("x"))).key, "assertion.kid");
    assert_eq!(
        config_with(with("header", json!("X-App-Identity")))
            .unwrap()
            .assertion
            .unwrap()
            .header,
        "x-app-identity"
    );
}
