//! A process-wide "one of you, at most once per interval" built on shared-data CAS: used so
//! that of all the worker VMs exactly one fetches the JWKS or runs a sync at a time.

use crate::shared_data::{update, SharedData, UpdateError, Write, CAS_MISSING};
use crate::time::Millis;

/// True for exactly one caller per `interval` across every VM sharing the data.
pub fn claim(host: &dyn SharedData, key: &str, now: Millis, interval: Millis) -> bool {
    let (value, cas) = host.get(key);
    let last = value
        .as_deref()
        .and_then(|v| v.first_chunk::<8>())
        .map(|b| Millis::from_le_bytes(*b));
    if last.is_some_and(|last| now < last.saturating_add(interval)) {
        return false;
    }
    host.set(key, &now.to_le_bytes(), Some(cas.unwrap_or(CAS_MISSING)))
        .is_ok()
}

/// A process-wide token bucket in one shared-data key (docs/ARCHITECTURE.md §8 rule 8): `per_second`
/// tokens a second, at most `burst` saved up. Takes one token, or says in how many seconds
/// one will be there. Contention beyond the CAS retries counts as "no token" (fail closed).
pub fn take(
    host: &dyn SharedData,
    key: &str,
    now: Millis,
    per_second: u32,
    burst: u32,
) -> Result<(), u64> {
    // Milli-tokens: per_second tokens a second is per_second milli-tokens a millisecond.
    let rate = u64::from(per_second.max(1));
    let cap = u64::from(burst.max(1)) * 1_000;
    let taken = update(host, key, |value, _| {
        let (tokens, last) = match value.and_then(|v| v.first_chunk::<16>()) {
            Some(b) => {
                let mut t = [0u8; 8];
                let mut l = [0u8; 8];
                t.copy_from_slice(&b[..8]);
                l.copy_from_slice(&b[8..]);
                (u64::from_le_bytes(t), u64::from_le_bytes(l))
            }
            None => (cap, now),
        };
        let refilled = tokens
            .saturating_add(now.saturating_sub(last).saturating_mul(rate))
            .min(cap);
        if refilled < 1_000 {
            let wait = (1_000 - refilled).div_ceil(rate * 1_000).max(1);
            return Ok::<_, UpdateError>(Write::Keep(Err(wait)));
        }
        let mut out = Vec::with_capacity(16);
        out.extend_from_slice(&(refilled - 1_000).to_le_bytes());
        out.extend_from_slice(&now.max(last).to_le_bytes());
        Ok(Write::Set(out, Ok(())))
    });
    taken.unwrap_or(Err(1))
}

#[cfg(test)]
#[path = "tests/limiter.rs"]
mod tests;
