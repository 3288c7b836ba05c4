//! The client-credentials token of each identity API, shared by every worker (docs/DESIGN.md
//! §4: cache the M2M token; calling Auth0 per login is how people get 429s). One copy per
//! API in shared data, fetched by whoever claims the fetch (the timer before it is due, or a
//! login that finds none), one fetch at a time across the process; a token the API refused
//! (401) is dropped so that the next claim fetches anew. The token is never logged.

use serde_json::Value;

use crate::limiter::claim;
use crate::ports::SharedData;
use crate::shared_data::{update, UpdateError, Write};
use crate::time::Millis;

/// A token is fetched anew this long before it expires (or at half its life, if shorter).
pub const REFRESH_BEFORE_MS: Millis = 5 * 60_000;
/// A token this close to its expiry is not used any more.
pub const SAFETY_MS: Millis = 10_000;
/// Most bytes of a token kept.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

fn token_key(api: &str) -> String {
    format!("auth0_session/profile_token/{api}")
}

fn claim_key(api: &str) -> String {
    format!("auth0_session/profile_token_fetch/{api}")
}

/// The cached token, as the login sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cached {
    /// Good, and not due for a refresh.
    Fresh(String),
    /// Still good, but due: whoever claims the fetch refreshes it; the others use this.
    Due(String),
    /// None, expired or refused.
    Missing,
}

/// Stored: refresh-at and expires-at (u64 LE each), then the token.
fn decode(value: &[u8]) -> Option<(Millis, Millis, &[u8])> {
    let refresh = Millis::from_le_bytes(*value.first_chunk::<8>()?);
    let expires = Millis::from_le_bytes(*value.get(8..)?.first_chunk::<8>()?);
    Some((refresh, expires, value.get(16..)?))
}

pub fn cached(host: &dyn SharedData, api: &str, now: Millis) -> Cached {
    let (value, _) = host.get(&token_key(api));
    let Some((refresh, expires, token)) = value.as_deref().and_then(decode) else {
        return Cached::Missing;
    };
    let Ok(token) = std::str::from_utf8(token) else {
        return Cached::Missing;
    };
    if token.is_empty() || now.saturating_add(SAFETY_MS) >= expires {
        Cached::Missing
    } else if now >= refresh {
        Cached::Due(token.to_string())
    } else {
        Cached::Fresh(token.to_string())
    }
}

/// Claims the one fetch of `api`'s token: true for one caller per `hold_ms` (the fetch's
/// timeout, so that a fetch that never answers frees the claim).
pub fn claim_fetch(host: &dyn SharedData, api: &str, now: Millis, hold_ms: Millis) -> bool {
    claim(host, &claim_key(api), now, hold_ms)
}

/// Reads a token endpoint's answer and stores the token for every worker; the token, or
/// why not (without the answer's contents).
pub fn store(
    host: &dyn SharedData,
    api: &str,
    now: Millis,
    status: Option<u32>,
    body: &[u8],
) -> Result<String, String> {
    match status {
        Some(200) => {}
        Some(s) => return Err(format!("token endpoint answered {s}")),
        None => return Err("no answer from the token endpoint".into()),
    }
    let answer: Value = serde_json::from_slice(body).map_err(|_| "token answer is not JSON")?;
    let token = answer
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| {
            !t.is_empty() && t.len() <= MAX_TOKEN_BYTES && t.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or("token answer has no usable access_token")?;
    let lifetime = answer
        .get("expires_in")
        .and_then(Value::as_u64)
        .unwrap_or(3_600)
        .saturating_mul(1_000);
    let expires = now.saturating_add(lifetime);
    let refresh = now.saturating_add(lifetime.saturating_sub(REFRESH_BEFORE_MS).max(lifetime / 2));
    let mut value = Vec::with_capacity(16 + token.len());
    value.extend_from_slice(&refresh.to_le_bytes());
    value.extend_from_slice(&expires.to_le_bytes());
    value.extend_from_slice(token.as_bytes());
    host.set(&token_key(api), &value, None)
        .map_err(|_| "shared data refused the token")?;
    // The fetch is over: free its claim, so that a token refused soon after (revoked
    // upstream) can be fetched anew at once rather than after the claim's hold.
    let _ = host.set(&claim_key(api), &0u64.to_le_bytes(), None);
    Ok(token.to_string())
}

/// Drops `token` if it is still the cached one (the API refused it): a token another worker
/// fetched meanwhile stays.
pub fn drop_refused(host: &dyn SharedData, api: &str, token: &str) {
    let _ = update(host, &token_key(api), |value, _| {
        let same = value
            .and_then(decode)
            .is_some_and(|(_, _, cached)| cached == token.as_bytes());
        Ok::<_, UpdateError>(if same {
            Write::Set(Vec::new(), ())
        } else {
            Write::Keep(())
        })
    });
}
