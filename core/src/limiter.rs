//! A process-wide "one of you, at most once per interval" built on shared-data CAS: used so
//! that of all the worker VMs exactly one fetches the JWKS or runs a sync at a time.

use crate::store::{SharedData, CAS_MISSING};
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
