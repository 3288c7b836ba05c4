use super::*;
use crate::testing::*;
use serde_json::json;

fn rules(scopes: &[String]) -> ClaimRules<'_> {
    ClaimRules {
        issuer: ISSUER,
        audience: AUDIENCE,
        scopes,
        now_secs: NOW_SECS,
        roles_claim: Some(ROLES_CLAIM),
    }
}

/// Verifies and checks `token` the way a login does.
fn check(token: &str) -> Result<Identity, TokenErrorKind> {
    check_with(token, &[])
}

fn check_with(token: &str, scopes: &[String]) -> Result<Identity, TokenErrorKind> {
    let jwt = parse_jwt(token).map_err(|e| e.kind)?;
    let expected = Expected {
        issuer: ISSUER,
        audience: AUDIENCE,
    };
    let payload = jwt.verify_for(&keyset(), &expected).map_err(|e| match e {
        VerifyError::UnknownKey => TokenErrorKind::Invalid,
        VerifyError::Token(t) => t.kind,
    })?;
    check_claims(&payload, &rules(scopes))
        .map(|(id, _)| id)
        .map_err(|e| e.kind)
}

fn with_claim(name: &str, value: Value) -> String {
    jwt(&crate::testing::with_key(claims(), name, value))
}

#[test]
fn a_good_token_gives_its_identity() {
    let id = check(&jwt(&claims())).unwrap();
    assert_eq!(
        id,
        Identity {
            sub: "auth0|alice".into(),
            email: Some("alice@example.com".into()),
            name: None,
            permissions: vec!["openid".into(), "read:data".into()],
            ..Default::default()
        }
    );
}

const ROLES_CLAIM: &str = "https://app.example/roles";

#[test]
fn grants_come_from_permissions_else_scope_and_roles_from_the_configured_claim() {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    type Case<'a> = (Value, Option<&'a str>, &'a [&'a str], &'a [&'a str]);
    let table: &[Case<'_>] = &[
        (
            json!({"scope": "openid read:data"}),
            None,
            &["openid", "read:data"],
            &[],
        ),
        (
            json!({"scope": "a b", "permissions": ["read:data", "write:data"]}),
            None,
            &["read:data", "write:data"],
            &[],
        ),
        (json!({"scope": "a", "permissions": []}), None, &[], &[]),
        (
            json!({"scope": "a", "permissions": "read:data"}),
            None,
            &["a"],
            &[],
        ),
        (
            json!({"permissions": ["ok", "has space", "", 7, "x".repeat(256)]}),
            None,
            &["ok"],
            &[],
        ),
        (json!({"scope": 5}), None, &[], &[]),
        (
            json!({ROLES_CLAIM: ["admin", "ops"]}),
            Some(ROLES_CLAIM),
            &[],
            &["admin", "ops"],
        ),
        (
            json!({ROLES_CLAIM: "admin ops"}),
            Some(ROLES_CLAIM),
            &[],
            &["admin", "ops"],
        ),
        (json!({ROLES_CLAIM: ["admin"]}), None, &[], &[]),
        (json!({"roles": ["admin"]}), Some(ROLES_CLAIM), &[], &[]),
        (
            json!({ROLES_CLAIM: {"admin": true}}),
            Some(ROLES_CLAIM),
            &[],
            &[],
        ),
    ];
    for (payload, claim, permissions, roles) in table {
        assert_eq!(
            grants(payload, *claim),
            (strings(permissions), strings(roles)),
            "{payload} / {claim:?}"
        );
    }
    let mut c = claims();
    c["permissions"] = json!(["read:data"]);
    c[ROLES_CLAIM] = json!(["admin"]);
    let id = check(&jwt(&c)).unwrap();
    assert_eq!(
        (id.permissions, id.roles),
        (strings(&["read:data"]), strings(&["admin"]))
    );
}

#[test]
fn issuer_must_match_exactly() {
    let exact = [
        "https://tenant.test",
        "https://tenant.test//",
        "https://evil.test/",
    ];
    let values = exact.map(|iss| json!(iss)).into_iter().chain([Value::Null]);
    refused("iss", values, TokenErrorKind::Invalid);
}

#[test]
fn audience_string_or_array() {
    assert!(check(&with_claim("aud", json!(AUDIENCE))).is_ok());
    assert!(check(&with_claim("aud", json!(["other", AUDIENCE]))).is_ok());
    let values = [
        json!(["other"]),
        json!("https://api.example.com"),
        Value::Null,
        json!(5),
    ];
    refused("aud", values, TokenErrorKind::WrongAudience);
}

/// Every value of `claim` is refused with `kind`.
fn refused(claim: &str, values: impl IntoIterator<Item = Value>, kind: TokenErrorKind) {
    for value in values {
        assert_eq!(
            check(&with_claim(claim, value.clone())),
            Err(kind),
            "{claim}: {value}"
        );
    }
}

#[test]
fn exp_is_required_and_a_number_with_bounded_leeway() {
    assert_eq!(
        check(&with_claim("exp", Value::Null)),
        Err(TokenErrorKind::Invalid)
    );
    assert_eq!(
        check(&with_claim("exp", json!("9999999999"))),
        Err(TokenErrorKind::Invalid)
    );
    assert!(check(&with_claim("exp", json!(NOW_SECS - LEEWAY_SECS))).is_ok());
    assert_eq!(
        check(&with_claim("exp", json!(NOW_SECS - LEEWAY_SECS - 1))),
        Err(TokenErrorKind::Expired)
    );
    assert_eq!(
        check(&with_claim("exp", json!(NOW_SECS - 86_400))),
        Err(TokenErrorKind::Expired)
    );
    const { assert!(LEEWAY_SECS <= 60) };
}

#[test]
fn nbf_in_the_future_is_refused() {
    assert!(check(&with_claim("nbf", json!(NOW_SECS + LEEWAY_SECS))).is_ok());
    assert_eq!(
        check(&with_claim("nbf", json!(NOW_SECS + LEEWAY_SECS + 1))),
        Err(TokenErrorKind::Invalid)
    );
    assert_eq!(
        check(&with_claim("nbf", json!("0"))),
        Err(TokenErrorKind::Invalid)
    );
}

#[test]
fn scopes_from_scope_or_permissions() {
    let need = vec!["read:data".to_string()];
    assert!(check_with(&jwt(&claims()), &need).is_ok());
    assert_eq!(
        check_with(&with_claim("scope", json!("openid read:datas")), &need),
        Err(TokenErrorKind::InsufficientScope)
    );
    let mut c = claims();
    c.as_object_mut().unwrap().remove("scope");
    c["permissions"] = json!(["read:data"]);
    assert!(check_with(&jwt(&c), &need).is_ok());
    let both = vec!["read:data".to_string(), "write:data".to_string()];
    assert_eq!(
        check_with(&jwt(&claims()), &both),
        Err(TokenErrorKind::InsufficientScope)
    );
}

#[test]
fn sub_is_required_and_sane() {
    assert_eq!(
        check(&with_claim("sub", Value::Null)),
        Err(TokenErrorKind::Invalid)
    );
    assert_eq!(
        check(&with_claim("sub", json!(""))),
        Err(TokenErrorKind::Invalid)
    );
    assert_eq!(
        check(&with_claim("sub", json!("x".repeat(300)))),
        Err(TokenErrorKind::Invalid)
    );
    assert_eq!(
        check(&with_claim("sub", json!("a\r\nx-auth-user: admin"))),
        Err(TokenErrorKind::Invalid)
    );
    let id = check(&with_claim("email", json!("e\nvil@example.com"))).unwrap();
    assert_eq!(
        id.email, None,
        "an email that could split a header is dropped"
    );
}

#[test]
fn algorithm_is_pinned_to_rs256() {
    let c = claims();
    for alg in [
        "none", "HS256", "RS384", "RS512", "PS256", "ES256", "rs256", "",
    ] {
        let token = sign(&json!({"alg": alg, "kid": "k1"}), &c, 0);
        assert_eq!(check(&token), Err(TokenErrorKind::Invalid), "alg {alg}");
    }
    let unsigned = format!(
        "{}.{}.",
        b64(br#"{"alg":"none"}"#),
        b64(c.to_string().as_bytes())
    );
    assert!(
        token_from_header(unsigned.as_bytes()).is_err(),
        "empty signature segment"
    );
}

#[test]
fn a_refusal_says_which_segment_is_wrong() {
    let c = claims();
    let none = sign(&json!({"alg": "none", "kid": "k1"}), &c, 0);
    let e = parse_jwt(&none).unwrap_err();
    assert!(e.message.contains("known algorithm"), "{}", e.message);
    let hs256 = sign(&json!({"alg": "HS256", "kid": "k1"}), &c, 0);
    assert_eq!(
        parse_jwt(&hs256).unwrap_err().message,
        "token algorithm is not RS256"
    );
    let list = sign(
        &json!({"alg": "RS256", "kid": "k1"}),
        &json!(["not", "claims"]),
        0,
    );
    assert_eq!(
        parse_jwt(&list).unwrap_err().message,
        "token payload is not a JSON object of claims"
    );
}

#[test]
fn hs256_signed_with_the_public_key_is_refused() {
    // The classic confusion attack: HMAC keyed with the RSA public key's bytes.
    use sha2::{Digest, Sha256};
    let header = json!({"alg": "HS256", "kid": "k1"});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims().to_string().as_bytes())
    );
    let fake_mac = Sha256::digest(format!("{}{}", jwk("k1", 0)["n"], input).as_bytes());
    let token = format!("{input}.{}", b64(&fake_mac));
    assert_eq!(check(&token), Err(TokenErrorKind::Invalid));
}

#[test]
fn kid_only_selects_a_cached_key() {
    let c = claims();
    for kid in [
        json!("nope"),
        json!(""),
        json!("../../etc/passwd"),
        json!("k".repeat(300)),
        json!(7),
        Value::Null,
    ] {
        let token = sign(&json!({"alg": "RS256", "kid": kid}), &c, 0);
        let result = parse_jwt(&token).map(|j| j.verify(&keyset()));
        assert!(
            matches!(result, Err(_) | Ok(Err(VerifyError::UnknownKey))),
            "kid {kid} must not verify"
        );
    }
    // jku/x5u are never consulted: the key still comes from the cache only.
    let token = sign(
        &json!({"alg": "RS256", "kid": "k1", "jku": "https://evil/jwks", "x5u": "https://evil/x"}),
        &c,
        0,
    );
    assert!(check(&token).is_ok());
    let token = sign(
        &json!({"alg": "RS256", "kid": "k1", "jku": "https://evil/jwks"}),
        &c,
        1,
    );
    assert_eq!(
        check(&token),
        Err(TokenErrorKind::Invalid),
        "signed by a key we do not have"
    );
}

#[test]
fn tampering_breaks_the_signature() {
    let token = jwt(&claims());
    let parts: Vec<&str> = token.split('.').collect();
    let mut evil = claims();
    evil["sub"] = json!("auth0|admin");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(evil.to_string().as_bytes()),
        parts[2]
    );
    assert_eq!(check(&tampered), Err(TokenErrorKind::Invalid));
    let mut sig = parts[2].to_string();
    sig.replace_range(0..2, if sig.starts_with("AA") { "BB" } else { "AA" });
    assert_eq!(
        check(&format!("{}.{}.{}", parts[0], parts[1], sig)),
        Err(TokenErrorKind::Invalid)
    );
    assert_eq!(
        check(&format!("{}.{}.{}", parts[0], parts[1], &parts[2][..20])),
        Err(TokenErrorKind::Invalid)
    );
}

#[test]
fn critical_extensions_are_refused() {
    let token = sign(
        &json!({"alg": "RS256", "kid": "k1", "crit": ["exp"]}),
        &claims(),
        0,
    );
    assert_eq!(check(&token), Err(TokenErrorKind::Invalid));
}

#[test]
fn malformed_shapes_never_reach_verification() {
    let good = jwt(&claims());
    let p: Vec<&str> = good.split('.').collect();
    for bad in [
        String::new(),
        "Bearer".to_string(),
        "Bearer ".to_string(),
        format!("{}.{}", p[0], p[1]),
        format!("{}..{}", p[0], p[2]),
        format!(".{}.{}", p[1], p[2]),
        format!("{good}."),
        format!("{}.{}.{}.{}", p[0], p[1], p[2], p[2]),
        "a b c".to_string(),
        "tok\u{e9}n".to_string(),
        "x".repeat(MAX_TOKEN_BYTES + 1),
        "Basic dXNlcjpwYXNz".to_string(),
    ] {
        assert!(token_from_header(bad.as_bytes()).is_err(), "{bad:.60}");
    }
    assert!(token_from_header(b"\xff\xfe").is_err());
}

#[test]
fn token_shapes() {
    let good = jwt(&claims());
    assert_eq!(
        token_from_header(format!("Bearer {good}").as_bytes()),
        Ok(TokenShape::Jwt(&good))
    );
    assert_eq!(
        token_from_header(format!("bearer   {good} ").as_bytes()),
        Ok(TokenShape::Jwt(&good))
    );
    assert_eq!(
        token_from_header(good.as_bytes()),
        Ok(TokenShape::Jwt(&good)),
        "mo-auth's bare token"
    );
    assert_eq!(
        token_from_header(b"Bearer abcDEF-_123"),
        Ok(TokenShape::Opaque("abcDEF-_123"))
    );
    let jwe = "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..iv.ciphertext.tag";
    assert_eq!(
        token_from_header(jwe.as_bytes()),
        Ok(TokenShape::Opaque(jwe))
    );
}

#[test]
fn undecodable_segments_are_invalid() {
    let good = jwt(&claims());
    let p: Vec<&str> = good.split('.').collect();
    let not_json = b64(b"not json");
    let array = b64(b"[1,2]");
    for bad in [
        format!("{}=.{}.{}", p[0], p[1], p[2]),
        format!("{}.{}!.{}", p[0], p[1], p[2]),
        format!("{not_json}.{}.{}", p[1], p[2]),
        format!("{}.{not_json}.{}", p[0], p[2]),
        format!("{array}.{}.{}", p[1], p[2]),
        format!("{}.{array}.{}", p[0], p[2]),
    ] {
        assert_eq!(check(&bad), Err(TokenErrorKind::Invalid), "{bad:.80}");
    }
}

/// Signs a hand-written header and payload (JSON text, so it may repeat a member).
fn sign_raw(header: &str, payload: &str) -> String {
    use rsa::Pkcs1v15Sign;
    use sha2::{Digest, Sha256};
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let digest = Sha256::digest(input.as_bytes());
    let sig = key(0).sign(Pkcs1v15Sign::new::<Sha256>(), &digest).unwrap();
    format!("{input}.{}", b64(&sig))
}

#[test]
fn duplicate_members_are_refused_where_they_could_mislead() {
    let header = r#"{"alg":"RS256","kid":"k1"}"#;
    let body = claims().to_string();
    let body = body.trim_end_matches('}');
    // A second sub, iss, aud or exp: one reader could take the first, another the last.
    for extra in [
        r#","sub":"auth0|admin"}"#,
        r#","iss":"https://evil.test/"}"#,
        r#","aud":"https://evil.test/"}"#,
        r#","exp":1}"#,
    ] {
        let token = sign_raw(header, &format!("{body}{extra}"));
        assert_eq!(check(&token), Err(TokenErrorKind::Invalid), "{extra}");
    }
    // A repeated header member, too: `alg` twice could pin one algorithm and use another.
    let token = sign_raw(
        r#"{"alg":"RS256","kid":"k1","alg":"HS256"}"#,
        &claims().to_string(),
    );
    assert_eq!(check(&token), Err(TokenErrorKind::Invalid));
    let token = sign_raw(
        r#"{"alg":"RS256","kid":"k1","kid":"k2"}"#,
        &claims().to_string(),
    );
    assert_eq!(check(&token), Err(TokenErrorKind::Invalid));
}

#[test]
fn crit_of_any_shape_is_refused() {
    for crit in [json!([]), json!("exp"), json!(["b64"]), json!(5)] {
        let token = sign(
            &json!({"alg": "RS256", "kid": "k1", "crit": crit}),
            &claims(),
            0,
        );
        assert_eq!(check(&token), Err(TokenErrorKind::Invalid), "crit {crit}");
    }
}

#[test]
fn a_key_embedded_in_the_header_is_never_used() {
    // Signed by key 1, which the JWKS does not hold, and carrying key 1 in `jwk`, `x5c`,
    // `jku` and `x5u`: only the cached key for `kid` is ever consulted.
    let token = sign(
        &json!({"alg": "RS256", "kid": "k1", "jwk": jwk("k1", 1),
                "jku": "https://evil/jwks", "x5u": "https://evil/x", "x5c": ["MIIB"]}),
        &claims(),
        1,
    );
    assert_eq!(check(&token), Err(TokenErrorKind::Invalid));
}

#[test]
fn issuer_must_be_one_string_not_a_list_holding_it() {
    assert_eq!(
        check(&with_claim("iss", json!([ISSUER]))),
        Err(TokenErrorKind::Invalid)
    );
    assert_eq!(
        check(&with_claim("iss", json!(["https://evil.test/", ISSUER]))),
        Err(TokenErrorKind::Invalid)
    );
}

#[test]
fn audience_list_with_a_non_string_is_refused() {
    assert_eq!(
        check(&with_claim("aud", json!([5, AUDIENCE]))),
        Err(TokenErrorKind::WrongAudience)
    );
}

#[test]
fn claims_of_the_wrong_type_are_refused() {
    for (name, value) in [
        ("sub", json!(5)),
        ("sub", json!(["auth0|alice"])),
        ("exp", json!(-5)),
        ("exp", json!(true)),
        ("iss", json!(5)),
    ] {
        assert_eq!(
            check(&with_claim(name, value.clone())),
            Err(TokenErrorKind::Invalid),
            "{name}: {value}"
        );
    }
}

#[test]
fn signature_only_verification_skips_the_claim_rules() {
    // Logout tokens have no `exp` and an audience that is a client id: `verify` checks the
    // signature and the pinned algorithm only, `verify_for` the audience and issuer too.
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    c["aud"] = json!("client-id");
    let token = jwt(&c);
    let payload = parse_jwt(&token).unwrap().verify(&keyset()).unwrap();
    assert_eq!(payload["aud"], "client-id");
    let expected = Expected {
        issuer: ISSUER,
        audience: AUDIENCE,
    };
    assert!(matches!(
        parse_jwt(&token).unwrap().verify_for(&keyset(), &expected),
        Err(VerifyError::Token(TokenError {
            kind: TokenErrorKind::Invalid,
            ..
        }))
    ));
    let other = jwt(&claims());
    let tampered = format!(
        "{}.{}",
        &token[..token.rfind('.').unwrap()],
        &other[other.rfind('.').unwrap() + 1..]
    );
    assert!(matches!(
        parse_jwt(&tampered).unwrap().verify(&keyset()),
        Err(VerifyError::Token(_))
    ));
}
