//! Where sessions live in shared data, and the sidecar's timing the store and the sync both
//! depend on. A leaf of `session/`: the store, the dirty map and the sync all read it, so it
//! imports nothing of theirs.

use crate::session::SessionHash;

/// Number of bucket keys. More buckets make each per-request copy smaller; this many keeps a
/// bucket under a few KB up to about 100,000 live sessions, for at most 4,096 keys.
pub const BUCKETS: usize = 4_096;
const KEY_PREFIX: &str = "auth0_session/sessions/";

/// Timeout of every sidecar call. The sidecar runs next to Envoy; a slow one must not hold
/// logins for long, since they succeed without it anyway.
pub const SIDECAR_TIMEOUT_MS: u64 = 2_000;

pub fn bucket_index(hash: &SessionHash) -> usize {
    (usize::from(hash.0[0]) << 8 | usize::from(hash.0[1])) % BUCKETS
}

pub fn bucket_key(index: usize) -> String {
    format!("{KEY_PREFIX}{index:03x}")
}
