//! Sessions in Envoy's shared data (DESIGN §7). Shared data never frees a key, so sessions
//! live in a fixed set of bucket keys chosen by the secret's hash; every write rewrites one
//! bucket with compare-and-swap and drops the expired records it finds, so memory is bounded
//! by live sessions, not by sessions ever created.

use crate::session::{encode_record, records, RecordView, Session, SessionHash};
use crate::time::Millis;

/// Number of bucket keys. More buckets make each per-request copy smaller; this many keeps a
/// bucket under a few KB up to about 100,000 live sessions, for at most 4,096 keys.
pub const BUCKETS: usize = 4_096;
const KEY_PREFIX: &str = "auth0_session/sessions/";
const BUCKET_VERSION: u8 = 1;
/// Read-modify-write attempts before giving up (and failing closed).
pub const CAS_RETRIES: usize = 8;
/// Shared data inserts a missing key whatever CAS is given, and CAS 0 overwrites. Writing a
/// bucket we saw missing with this CAS means: if someone created it meanwhile, mismatch and
/// retry, rather than overwriting their session.
pub(crate) const CAS_MISSING: u32 = u32::MAX;

/// Shared data as the filter sees it; the glue implements it over the host, tests over a map.
pub trait SharedData {
    /// The value and its CAS, or `(None, None)` when the key does not exist.
    fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>);
    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SetError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetError {
    CasMismatch,
    Host,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    /// Too many concurrent writers to this bucket; nothing was written.
    Contended,
    /// The host refused the write.
    Host,
}

pub fn bucket_index(hash: &SessionHash) -> usize {
    (usize::from(hash.0[0]) << 8 | usize::from(hash.0[1])) % BUCKETS
}

pub fn bucket_key(index: usize) -> String {
    format!("{KEY_PREFIX}{index:03x}")
}

fn body(value: &[u8]) -> &[u8] {
    match value.split_first() {
        Some((&BUCKET_VERSION, rest)) => rest,
        // Empty ("removed") or written by an incompatible version: no sessions.
        _ => &[],
    }
}

/// A live session found by [`lookup`], read in place from the copied bucket.
#[derive(Debug)]
pub struct Found {
    bucket: Vec<u8>,
    start: usize,
    len: usize,
}

impl Found {
    pub fn record(&self) -> RecordView<'_> {
        RecordView {
            bytes: &self.bucket[self.start..self.start + self.len],
        }
    }
}

/// The live session with this hash, if any: one shared-data get, no write.
pub fn lookup(host: &dyn SharedData, hash: &SessionHash, now: Millis) -> Option<Found> {
    let (value, _) = host.get(&bucket_key(bucket_index(hash)));
    let bucket = value?;
    let found = records(body(&bucket))
        .find(|r| r.hash() == hash.0)
        .filter(|r| r.is_live(now))
        .map(|r| {
            (
                r.bytes.as_ptr() as usize - bucket.as_ptr() as usize,
                r.bytes.len(),
            )
        });
    let (start, len) = found?;
    Some(Found { bucket, start, len })
}

/// What a write did, for the live-sessions gauge and the caller.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// The live session that had the target hash before the write.
    pub before: Option<Session>,
    /// Change in the number of live sessions stored.
    pub live_delta: i64,
}

enum Edit {
    Keep,
    Drop,
    Replace(Session),
}

/// Rewrites one bucket under CAS: expired records are dropped, the record with `target` (if
/// live) is edited, `append` is added. No write happens when nothing changes.
fn rewrite(
    host: &dyn SharedData,
    index: usize,
    now: Millis,
    target: Option<&SessionHash>,
    edit: &dyn Fn(&Session) -> Edit,
    append: Option<&Session>,
) -> Result<Written, StoreError> {
    let key = bucket_key(index);
    for _ in 0..CAS_RETRIES {
        let (value, cas) = host.get(&key);
        let old = value.as_deref().map(body).unwrap_or(&[]);
        let mut out = Vec::with_capacity(old.len() + 96);
        out.push(BUCKET_VERSION);
        let mut written = Written::default();
        let mut changed = false;
        for record in records(old) {
            if !record.is_live(now) {
                written.live_delta -= 1;
                changed = true;
                continue;
            }
            if target.is_some_and(|t| record.hash() == t.0) {
                let session = record.to_session();
                match edit(&session) {
                    Edit::Keep => out.extend_from_slice(record.bytes),
                    Edit::Drop => {
                        written.live_delta -= 1;
                        changed = true;
                    }
                    Edit::Replace(new) => {
                        encode_record(&new, &mut out);
                        changed = true;
                    }
                }
                written.before = Some(session);
            } else {
                out.extend_from_slice(record.bytes);
            }
        }
        if let Some(session) = append {
            encode_record(session, &mut out);
            written.live_delta += 1;
            changed = true;
        }
        if !changed {
            return Ok(written);
        }
        match host.set(&key, &out, Some(cas.unwrap_or(CAS_MISSING))) {
            Ok(()) => return Ok(written),
            Err(SetError::CasMismatch) => continue,
            Err(SetError::Host) => return Err(StoreError::Host),
        }
    }
    Err(StoreError::Contended)
}

/// Stores a new session.
pub fn insert(
    host: &dyn SharedData,
    session: &Session,
    now: Millis,
) -> Result<Written, StoreError> {
    rewrite(
        host,
        bucket_index(&session.hash),
        now,
        Some(&session.hash),
        &|_| Edit::Drop,
        Some(session),
    )
}

/// Ends a session; `before` says whether it was live.
pub fn remove(
    host: &dyn SharedData,
    hash: &SessionHash,
    now: Millis,
) -> Result<Written, StoreError> {
    rewrite(
        host,
        bucket_index(hash),
        now,
        Some(hash),
        &|_| Edit::Drop,
        None,
    )
}

/// Slides the idle deadline of a live session to `now + inactive_ms` (never past its absolute
/// deadline). Returns the session as it is after the write, or `None` if it is not live.
pub fn touch(
    host: &dyn SharedData,
    hash: &SessionHash,
    now: Millis,
    inactive_ms: u64,
) -> Result<(Option<Session>, i64), StoreError> {
    let slide = |s: &Session| {
        let mut s = s.clone();
        s.idle_deadline = now.saturating_add(inactive_ms).min(s.max_deadline);
        s
    };
    let written = rewrite(
        host,
        bucket_index(hash),
        now,
        Some(hash),
        &|s| Edit::Replace(slide(s)),
        None,
    )?;
    Ok((written.before.as_ref().map(slide), written.live_delta))
}

/// Drops the expired records of one bucket; returns the change in live sessions (≤ 0).
pub fn sweep(host: &dyn SharedData, index: usize, now: Millis) -> Result<i64, StoreError> {
    rewrite(host, index % BUCKETS, now, None, &|_| Edit::Keep, None).map(|w| w.live_delta)
}

/// Whether a request at `now` should write a slid idle deadline. Sliding on every request
/// would make every request a shared-data write; sliding at most once per `step` keeps the
/// idle window within `step` of exact. The step is a twentieth of the window, at most 1 s.
pub fn needs_slide(record: &RecordView<'_>, now: Millis, inactive_ms: u64) -> bool {
    let step = (inactive_ms / 20).clamp(1, 1_000);
    let wanted = now.saturating_add(inactive_ms).min(record.max_deadline());
    wanted >= record.idle_deadline().saturating_add(step)
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
