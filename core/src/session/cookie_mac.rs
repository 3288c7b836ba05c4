//! Telling the proxy's own session cookies from forged ones without asking anyone: with
//! `session.cookie.signing_keys` configured, a cookie is `{secret}.{tag}`, the tag being the
//! first 128 bits of HMAC-SHA256(key, secret). A cookie with a wrong tag is refused before any
//! shared-data or sidecar lookup, so a flood of made-up cookies costs two SHA-256 blocks each.
//! The first key signs; every key verifies (list a new key first to rotate without logging
//! anyone out). Without keys, the cookie is the bare secret.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::session::{same_bytes, SessionHash, SECRET_BYTES, SECRET_TEXT_LEN};

const BLOCK: usize = 64;
const TAG_BYTES: usize = 16;
/// Length of the tag as base64url without padding.
const TAG_TEXT_LEN: usize = 22;

/// HMAC-SHA256 with the key's pads absorbed once (RFC 2104): each tag then costs the two
/// compressions of the message, not four.
#[derive(Clone)]
pub(crate) struct HmacKey {
    inner: Sha256,
    outer: Sha256,
}

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacKey(..)")
    }
}

impl HmacKey {
    pub(crate) fn new(key: &[u8]) -> HmacKey {
        let mut block = [0u8; BLOCK];
        if key.len() > BLOCK {
            block[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let pad = |byte: u8| {
            let mut h = Sha256::new();
            h.update(block.map(|b| b ^ byte));
            h
        };
        HmacKey {
            inner: pad(0x36),
            outer: pad(0x5c),
        }
    }

    pub(crate) fn tag(&self, message: &[u8]) -> [u8; 32] {
        let mut inner = self.inner.clone();
        inner.update(message);
        let mut outer = self.outer.clone();
        outer.update(inner.finalize());
        outer.finalize().into()
    }
}

/// Turns secrets into cookie values and back.
#[derive(Debug, Clone, Default)]
pub struct CookieCodec {
    keys: Vec<HmacKey>,
}

impl CookieCodec {
    pub fn new(keys: &[String]) -> CookieCodec {
        CookieCodec {
            keys: keys.iter().map(|k| HmacKey::new(k.as_bytes())).collect(),
        }
    }

    pub fn signs(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The cookie value for a new session's secret (base64url text of 32 random bytes).
    pub fn encode(&self, secret: &str, random: &[u8; SECRET_BYTES]) -> String {
        match self.keys.first() {
            None => secret.to_string(),
            Some(key) => format!(
                "{secret}.{}",
                URL_SAFE_NO_PAD.encode(&key.tag(random)[..TAG_BYTES])
            ),
        }
    }

    /// The session a cookie value names, or `None` for a value the proxy cannot have issued.
    pub fn decode(&self, value: &[u8]) -> Option<SessionHash> {
        if self.keys.is_empty() {
            return SessionHash::of_cookie(value);
        }
        if value.len() != SECRET_TEXT_LEN + 1 + TAG_TEXT_LEN || value[SECRET_TEXT_LEN] != b'.' {
            return None;
        }
        let (secret_text, tag_text) = (&value[..SECRET_TEXT_LEN], &value[SECRET_TEXT_LEN + 1..]);
        let mut secret = [0u8; SECRET_BYTES];
        let mut tag = [0u8; TAG_BYTES];
        if URL_SAFE_NO_PAD
            .decode_slice(secret_text, &mut secret)
            .ok()?
            != SECRET_BYTES
            || URL_SAFE_NO_PAD.decode_slice(tag_text, &mut tag).ok()? != TAG_BYTES
        {
            return None;
        }
        let genuine = self
            .keys
            .iter()
            .any(|key| same_bytes(&key.tag(&secret)[..TAG_BYTES], &tag));
        genuine.then(|| SessionHash::of_secret(&secret))
    }
}

#[cfg(test)]
#[path = "../tests/session/cookie_mac.rs"]
mod tests;
