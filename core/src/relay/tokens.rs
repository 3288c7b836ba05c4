//! Where relayed tokens live: fixed shared-data keys of their own
//! (`auth0_session/tokens/N`, [`TOKEN_BUCKETS`] of them), never the session buckets, so a
//! session without a token stays its size and a request to a route without relay never
//! reads them. Shared data has no delete: the fixed keys bound the key count, each write
//! drops the bucket's expired entries, and an ended session's entry is removed with it.
//!
//! Memory per relayed session: [`ENTRY_OVERHEAD`] bytes plus its token (at most
//! [`MAX_TOKEN_BYTES`]; an Auth0 access token is about 1 KB). A bucket holds at most
//! [`MAX_BUCKET_BYTES`]: a put into a full one drops the entries that expire soonest, whose
//! sessions are then asked to log in again on their relayed routes.
//!
//! Entry: hash (16) | expires, ms since the epoch (8, BE) | token length (2, BE) | token.

use crate::ports::SharedData;
use crate::session::SessionHash;
use crate::shared_data::{self, UpdateError, Write};
use crate::time::Millis;

/// Number of token bucket keys: with 100,000 relayed sessions, about 12 tokens (some 12 KB)
/// are copied for a relayed request.
pub const TOKEN_BUCKETS: usize = 8_192;
const KEY_PREFIX: &str = "auth0_session/tokens/";
/// Longer tokens are not relayed (their sessions' relayed routes ask to log in again).
pub const MAX_TOKEN_BYTES: usize = 4_096;
pub const ENTRY_OVERHEAD: usize = 16 + 8 + 2;
pub const MAX_BUCKET_BYTES: usize = 64 * 1024;

/// A relayed token as stored: the bytes and when it expires.
#[derive(Clone, PartialEq, Eq)]
pub struct Stored {
    pub token: Vec<u8>,
    pub expires: Millis,
}

impl std::fmt::Debug for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        write!(f, "Stored {{ expires: {} }}", self.expires)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutError {
    TooLong,
    Store(UpdateError),
}

impl From<UpdateError> for PutError {
    fn from(e: UpdateError) -> Self {
        PutError::Store(e)
    }
}

fn bucket_key(hash: &SessionHash) -> String {
    // Other bits than the session buckets' (bytes 0-1), so the two layouts do not correlate.
    let index = (usize::from(hash.0[2]) << 8 | usize::from(hash.0[3])) % TOKEN_BUCKETS;
    format!("{KEY_PREFIX}{index:04x}")
}

struct Entry<'a> {
    hash: &'a [u8],
    expires: Millis,
    token: &'a [u8],
}

/// The entries of a bucket, read in place; a malformed tail ends the walk (fail closed: an
/// entry not read is a token not relayed).
fn entries(body: &[u8]) -> impl Iterator<Item = Entry<'_>> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let head = body.get(at..at + ENTRY_OVERHEAD)?;
        let mut exp = [0u8; 8];
        exp.copy_from_slice(&head[16..24]);
        let len = usize::from(u16::from_be_bytes([head[24], head[25]]));
        let token = body.get(at + ENTRY_OVERHEAD..at + ENTRY_OVERHEAD + len)?;
        at += ENTRY_OVERHEAD + len;
        Some(Entry {
            hash: &head[..16],
            expires: u64::from_be_bytes(exp),
            token,
        })
    })
}

fn push(out: &mut Vec<u8>, hash: &[u8], expires: Millis, token: &[u8]) {
    out.extend_from_slice(hash);
    out.extend_from_slice(&expires.to_be_bytes());
    // Callers keep tokens under MAX_TOKEN_BYTES, which fits in u16.
    out.extend_from_slice(&(token.len() as u16).to_be_bytes());
    out.extend_from_slice(token);
}

/// The session's relayed token, expired or not (the caller decides what expiry means).
pub fn get(host: &dyn SharedData, hash: &SessionHash) -> Option<Stored> {
    let (body, _) = host.get(&bucket_key(hash));
    let body = body?;
    let found = entries(&body).find(|e| e.hash == hash.0).map(|e| Stored {
        token: e.token.to_vec(),
        expires: e.expires,
    });
    found
}

/// Keeps `token` for the session until `expires`, replacing any it had; drops the bucket's
/// expired entries, and, if the bucket would outgrow [`MAX_BUCKET_BYTES`], those that expire
/// soonest.
pub fn put(
    host: &dyn SharedData,
    hash: &SessionHash,
    token: &[u8],
    expires: Millis,
    now: Millis,
) -> Result<(), PutError> {
    if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
        return Err(PutError::TooLong);
    }
    shared_data::update(host, &bucket_key(hash), |body, _| {
        let mut kept: Vec<Entry<'_>> = body
            .into_iter()
            .flat_map(entries)
            .filter(|e| e.hash != hash.0 && e.expires > now)
            .collect();
        let size = |list: &[Entry<'_>]| {
            list.iter()
                .map(|e| ENTRY_OVERHEAD + e.token.len())
                .sum::<usize>()
        };
        let own = ENTRY_OVERHEAD + token.len();
        if size(&kept) + own > MAX_BUCKET_BYTES {
            kept.sort_by_key(|e| std::cmp::Reverse(e.expires));
            while size(&kept) + own > MAX_BUCKET_BYTES {
                kept.pop();
            }
        }
        let mut out = Vec::with_capacity(size(&kept) + own);
        for e in &kept {
            push(&mut out, e.hash, e.expires, e.token);
        }
        push(&mut out, &hash.0, expires, token);
        Ok::<_, PutError>(Write::Set(out, ()))
    })
}

/// Forgets the session's token (at its end), and the bucket's expired ones with it. Writes
/// nothing when there is nothing to drop.
pub fn remove(host: &dyn SharedData, hash: &SessionHash, now: Millis) -> Result<(), UpdateError> {
    shared_data::update(host, &bucket_key(hash), |body, _| {
        let Some(body) = body else {
            return Ok::<_, UpdateError>(Write::Keep(()));
        };
        let mut out = Vec::with_capacity(body.len());
        let mut dropped = false;
        for e in entries(body) {
            if e.hash == hash.0 || e.expires <= now {
                dropped = true;
            } else {
                push(&mut out, e.hash, e.expires, e.token);
            }
        }
        Ok(if dropped {
            Write::Set(out, ())
        } else {
            Write::Keep(())
        })
    })
}

#[cfg(test)]
#[path = "../tests/relay/tokens.rs"]
mod tests;
