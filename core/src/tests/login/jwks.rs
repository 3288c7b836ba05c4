use super::*;
use crate::testing::jwk;
use serde_json::{json, Value};

#[test]
fn keeps_only_rs256_signature_keys() {
    let mut enc = jwk("enc", 0);
    enc["use"] = json!("enc");
    let mut ps = jwk("ps", 0);
    ps["alg"] = json!("PS256");
    let mut bare = jwk("bare", 1);
    bare.as_object_mut().unwrap().remove("alg");
    bare.as_object_mut().unwrap().remove("use");
    let doc = json!({"keys": [jwk("good", 0), enc, ps, bare,
        {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
        {"kty": "RSA", "kid": "tiny", "n": "AQAB", "e": "AQAB"},
        {"kty": "RSA", "n": jwk("x", 0)["n"], "e": "AQAB"}]});
    let set = KeySet::parse(doc.to_string().as_bytes()).unwrap();
    assert_eq!(set.len(), 2);
    assert!(set.get("good").is_some() && set.get("bare").is_some());
    assert!(set.get("enc").is_none() && set.get("ps").is_none() && set.get("tiny").is_none());
}

#[test]
fn broken_documents_are_errors() {
    for doc in [
        &b"not json"[..],
        b"{}",
        b"{\"keys\": 3}",
        b"{\"keys\": []}",
        b"{\"keys\": [{\"kty\": \"oct\"}]}",
    ] {
        assert!(KeySet::parse(doc).is_err());
    }
    assert!(KeySet::parse(&vec![b' '; MAX_JWKS_BYTES + 1]).is_err());
}

#[test]
fn padded_members_are_accepted() {
    let mut k = jwk("p", 0);
    let n = k["n"].as_str().unwrap().to_string();
    k["n"] = json!(format!("{n}{}", "=".repeat((4 - n.len() % 4) % 4)));
    assert_eq!(
        KeySet::parse(json!({"keys": [k]}).to_string().as_bytes())
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn cached_form_round_trips() {
    let bytes = encode_cached(42, b"{}");
    assert_eq!(decode_cached(&bytes), Some((42, &b"{}"[..])));
    assert_eq!(decode_cached(b"short"), None);
}

fn with_members(n: Vec<u8>, e: &[u8]) -> Value {
    let mut k = jwk("sized", 0);
    k["n"] = json!(crate::testing::b64(&n));
    k["e"] = json!(crate::testing::b64(e));
    json!({"keys": [jwk("good", 0), k]})
}

#[test]
fn key_sizes_and_exponents_both_backends_take() {
    let count = |doc: Value| KeySet::parse(doc.to_string().as_bytes()).unwrap().len();
    let modulus = |bits: usize| {
        let mut n = vec![0xffu8; bits.div_ceil(8)];
        n[0] = 0xff >> ((8 - bits % 8) % 8);
        n
    };
    assert_eq!(count(with_members(modulus(2048), &[1, 0, 1])), 2);
    assert_eq!(count(with_members(modulus(4096), &[1, 0, 1])), 2);
    // A leading zero byte does not make a short key long.
    let mut padded = vec![0u8; 64];
    padded.extend(modulus(2040));
    assert_eq!(count(with_members(padded, &[1, 0, 1])), 1);
    assert_eq!(count(with_members(modulus(2047), &[1, 0, 1])), 1);
    assert_eq!(count(with_members(modulus(4097), &[1, 0, 1])), 1);
    assert_eq!(count(with_members(modulus(8192), &[1, 0, 1])), 1);
    assert_eq!(count(with_members(modulus(2048), &[3])), 2);
    for e in [
        &[1u8][..],
        &[2],
        &[1, 0, 0],
        &[],
        &[2, 0, 0, 0, 1],
        &[1, 0, 0, 0, 0, 1],
    ] {
        assert_eq!(count(with_members(modulus(2048), e)), 1, "e = {e:?}");
    }
}

#[test]
fn a_key_the_library_cannot_read_does_not_hide_the_others() {
    let doc = json!({"keys": [
        {"kty": "RSA", "kid": "odd", "use": 5, "n": "AQAB", "e": "AQAB"},
        {"kty": "OKP", "kid": "ed448", "crv": "Ed448", "x": "AA"},
        jwk("good", 0)]});
    let set = KeySet::parse(doc.to_string().as_bytes()).unwrap();
    assert_eq!(set.len(), 1);
    assert!(set.get("good").is_some());
}
