//! Tokens at rest in the sidecar's database (issue 23; docs/configuration.md, `relay.keys`):
//! AES-256-GCM (aws-lc, the crypto the sidecar already links for JWT checks) under the
//! configured keys, the first sealing and every one opening, so keys rotate by putting a new
//! one first. A sealed token is `key id (4) | nonce (12) | ciphertext and tag (16)`; the
//! session's id is the associated data, so a sealed token copied into another session's row
//! does not open. Nonces are random: 96 bits keep a collision out of reach for far more
//! seals per key than a session store makes.
//!
//! Not yet wired to a table: the building block of the sidecar-owned refresh tokens.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use session_core::config::TokenKey;

const ID_LEN: usize = 4;
const TAG_LEN: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CryptError {
    /// `relay.keys` is empty: nothing may be stored.
    NoKey,
    /// No randomness for a nonce.
    Random,
    Seal,
    /// Sealed under a key no longer configured.
    UnknownKey,
    /// Too short to be a sealed token.
    Malformed,
    /// Tampered with, or sealed for another session.
    Open,
}

pub struct TokenCrypt {
    keys: Vec<([u8; ID_LEN], LessSafeKey)>,
}

impl std::fmt::Debug for TokenCrypt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keys.
        let ids: Vec<[u8; ID_LEN]> = self.keys.iter().map(|(id, _)| *id).collect();
        write!(f, "TokenCrypt {{ key ids: {ids:02x?} }}")
    }
}

impl TokenCrypt {
    pub fn new(keys: &[TokenKey]) -> Result<TokenCrypt, CryptError> {
        let keys = keys
            .iter()
            .map(|k| {
                UnboundKey::new(&AES_256_GCM, &k.bytes)
                    .map(|key| (k.id, LessSafeKey::new(key)))
                    .map_err(|_| CryptError::Seal)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TokenCrypt { keys })
    }

    /// Seals `token` for the session `session_id` under the first key.
    pub fn seal(&self, session_id: &[u8], token: &[u8]) -> Result<Vec<u8>, CryptError> {
        let (id, key) = self.keys.first().ok_or(CryptError::NoKey)?;
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| CryptError::Random)?;
        let mut out = Vec::with_capacity(ID_LEN + NONCE_LEN + token.len() + TAG_LEN);
        out.extend_from_slice(id);
        out.extend_from_slice(&nonce);
        let mut body = token.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(session_id),
            &mut body,
        )
        .map_err(|_| CryptError::Seal)?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens what [`TokenCrypt::seal`] sealed for the same session, under any configured key.
    pub fn open(&self, session_id: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptError> {
        if sealed.len() < ID_LEN + NONCE_LEN + TAG_LEN {
            return Err(CryptError::Malformed);
        }
        let (id, rest) = sealed.split_at(ID_LEN);
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let key = self
            .keys
            .iter()
            .find(|(k, _)| k.as_slice() == id)
            .map(|(_, key)| key)
            .ok_or(CryptError::UnknownKey)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptError::Malformed)?;
        let mut body = body.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(session_id), &mut body)
            .map_err(|_| CryptError::Open)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_core::config::Config;

    fn keys(list: &[&str]) -> Vec<TokenKey> {
        let keys: Vec<String> = list.iter().map(|k| format!("{k:?}")).collect();
        let doc = format!(
            r#"{{"auth0": {{"domain": "t.test", "api": {{"identifier": "a"}}, "cluster": "c"}},
                "relay": {{"keys": [{}]}}}}"#,
            keys.join(",")
        );
        Config::parse(doc.as_bytes()).unwrap().relay.keys
    }

    const OLD: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    const NEW: &str = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";

    #[test]
    fn a_sealed_token_opens_only_for_its_session_and_shows_nothing() {
        let crypt = TokenCrypt::new(&keys(&[OLD])).unwrap();
        let sealed = crypt.seal(b"session-a", b"refresh-token-123").unwrap();
        assert_eq!(sealed.len(), 4 + 12 + 17 + 16);
        assert!(!sealed.windows(7).any(|w| w == b"refresh"));
        assert_ne!(
            sealed,
            crypt.seal(b"session-a", b"refresh-token-123").unwrap()
        );
        assert_eq!(
            crypt.open(b"session-a", &sealed).unwrap(),
            b"refresh-token-123"
        );
        assert_eq!(crypt.open(b"session-b", &sealed), Err(CryptError::Open));
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(crypt.open(b"session-a", &tampered), Err(CryptError::Open));
        assert_eq!(
            crypt.open(b"session-a", &sealed[..20]),
            Err(CryptError::Malformed)
        );
        assert!(!format!("{crypt:?}").contains(OLD));
    }

    #[test]
    fn keys_rotate_the_first_seals_all_open() {
        let old = TokenCrypt::new(&keys(&[OLD])).unwrap();
        let sealed_old = old.seal(b"s", b"tok").unwrap();
        let rotated = TokenCrypt::new(&keys(&[NEW, OLD])).unwrap();
        assert_eq!(rotated.open(b"s", &sealed_old).unwrap(), b"tok");
        let sealed_new = rotated.seal(b"s", b"tok").unwrap();
        assert_eq!(old.open(b"s", &sealed_new), Err(CryptError::UnknownKey));
        let retired = TokenCrypt::new(&keys(&[NEW])).unwrap();
        assert_eq!(retired.open(b"s", &sealed_old), Err(CryptError::UnknownKey));
        assert_eq!(
            TokenCrypt::new(&[]).unwrap().seal(b"s", b"t"),
            Err(CryptError::NoKey)
        );
    }
}
