//! [`SharedData`] over process memory, for native hosts whose workers are threads of one
//! process (the Envoy dynamic module; a native auth server). Same semantics as Envoy's wasm
//! shared data (docs/ARCHITECTURE.md §6): copies out, CAS on write, a missing key always
//! inserts, no delete. The core writes only fixed keys (4,096 session buckets, a few control
//! keys), so memory stays bounded by live sessions exactly as in the wasm build.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{PoisonError, RwLock};

use crate::ports::{Reader, SetError, SharedData};

/// One shard: key -> (value, CAS).
type Shard = RwLock<HashMap<String, (Vec<u8>, u32)>>;

/// Independent locks, so that workers touching different buckets do not wait for each other.
const SHARDS: usize = 64;

#[derive(Debug)]
pub struct MemoryStore {
    shards: Vec<Shard>,
    hasher: RandomState,
    next_cas: AtomicU32,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            hasher: RandomState::new(),
            next_cas: AtomicU32::new(1),
        }
    }
}

impl MemoryStore {
    fn shard(&self, key: &str) -> &Shard {
        let at = self.hasher.hash_one(key) as usize % SHARDS;
        &self.shards[at]
    }

    /// Number of keys and bytes of values held, for tests and memory reports.
    pub fn size(&self) -> (usize, usize) {
        self.shards.iter().fold((0, 0), |(keys, bytes), shard| {
            let map = shard.read().unwrap_or_else(PoisonError::into_inner);
            (
                keys + map.len(),
                bytes
                    + map
                        .iter()
                        .map(|(k, (v, _))| k.len() + v.len())
                        .sum::<usize>(),
            )
        })
    }
}

impl SharedData for MemoryStore {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        let map = self
            .shard(key)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        match map.get(key) {
            Some((value, cas)) => (Some(value.clone()), Some(*cas)),
            None => (None, None),
        }
    }

    fn read(&self, key: &str, read: &mut Reader<'_>) {
        let map = self
            .shard(key)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        match map.get(key) {
            Some((value, cas)) => read(Some(value), Some(*cas)),
            None => read(None, None),
        }
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SetError> {
        let mut map = self
            .shard(key)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let next = self.next_cas.fetch_add(1, Ordering::Relaxed).max(1);
        match map.get_mut(key) {
            Some((current, current_cas)) => {
                // CAS 0 (or none) overwrites; any other must match.
                if cas.is_some_and(|c| c != 0 && c != *current_cas) {
                    return Err(SetError::CasMismatch);
                }
                current.clear();
                current.extend_from_slice(value);
                *current_cas = next;
            }
            None => {
                map.insert(key.to_string(), (value.to_vec(), next));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "../tests/session/memory.rs"]
mod tests;
