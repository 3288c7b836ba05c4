//! The signed identity assertion (docs/ARCHITECTURE.md §11): a JWT the proxy adds to every
//! authenticated request it forwards, so that the app can verify who the user is with any
//! JWT library against the proxy's JWKS, instead of trusting the network path (Pomerium's
//! `X-Pomerium-Jwt-Assertion`, Google IAP's `x-goog-iap-jwt-assertion`).
//!
//! Signed once per session and audience and reused ([`cache`]) until half its lifetime has
//! passed or the session's claims ([`claims::claims_of`]) change: never a signature per
//! request. The protected flow ([`crate::protected`]) asks [`Assertions::issue`] for the
//! header's value; client-sent copies are removed there on every path.

pub mod cache;
pub mod claims;
pub mod keys;

use std::borrow::Cow;

use crate::config::AssertionSettings;
use crate::metrics::Metric;
use crate::ports::Host;
use crate::reply::Reply;
use crate::session::{RecordView, SessionHash};
use crate::time::Millis;

use self::cache::Cache;
use self::claims::{claims_of, payload, Envelope};

/// Longest `:authority` taken as an audience: a host name and port.
const MAX_AUDIENCE_BYTES: usize = 255;

/// The engine's signer: the settings come from the configuration on each call, the cache is
/// its own.
#[derive(Debug, Default)]
pub struct Assertions {
    cache: Cache,
}

impl Assertions {
    /// The assertion for a live session's request: from the cache when it still holds, else
    /// signed now and cached. `None` when there is no audience to sign for (no `audience`
    /// configured and no usable `:authority`): the header is then removed, never guessed.
    pub fn issue(
        &self,
        host: &dyn Host,
        settings: &AssertionSettings,
        hash: &SessionHash,
        record: &RecordView<'_>,
        authority: Option<&[u8]>,
        now: Millis,
    ) -> Option<Vec<u8>> {
        let audience = match &settings.audience {
            Some(configured) => Cow::Borrowed(configured.as_str()),
            None => audience_of(authority?)?,
        };
        let claims = claims_of(record);
        if let Some(token) = self.cache.get(hash, &audience, &claims, now) {
            return Some(token);
        }
        let key = settings.keys.first()?;
        let expires = now
            .saturating_add(settings.lifetime.saturating_mul(1_000))
            .min(record.max_deadline());
        let sid = hash.public_id();
        let envelope = Envelope {
            iss: &settings.issuer,
            aud: &audience,
            sid: &sid,
            iat: now / 1_000,
            exp: expires / 1_000,
        };
        let token = key.sign(&payload(&claims, &envelope));
        host.count(Metric::AssertionsSigned, 1);
        let renew_at = now.saturating_add(expires.saturating_sub(now) / 2);
        self.cache
            .put(hash, &audience, &claims, renew_at, &token, now);
        Some(token.into_bytes())
    }

    /// Tokens cached (for tests).
    pub fn cached(&self) -> usize {
        self.cache.len()
    }
}

/// How long verifiers may keep the JWKS (the rotation procedure waits this long after
/// publishing a new key before signing with it).
pub const JWKS_MAX_AGE_SECS: u64 = 300;

/// The JWKS endpoint's answer: every configured public key, cacheable for
/// [`JWKS_MAX_AGE_SECS`]. A public endpoint: it holds nothing secret.
pub fn jwks_reply(settings: Option<&AssertionSettings>, method: &[u8]) -> Reply {
    let Some(settings) = settings else {
        return Reply::error(404, "not_found", "no assertion is configured");
    };
    if method != b"GET" && method != b"HEAD" {
        return Reply::error(405, "method_not_allowed", "use GET")
            .with_header("allow", "GET, HEAD");
    }
    Reply {
        status: 200,
        headers: vec![
            ("content-type".into(), "application/jwk-set+json".into()),
            (
                "cache-control".into(),
                format!("public, max-age={JWKS_MAX_AGE_SECS}"),
            ),
        ],
        body: settings.jwks.clone(),
    }
}

/// The request's `:authority` as an audience: a host (and port) as the client named it, in
/// lower case; nothing that could not be one.
fn audience_of(authority: &[u8]) -> Option<Cow<'_, str>> {
    let text = std::str::from_utf8(authority).ok()?;
    let usable = !text.is_empty()
        && text.len() <= MAX_AUDIENCE_BYTES
        && text
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b'"' | b'\\' | b'@'));
    if !usable {
        return None;
    }
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        Some(Cow::Owned(text.to_ascii_lowercase()))
    } else {
        Some(Cow::Borrowed(text))
    }
}

#[cfg(test)]
#[path = "../tests/assertion.rs"]
mod tests;
