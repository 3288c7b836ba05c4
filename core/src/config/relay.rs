//! `relay`: how the tokens routes relay (`"relay": "access_token"` on a rule) reach the app,
//! and the keys that encrypt tokens at rest (docs/configuration.md, "Token relay"). Read
//! with the rest of the document; its checks are here so that the shared files only hook it
//! in.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::Deserialize;

use super::{error, ConfigError};
use crate::duration::Duration;
use crate::syntax::is_token;

/// `relay` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
pub(super) struct RawRelay {
    header: Option<String>,
    refresh_skew: Option<Duration>,
    keys: Option<Vec<String>>,
    offline_access: Option<bool>,
}

/// An AEAD key for tokens at rest: 32 bytes, named by an id derived from the key itself (so
/// that reordering the list, as a rotation does, never renames a key).
#[derive(Clone, PartialEq, Eq)]
pub struct TokenKey {
    pub id: [u8; 4],
    pub bytes: [u8; 32],
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        write!(f, "TokenKey({:02x?})", self.id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelaySettings {
    /// The request header a relayed token goes in, as `Bearer <token>`. Default:
    /// `authorization`.
    pub header: String,
    /// A token is refreshed this long before it expires. Default: 60 s.
    pub refresh_skew_secs: u64,
    /// Keys that encrypt tokens at rest (AES-256-GCM): the first encrypts, all decrypt.
    /// Default: none.
    pub keys: Vec<TokenKey>,
    /// Whether logins ask for `offline_access` (a refresh token) when a rule relays.
    /// Default: true.
    pub offline_access: bool,
}

impl Default for RelaySettings {
    fn default() -> Self {
        RelaySettings {
            header: "authorization".into(),
            refresh_skew_secs: 60,
            keys: Vec::new(),
            offline_access: true,
        }
    }
}

/// Headers a relayed token may never be written into: the filter's own credentials, the
/// identity headers and what routes the request.
const RESERVED: &[&str] = &["cookie", "host", "content-length", "transfer-encoding"];

pub(super) fn parse_relay(
    raw: Option<RawRelay>,
    identity_headers: &[&str],
) -> Result<RelaySettings, ConfigError> {
    let mut settings = RelaySettings::default();
    let Some(raw) = raw else {
        return Ok(settings);
    };
    if let Some(header) = raw.header {
        if !is_token(&header) || header.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(error(
                "relay.header",
                format!("{header:?} is not a lower-case header name"),
            ));
        }
        if RESERVED.contains(&header.as_str()) || identity_headers.contains(&header.as_str()) {
            return Err(error(
                "relay.header",
                format!("{header:?} is the session's or an identity header; name another"),
            ));
        }
        settings.header = header;
    }
    if let Some(Duration(secs)) = raw.refresh_skew {
        if secs > 3_600 {
            return Err(error(
                "relay.refresh_skew",
                "at most one hour (tokens are refreshed this long before they expire)",
            ));
        }
        settings.refresh_skew_secs = secs;
    }
    if let Some(keys) = raw.keys {
        if keys.is_empty() {
            return Err(error(
                "relay.keys",
                "must list at least one key (32 random bytes, base64)",
            ));
        }
        for (i, text) in keys.into_iter().enumerate() {
            let key = format!("relay.keys[{i}]");
            let bytes = STANDARD
                .decode(text.trim())
                .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim()))
                .map_err(|_| error(&key, "is not base64 (use 32 random bytes, base64)"))?;
            let bytes: [u8; 32] = bytes.try_into().map_err(|_| {
                error(
                    &key,
                    "must be exactly 32 bytes once decoded (AES-256-GCM keys)",
                )
            })?;
            let id = key_id(&bytes);
            if settings.keys.iter().any(|k| k.id == id) {
                return Err(error(&key, "repeats an earlier key"));
            }
            settings.keys.push(TokenKey { id, bytes });
        }
    }
    if let Some(b) = raw.offline_access {
        settings.offline_access = b;
    }
    Ok(settings)
}

/// The first four bytes of the key's SHA-256 under a fixed label: names the key in each
/// ciphertext without revealing anything usable about it.
fn key_id(bytes: &[u8; 32]) -> [u8; 4] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"auth0-session token key id\0");
    h.update(bytes);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}
