//! The per-login cookie, MACed so that a callback trusts only what this proxy set at the redirect.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::config::{CodeFlow, Config};
use crate::session::cookie_mac::HmacKey;
use crate::session::same_bytes;
use crate::shared_data::{SharedData, CAS_MISSING};
use crate::time::Millis;

/// What the browser keeps between the redirect and the callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LoginCookie {
    pub(super) state: String,
    pub(super) verifier: String,
    pub(super) nonce: String,
    pub(super) return_to: String,
    pub(super) expires: Millis,
}

/// Shared-data key of the login-cookie key made when no signing keys are configured.
/// How long a started login may take before its cookie is no good.
pub const LOGIN_TTL_MS: Millis = 10 * 60_000;
/// Random bytes a login start needs: state, PKCE verifier, nonce, and a login-cookie key
/// should none exist yet.
pub const START_RANDOM_BYTES: usize = 128;

const LOGIN_KEY: &str = "auth0_session/login_cookie_key";
const LOGIN_KEY_BYTES: usize = 32;
const LOGIN_TAG_BYTES: usize = 16;

/// The keys that MAC the per-login cookie (docs/ARCHITECTURE.md §8 rule 4), so that a cookie planted by
/// someone else (login CSRF: the victim ends up in the attacker's account; or a return path
/// of the attacker's choosing) is refused: `session.cookie.signing_keys` when configured,
/// otherwise one random key per Envoy process, kept in shared data because the callback may
/// land on another worker than the redirect.
pub struct LoginMac {
    keys: Vec<HmacKey>,
}

impl LoginMac {
    /// `fresh`: random bytes to make the process key from if it does not exist yet (at the
    /// start of a login); at a callback there is nothing to verify without one.
    pub fn new(config: &Config, host: &dyn SharedData, fresh: Option<&[u8]>) -> Option<LoginMac> {
        let keys = &config.cookie.signing_keys;
        if !keys.is_empty() {
            return Some(LoginMac {
                keys: keys.iter().map(|k| HmacKey::new(k.as_bytes())).collect(),
            });
        }
        let stored = |value: Option<Vec<u8>>| value.filter(|k| k.len() == LOGIN_KEY_BYTES);
        let key = match stored(host.get(LOGIN_KEY).0) {
            Some(key) => key,
            None => {
                let fresh = fresh.filter(|f| f.len() == LOGIN_KEY_BYTES)?;
                // Another worker may create it at the same moment: the first write wins and
                // everyone uses what is stored.
                let _ = host.set(LOGIN_KEY, fresh, Some(CAS_MISSING));
                stored(host.get(LOGIN_KEY).0)?
            }
        };
        Some(LoginMac {
            keys: vec![HmacKey::new(&key)],
        })
    }

    fn tag(key: &HmacKey, name: &str, payload: &[u8]) -> [u8; 32] {
        let mut message = b"auth0-session login cookie\0".to_vec();
        message.extend_from_slice(name.as_bytes());
        message.push(0);
        message.extend_from_slice(payload);
        key.tag(&message)
    }

    pub(super) fn sign(&self, name: &str, payload: &str) -> String {
        let tag = self
            .keys
            .first()
            .map(|key| Self::tag(key, name, payload.as_bytes()))
            .unwrap_or_default();
        format!("{payload}.{}", b64(&tag[..LOGIN_TAG_BYTES]))
    }

    /// The payload of a cookie value whose tag one of the keys made.
    pub(super) fn verify<'v>(&self, name: &str, value: &'v [u8]) -> Option<&'v [u8]> {
        let dot = value.iter().rposition(|&b| b == b'.')?;
        let (payload, tag) = (&value[..dot], &value[dot + 1..]);
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.keys
            .iter()
            .any(|key| same_bytes(&Self::tag(key, name, payload)[..LOGIN_TAG_BYTES], &tag))
            .then_some(payload)
    }
}

impl LoginCookie {
    pub(super) fn encode(&self) -> String {
        let v = json!({"s": self.state, "v": self.verifier, "n": self.nonce, "r": self.return_to, "e": self.expires});
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    pub(super) fn decode(value: &[u8]) -> Option<LoginCookie> {
        let bytes = URL_SAFE_NO_PAD.decode(value).ok()?;
        let v: Value = serde_json::from_slice(&bytes).ok()?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        Some(LoginCookie {
            state: s("s")?,
            verifier: s("v")?,
            nonce: s("n")?,
            return_to: s("r")?,
            expires: v.get("e")?.as_u64()?,
        })
    }
}

/// One cookie per login in progress, named after its state, so that several tabs logging in
/// at once do not overwrite each other. It lives on the callback path only, which a
/// `__Host-` cookie may not (browsers want `Path=/` for those): a `__Host-` session cookie's
/// login cookies are `__Secure-` ones instead.
pub(super) fn login_cookie_name(config: &Config, state: &str) -> String {
    let name = &config.cookie.name;
    let (prefix, base) = match name
        .strip_prefix("__Host-")
        .or_else(|| name.strip_prefix("__Secure-"))
    {
        Some(base) if config.cookie.secure => ("__Secure-", base),
        Some(base) => ("", base),
        None => ("", name.as_str()),
    };
    format!("{prefix}{base}_login_{}", state.get(..12).unwrap_or(state))
}

pub(super) fn login_cookie(
    config: &Config,
    cf: &CodeFlow,
    name: &str,
    value: &str,
    max_age_secs: u64,
) -> String {
    let mut c = format!(
        "{name}={value}; Max-Age={max_age_secs}; Path={}; HttpOnly; SameSite=Lax",
        cf.callback
    );
    if config.cookie.secure {
        c.push_str("; Secure");
    }
    c
}

pub(super) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}
