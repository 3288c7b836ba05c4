//! The assertion's signing keys (docs/ARCHITECTURE.md §10): EC P-256 private keys from the
//! configuration, each named by its RFC 7638 thumbprint, published as a JWKS, and the ES256
//! compact JWS they sign. A leaf: it imports nothing of the crate.
//!
//! ES256 signatures here use RFC 6979 nonces (p256's `Signer`): the same key and message give
//! the same signature, and no randomness is needed, which the wasm filter does not have on
//! its hot path. A nonce that repeats for two different messages would reveal the key; a
//! deterministic one cannot.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::DecodePrivateKey;
use p256::SecretKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// One configured key: the private half never leaves this type (its `Debug` shows the kid
/// only, so a configuration printed in a log shows no key).
#[derive(Clone)]
pub struct AssertionKey {
    signing: SigningKey,
    kid: String,
    x: String,
    y: String,
}

impl fmt::Debug for AssertionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssertionKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Two keys are the same key when their public halves are: the thumbprint says so.
impl PartialEq for AssertionKey {
    fn eq(&self, other: &Self) -> bool {
        self.kid == other.kid
    }
}

impl AssertionKey {
    /// A PEM private key: PKCS#8 (`BEGIN PRIVATE KEY`, what `openssl genpkey -algorithm EC
    /// -pkeyopt ec_paramgen_curve:P-256` writes) or SEC1 (`BEGIN EC PRIVATE KEY`, what
    /// `openssl ecparam -genkey -name prime256v1` writes). The error never quotes the key.
    pub fn from_pem(pem: &str) -> Result<AssertionKey, String> {
        let pem = pem.trim();
        let secret = if pem.starts_with("-----BEGIN PRIVATE KEY-----") {
            SecretKey::from_pkcs8_pem(pem)
                .map_err(|_| "is not a PKCS#8 EC P-256 private key".to_string())?
        } else if pem.starts_with("-----BEGIN EC PRIVATE KEY-----") {
            SecretKey::from_sec1_pem(pem)
                .map_err(|_| "is not a SEC1 EC P-256 private key".to_string())?
        } else {
            return Err(
                "must be a PEM EC P-256 private key (-----BEGIN PRIVATE KEY----- or -----BEGIN EC PRIVATE KEY-----)"
                    .into(),
            );
        };
        let point = secret.public_key().to_encoded_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err("has no usable public key".into());
        };
        let x = URL_SAFE_NO_PAD.encode(x);
        let y = URL_SAFE_NO_PAD.encode(y);
        Ok(AssertionKey {
            kid: thumbprint(&x, &y),
            signing: SigningKey::from(secret),
            x,
            y,
        })
    }

    /// The RFC 7638 thumbprint of the public key: what a verifier's JWKS lookup matches.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "EC",
            "crv": "P-256",
            "x": self.x,
            "y": self.y,
            "kid": self.kid,
            "use": "sig",
            "alg": "ES256",
        })
    }

    /// A compact JWS (`header.payload.signature`) of `payload`, ES256 with this key's kid.
    pub fn sign(&self, payload: &[u8]) -> String {
        let header = format!(r#"{{"alg":"ES256","typ":"JWT","kid":"{}"}}"#, self.kid);
        let mut jws = String::with_capacity(payload.len() * 4 / 3 + 200);
        URL_SAFE_NO_PAD.encode_string(header, &mut jws);
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut jws);
        let signature: Signature = self.signing.sign(jws.as_bytes());
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut jws);
        jws
    }

    /// The verifying half, for tests that check a signature with p256's own verifier.
    pub fn verifying_key(&self) -> p256::ecdsa::VerifyingKey {
        *self.signing.verifying_key()
    }
}

/// RFC 7638: SHA-256 of the required members in lexicographic order, no whitespace.
fn thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// The JWKS document of every configured key (all are published: the first signs, the others
/// still verify assertions signed before a rotation).
pub fn jwks(keys: &[AssertionKey]) -> String {
    json!({ "keys": keys.iter().map(AssertionKey::jwk).collect::<Vec<_>>() }).to_string()
}
