//! Which sessions each user holds, so that a user's live sessions can be capped
//! (docs/ARCHITECTURE.md §8 rule 8): without a cap, one valid login repeated in a loop grows
//! shared data (and the sidecar) without limit.
//!
//! Shared data has fixed keys and no delete (docs/ARCHITECTURE.md §6), so the index is [`USER_BUCKETS`]
//! keys chosen by SHA-256 of the user's `sub`. Each holds fixed-size entries (a tag of the
//! user, the session's hash, its absolute deadline: [`ENTRY`] bytes) in the order the sessions
//! were created. Invariants:
//! - every live session is listed under its user: it is added at login, before the answer;
//! - a user never has more than the cap listed: a login beyond it ends the oldest listed
//!   session (ending one that already ended or expired costs nothing). The new session is
//!   stored, then listed, then the oldest ended, so that no moment has a live session
//!   unlisted: for the length of that login the user has cap + 1 sessions.
//!
//! Entries leave when their session's absolute deadline passes (every rewrite of a key drops
//! those), when the session is logged out, and at a login of the user beyond the cap when the
//! session is no longer in the store (idle expiry, revocation). So the index holds at most `cap` entries per
//! user and none older than `max_lifetime`: one user looping logins costs at most `cap`
//! entries, and in all at most one entry per session created within `max_lifetime`.

use sha2::{Digest, Sha256};

use crate::session::store::{SharedData, StoreError};
use crate::session::SessionHash;
use crate::shared_data::{self, Write};
use crate::time::Millis;

/// Number of index keys.
pub const USER_BUCKETS: usize = 1_024;
const KEY_PREFIX: &str = "auth0_session/users/";
const VERSION: u8 = 1;
/// tag (8) + session hash (16) + absolute deadline (8).
pub const ENTRY: usize = 32;

/// 64 bits of SHA-256 of the user's `sub`: the index key and the tag within it.
fn tag(sub: &str) -> [u8; 8] {
    let digest = Sha256::digest(sub.as_bytes());
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

fn key(tag: &[u8; 8]) -> String {
    let index = (usize::from(tag[0]) << 8 | usize::from(tag[1])) % USER_BUCKETS;
    format!("{KEY_PREFIX}{index:03x}")
}

#[derive(Clone, Copy)]
struct Entry {
    tag: [u8; 8],
    hash: SessionHash,
    max_deadline: Millis,
}

fn entries(value: Option<&[u8]>) -> Vec<Entry> {
    let body = match value.and_then(|v| v.split_first()) {
        Some((&VERSION, rest)) => rest,
        _ => &[],
    };
    body.chunks_exact(ENTRY)
        .map(|c| {
            let mut tag = [0u8; 8];
            let mut hash = [0u8; 16];
            let mut max = [0u8; 8];
            tag.copy_from_slice(&c[..8]);
            hash.copy_from_slice(&c[8..24]);
            max.copy_from_slice(&c[24..]);
            Entry {
                tag,
                hash: SessionHash(hash),
                max_deadline: Millis::from_le_bytes(max),
            }
        })
        .collect()
}

fn encode(list: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + list.len() * ENTRY);
    out.push(VERSION);
    for e in list {
        out.extend_from_slice(&e.tag);
        out.extend_from_slice(&e.hash.0);
        out.extend_from_slice(&e.max_deadline.to_le_bytes());
    }
    out
}

/// Rewrites the key of `sub` under CAS with `edit` applied to its unexpired entries.
fn update<T>(
    host: &dyn SharedData,
    sub: &str,
    now: Millis,
    edit: &mut dyn FnMut(&[u8; 8], &mut Vec<Entry>) -> T,
) -> Result<T, StoreError> {
    let tag = tag(sub);
    let key = key(&tag);
    shared_data::update(host, &key, |value, _| {
        let mut list: Vec<Entry> = entries(value)
            .into_iter()
            .filter(|e| now < e.max_deadline)
            .collect();
        let result = edit(&tag, &mut list);
        Ok::<_, StoreError>(Write::Set(encode(&list), result))
    })
}

/// Lists a new session under its user; returns the sessions beyond the cap, oldest first,
/// for the caller to end. `alive` says whether a listed session is still in the store.
pub fn add(
    host: &dyn SharedData,
    sub: &str,
    hash: &SessionHash,
    max_deadline: Millis,
    now: Millis,
    cap: u32,
    alive: &dyn Fn(&SessionHash) -> bool,
) -> Result<Vec<SessionHash>, StoreError> {
    let cap = cap.max(1) as usize;
    update(host, sub, now, &mut |tag, list| {
        list.retain(|e| e.tag != *tag || e.hash != *hash);
        list.push(Entry {
            tag: *tag,
            hash: *hash,
            max_deadline,
        });
        let mut mine = list.iter().filter(|e| e.tag == *tag).count();
        if mine > cap {
            // Over the cap: first forget the user's sessions already gone from the store
            // (idle expiry, revocation), so that none costs a live session its place. Only
            // a login beyond the cap pays for these lookups (one per listed session): a
            // login below it reads and writes one key and nothing else.
            list.retain(|e| e.tag != *tag || e.hash == *hash || alive(&e.hash));
            mine = list.iter().filter(|e| e.tag == *tag).count();
        }
        let mut evicted = Vec::new();
        let mut excess = mine.saturating_sub(cap);
        list.retain(|e| {
            if excess > 0 && e.tag == *tag {
                excess -= 1;
                evicted.push(e.hash);
                false
            } else {
                true
            }
        });
        evicted
    })
}

/// Forgets an ended session.
pub fn remove(
    host: &dyn SharedData,
    sub: &str,
    hash: &SessionHash,
    now: Millis,
) -> Result<(), StoreError> {
    update(host, sub, now, &mut |tag, list| {
        list.retain(|e| e.tag != *tag || e.hash != *hash);
    })
}

/// The sessions listed for a user (for tests and the gauges).
pub fn listed(host: &dyn SharedData, sub: &str, now: Millis) -> Vec<SessionHash> {
    let tag = tag(sub);
    entries(host.get(&key(&tag)).0.as_deref())
        .into_iter()
        .filter(|e| e.tag == tag && now < e.max_deadline)
        .map(|e| e.hash)
        .collect()
}

#[cfg(test)]
#[path = "../tests/session/users.rs"]
mod tests;
