//! The JWKS shared by all workers (docs/ARCHITECTURE.md §8 rule 3): one copy in shared data, refreshed on
//! a timer by whichever worker claims the refresh first, refetched on an unknown `kid` at most
//! once per 30 s across the whole process. Each VM keeps the parsed keys until the shared
//! copy changes (its CAS moves), so a login re-parses nothing in the common case.

use std::sync::Arc;

use crate::limiter::claim;
use crate::login::jwks::{decode_cached, encode_cached, KeySet};
use crate::session::store::SharedData;
use crate::time::Millis;

const JWKS_KEY: &str = "auth0_session/jwks";
const REFETCH_KEY: &str = "auth0_session/jwks_refetch";
const REFRESH_KEY: &str = "auth0_session/jwks_refresh";

/// An unknown `kid` triggers at most one fetch per this interval, process-wide.
pub const REFETCH_INTERVAL_MS: Millis = 30_000;
/// The cached JWKS is refreshed this long after it was fetched.
pub const REFRESH_INTERVAL_MS: Millis = 10 * 60_000;
/// While a refresh is due (or no JWKS was ever fetched), timer fetches are this far apart.
pub const REFRESH_RETRY_MS: Millis = 5_000;

/// This VM's parsed view of the shared JWKS.
#[derive(Debug, Default)]
pub struct KeyCache {
    cas: Option<u32>,
    keys: Option<Arc<KeySet>>,
}

impl KeyCache {
    /// The current keys, re-parsed only when the shared copy changed.
    pub fn current(&mut self, host: &dyn SharedData) -> Option<Arc<KeySet>> {
        let (value, cas) = host.get(JWKS_KEY);
        if cas.is_none() || cas != self.cas {
            self.cas = cas;
            self.keys = value
                .as_deref()
                .and_then(decode_cached)
                .and_then(|(_, json)| KeySet::parse(json).ok())
                .map(Arc::new);
        }
        self.keys.clone()
    }
}

/// Stores a freshly fetched JWKS for every worker, if it parses and has a usable key;
/// otherwise the cached copy stays as it was. Returns the number of usable keys.
pub fn store(host: &dyn SharedData, now: Millis, json: &[u8]) -> Result<usize, String> {
    let keys = KeySet::parse(json)?;
    host.set(JWKS_KEY, &encode_cached(now, json), None)
        .map_err(|_| "shared data refused the JWKS".to_string())?;
    Ok(keys.len())
}

fn fetched_at(host: &dyn SharedData) -> Option<Millis> {
    let (value, _) = host.get(JWKS_KEY);
    value.as_deref().and_then(decode_cached).map(|(at, _)| at)
}

/// May a login fetch the JWKS now? With keys cached, the token's `kid` is unknown: at most
/// one such fetch per 30 s, so a flood of made-up kids costs one fetch. With no keys at all
/// (the IdP was unreachable so far), the timer's limit applies instead: the first logins
/// after a start must not spend the unknown-kid budget that a key rotation will need.
pub fn claim_login_fetch(host: &dyn SharedData, now: Millis, have_keys: bool) -> bool {
    if have_keys {
        claim(host, REFETCH_KEY, now, REFETCH_INTERVAL_MS)
    } else {
        claim(host, REFRESH_KEY, now, REFRESH_RETRY_MS)
    }
}

/// Should this worker's timer fetch the JWKS now? True when none was fetched or the copy is
/// older than the refresh interval, and no other worker claimed the fetch in the last few s.
pub fn claim_refresh(host: &dyn SharedData, now: Millis) -> bool {
    let due = fetched_at(host).is_none_or(|at| now >= at.saturating_add(REFRESH_INTERVAL_MS));
    due && claim(host, REFRESH_KEY, now, REFRESH_RETRY_MS)
}

#[cfg(test)]
#[path = "../tests/login/key_cache.rs"]
mod tests;
