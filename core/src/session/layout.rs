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

/// A bucket's shared-data key, built on the stack: every protected request names one.
#[derive(Clone, Copy)]
pub struct BucketKey {
    bytes: [u8; KEY_PREFIX.len() + 16],
    len: usize,
}

impl std::ops::Deref for BucketKey {
    type Target = str;

    fn deref(&self) -> &str {
        // Only ASCII is ever written (the prefix and hex digits).
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or(KEY_PREFIX)
    }
}

impl std::fmt::Debug for BucketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

/// `auth0_session/sessions/` and the index in at least three lower-case hex digits.
pub fn bucket_key(index: usize) -> BucketKey {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut key = BucketKey {
        bytes: [0; KEY_PREFIX.len() + 16],
        len: KEY_PREFIX.len(),
    };
    key.bytes[..KEY_PREFIX.len()].copy_from_slice(KEY_PREFIX.as_bytes());
    let digits = (usize::BITS - index.leading_zeros()).div_ceil(4).max(3) as usize;
    for i in 0..digits {
        let nibble = (index >> (4 * (digits - 1 - i))) & 0xf;
        key.bytes[key.len] = HEX[nibble];
        key.len += 1;
    }
    key
}
