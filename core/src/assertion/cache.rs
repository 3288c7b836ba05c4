//! Signed assertions kept for reuse, per (session, audience) (docs/ARCHITECTURE.md §11).
//!
//! Where: in the engine's memory, not in shared data. A shared-data entry would cost every
//! authenticated request one more host call and a copy (the very cost the hot path counts),
//! to save a signature per worker and window; in process memory a hit is a lock, a short
//! scan and one copy of the token into the header. The wasm filter has one engine per worker
//! VM (single-threaded: its locks are never contended), so each worker signs once per session,
//! audience and window; native hosts share one engine across threads, so the map is split
//! into shards chosen by the session hash (already uniform: SHA-256), and threads serving
//! different sessions rarely meet on a lock. No global lock is on the hot path.
//!
//! Bounded: [`SHARDS`] × [`PER_SHARD`] entries; a full shard replaces an expired entry, else
//! the one due soonest for re-signing. A session evicted is only signed again.

use std::sync::Mutex;

use super::claims::{Claims, OwnedClaims};
use crate::session::SessionHash;
use crate::time::Millis;

/// Shards of the cache (a power of two: the first byte of the session hash picks one).
pub const SHARDS: usize = 32;
/// Entries per shard: a scan of this many 16-byte hashes is shorter than a hash map's
/// hashing of the audience.
pub const PER_SHARD: usize = 64;

struct Entry {
    hash: SessionHash,
    audience: Box<str>,
    claims: OwnedClaims,
    /// When the token is signed anew: half its lifetime after `iat`.
    renew_at: Millis,
    token: Box<str>,
}

pub struct Cache {
    shards: Vec<Mutex<Vec<Entry>>>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the tokens: they are credentials for the app.
        f.debug_struct("Cache").finish_non_exhaustive()
    }
}

impl Default for Cache {
    fn default() -> Self {
        Cache {
            shards: (0..SHARDS).map(|_| Mutex::new(Vec::new())).collect(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned shard only means a thread panicked while holding it; entries are whole
    // (each is replaced by one assignment), so the cache stays usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Cache {
    fn shard(&self, hash: &SessionHash) -> &Mutex<Vec<Entry>> {
        &self.shards[usize::from(hash.0[0]) % SHARDS]
    }

    /// The cached token for this session and audience if it still says `claims` and is not
    /// due for re-signing at `now`.
    pub fn get(
        &self,
        hash: &SessionHash,
        audience: &str,
        claims: &Claims<'_>,
        now: Millis,
    ) -> Option<Vec<u8>> {
        let shard = lock(self.shard(hash));
        shard
            .iter()
            .find(|e| e.hash == *hash && &*e.audience == audience)
            .filter(|e| now < e.renew_at && e.claims.view() == *claims)
            .map(|e| e.token.as_bytes().to_vec())
    }

    /// Keeps a freshly signed token, replacing this session and audience's older one.
    pub fn put(
        &self,
        hash: &SessionHash,
        audience: &str,
        claims: &Claims<'_>,
        renew_at: Millis,
        token: &str,
        now: Millis,
    ) {
        let entry = Entry {
            hash: *hash,
            audience: audience.into(),
            claims: OwnedClaims::of(claims),
            renew_at,
            token: token.into(),
        };
        let mut shard = lock(self.shard(hash));
        let slot = shard
            .iter()
            .position(|e| e.hash == *hash && &*e.audience == audience)
            .or_else(|| shard.iter().position(|e| e.renew_at <= now));
        match slot {
            Some(at) => shard[at] = entry,
            None if shard.len() < PER_SHARD => shard.push(entry),
            None => {
                let soonest = shard
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, e)| e.renew_at)
                    .map_or(0, |(at, _)| at);
                shard[soonest] = entry;
            }
        }
    }

    /// Entries held (for tests and the bound).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
