//! The IdP's signing keys (JWKS), as cached in shared data so every worker shares one copy.
//! Only RSA signature keys usable for RS256 are kept; a `kid` only ever selects one of them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use rsa::{BigUint, RsaPublicKey};
use serde_json::Value;

use crate::time::Millis;

/// JWK members are base64url; some providers pad them, so padding is optional here (unlike
/// in JWTs, where it is refused).
const JWK_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Keys shorter than this are ignored: Auth0 signs with 2048-bit keys.
const MIN_KEY_BITS: usize = 2_048;

/// Largest JWKS document accepted from the IdP.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<(String, RsaPublicKey)>,
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
        let set = KeySet {
            keys: keys.iter().filter_map(rs256_key).collect(),
        };
        if set.keys.is_empty() {
            return Err("JWKS has no usable RS256 signing key".into());
        }
        Ok(set)
    }

    pub fn get(&self, kid: &str) -> Option<&RsaPublicKey> {
        self.keys.iter().find(|(k, _)| k == kid).map(|(_, key)| key)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn rs256_key(jwk: &Value) -> Option<(String, RsaPublicKey)> {
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    if field("kty")? != "RSA" {
        return None;
    }
    if field("use").is_some_and(|u| u != "sig") || field("alg").is_some_and(|a| a != "RS256") {
        return None;
    }
    let kid = field("kid")?;
    let n = BigUint::from_bytes_be(&JWK_BASE64.decode(field("n")?).ok()?);
    let e = BigUint::from_bytes_be(&JWK_BASE64.decode(field("e")?).ok()?);
    if n.bits() < MIN_KEY_BITS {
        return None;
    }
    RsaPublicKey::new(n, e)
        .ok()
        .map(|key| (kid.to_string(), key))
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
#[path = "tests/jwks.rs"]
mod tests;
