use super::*;
use crate::testing::jwk;
use serde_json::json;

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
