//! The IdP's signing keys (JWKS), as cached in shared data so every worker shares one copy.
//! Each key is read with `jsonwebtoken`'s JWK types; only RSA signature keys usable for RS256
//! are kept, and a `kid` only ever selects one of them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::DecodingKey;
use serde_json::Value;

use crate::time::Millis;

/// JWK members are base64url; some providers pad them, so padding is optional here (unlike
/// in JWTs, where it is refused).
const JWK_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Keys shorter than this are ignored: Auth0 signs with 2048-bit keys.
pub const MIN_KEY_BITS: usize = 2_048;
/// Keys longer than this are ignored too. The two backends disagree on the largest key they
/// take (RustCrypto 4096 bits, aws-lc 8192), and a huge modulus makes every verification with
/// it slow: one bound for every host.
pub const MAX_KEY_BITS: usize = 4_096;
/// RSA public exponents both backends accept: odd, at least 3, below 2^33.
const MAX_EXPONENT_BYTES: usize = 5;

pub use crate::idp::MAX_JWKS_BYTES;

#[derive(Clone, Default)]
pub struct KeySet {
    keys: Vec<(String, DecodingKey)>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|(kid, _)| kid))
            .finish()
    }
}

impl KeySet {
    /// Parses a JWKS document. Keys that are not RS256 signature keys are skipped; a document
    /// with none left is an error, so a broken answer never replaces a working cache.
    pub fn parse(json: &[u8]) -> Result<KeySet, String> {
        if json.len() > MAX_JWKS_BYTES {
            return Err(format!("JWKS larger than {MAX_JWKS_BYTES} bytes"));
        }
        let doc: Value =
            serde_json::from_slice(json).map_err(|e| format!("JWKS is not JSON: {e}"))?;
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("JWKS has no \"keys\" array")?;
        // Key by key rather than as one `JwkSet`: a key of a kind the library does not know
        // (a new curve, a malformed member) must not hide the good keys beside it.
        let set = KeySet {
            keys: keys
                .iter()
                .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
                .filter_map(|jwk| rs256_key(&jwk))
                .collect(),
        };
        if set.keys.is_empty() {
            return Err("JWKS has no usable RS256 signing key".into());
        }
        Ok(set)
    }

    pub fn get(&self, kid: &str) -> Option<&DecodingKey> {
        self.keys.iter().find(|(k, _)| k == kid).map(|(_, key)| key)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn rs256_key(jwk: &Jwk) -> Option<(String, DecodingKey)> {
    let AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
        return None;
    };
    let common = &jwk.common;
    if common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
        || common
            .key_algorithm
            .is_some_and(|a| a != KeyAlgorithm::RS256)
    {
        return None;
    }
    let kid = common.key_id.as_deref().filter(|k| !k.is_empty())?;
    let n = JWK_BASE64.decode(&rsa.n).ok()?;
    let e = JWK_BASE64.decode(&rsa.e).ok()?;
    let n = strip_leading_zeros(&n);
    let e = strip_leading_zeros(&e);
    let bits = n.first().map_or(0, |top| {
        (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize)
    });
    if !(MIN_KEY_BITS..=MAX_KEY_BITS).contains(&bits) {
        return None;
    }
    let odd = e.last().is_some_and(|low| low & 1 == 1);
    if e.len() > MAX_EXPONENT_BYTES
        || !odd
        || e == [1]
        || (e.len() == MAX_EXPONENT_BYTES && e[0] > 1)
    {
        return None;
    }
    Some((kid.to_string(), DecodingKey::from_rsa_raw_components(n, e)))
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// The shared-data value: when it was fetched, then the IdP's document as received.
pub fn encode_cached(fetched_at: Millis, json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + json.len());
    out.extend_from_slice(&fetched_at.to_le_bytes());
    out.extend_from_slice(json);
    out
}

pub fn decode_cached(bytes: &[u8]) -> Option<(Millis, &[u8])> {
    let (stamp, json) = bytes.split_first_chunk::<8>()?;
    Some((Millis::from_le_bytes(*stamp), json))
}

/// base64url without padding, as JWTs and session secrets use.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
#[path = "../tests/login/jwks.rs"]
mod tests;
