//! The `.wasm`'s RS256 provider, run natively: it must accept and refuse exactly what the
//! aws-lc backend (the native hosts' provider, installed by default in tests) does.

use super::*;
use crate::testing::*;
use serde_json::json;

/// Splits a compact JWS into its signing input and its decoded signature.
fn parts(token: &str) -> (String, Vec<u8>) {
    let (input, signature) = token.rsplit_once('.').unwrap();
    let signature =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, signature)
            .unwrap();
    (input.to_string(), signature)
}

/// Our verdict and aws-lc's (through the library's default provider) on one token.
fn verdicts(token: &str, key: &DecodingKey) -> (bool, bool) {
    let (input, signature) = parts(token);
    let ours = rs256_verifier(&Algorithm::RS256, key)
        .unwrap()
        .verify(input.as_bytes(), &signature)
        .is_ok();
    let (_, encoded) = token.rsplit_once('.').unwrap();
    let library =
        jsonwebtoken::crypto::verify(encoded, input.as_bytes(), key, Algorithm::RS256).unwrap();
    (ours, library)
}

#[test]
fn a_good_signature_verifies_as_with_aws_lc() {
    let keys = keyset();
    let token = jwt(&claims());
    assert_eq!(verdicts(&token, keys.get("k1").unwrap()), (true, true));
}

#[test]
fn a_changed_payload_or_another_key_is_refused_as_with_aws_lc() {
    let keys = keyset();
    let key = keys.get("k1").unwrap();
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "k1"});
    let by_other_key = sign(&header, &claims(), 1);
    assert_eq!(verdicts(&by_other_key, key), (false, false));

    let token = jwt(&claims());
    let (input, signature) = token.rsplit_once('.').unwrap();
    let mut forged = claims();
    forged["sub"] = json!("auth0|mallory");
    let (forged_input, _) = parts(&jwt(&forged));
    assert_ne!(input, forged_input);
    let spliced = format!("{forged_input}.{signature}");
    assert_eq!(verdicts(&spliced, key), (false, false));

    let mut bytes = parts(&token).1;
    bytes[10] ^= 1;
    let flipped = format!("{input}.{}", b64(&bytes));
    assert_eq!(verdicts(&flipped, key), (false, false));
    let truncated = format!("{input}.{}", b64(&bytes[..bytes.len() - 1]));
    assert_eq!(verdicts(&truncated, key), (false, false));
}

#[test]
fn every_algorithm_but_rs256_is_refused() {
    let keys = keyset();
    let key = keys.get("k1").unwrap();
    for alg in [
        Algorithm::HS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
    ] {
        assert!(rs256_verifier(&alg, key).is_err(), "{alg:?} accepted");
    }
}

#[test]
fn only_a_key_given_as_modulus_and_exponent_is_used() {
    // An HMAC secret (the public key's bytes used as a shared secret, the classic confusion)
    // is not an RSA key for this provider.
    let secret = DecodingKey::from_secret(b"the public key, as a shared secret");
    assert!(rs256_verifier(&Algorithm::RS256, &secret).is_err());
}

#[test]
fn signing_and_key_utilities_refuse_instead_of_panicking() {
    let key = EncodingKey::from_secret(b"secret");
    assert!((PROVIDER.signer_factory)(&Algorithm::RS256, &key).is_err());
    assert!((PROVIDER.key_utils.rsa_pub_components_from_public_key)(b"der").is_err());
    assert!((PROVIDER.key_utils.compute_digest)(
        b"data",
        jsonwebtoken::jwk::ThumbprintHash::SHA256
    )
    .is_err());
}
