//! Sessions in Envoy's shared data (docs/ARCHITECTURE.md §6). Shared data never frees a key, so sessions
//! live in a fixed set of bucket keys chosen by the secret's hash; every write rewrites one
//! bucket with compare-and-swap and drops the expired records it finds, so memory is bounded
//! by live sessions, not by sessions ever created.

use crate::session::{encode_record, records, RecordView, Session, SessionHash, DIRTY, TOMBSTONE};
use crate::time::Millis;

/// Changes with the record form. Shared data outlives a filter reload: a bucket written by
/// another version reads as empty (its sessions come back from the sidecar, if any), never
/// as records of this one. 2: sid, user agent, permissions and roles. 3: groups and the
/// extras block (email_verified, named claims from identity APIs).
const BUCKET_VERSION: u8 = 3;
use crate::session::layout::SIDECAR_TIMEOUT_MS;
pub use crate::session::layout::{bucket_index, bucket_key, BUCKETS};
use crate::shared_data::{update, UpdateError, Write};
pub use crate::shared_data::{SetError, SharedData};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    /// Too many concurrent writers to this bucket; nothing was written.
    Contended,
    /// The host refused the write.
    Host,
    /// The bucket holds [`MAX_BUCKET_RECORDS`] already: a new session is refused rather than
    /// let shared data grow past its bound.
    Full,
}

impl From<UpdateError> for StoreError {
    fn from(e: UpdateError) -> StoreError {
        match e {
            UpdateError::Contended => StoreError::Contended,
            UpdateError::Host => StoreError::Host,
        }
    }
}

/// Most records one bucket holds (about 4 million sessions in all, some 330 MB at most):
/// with the per-user cap, only that many distinct users could fill it, and memory stays
/// bounded even then.
pub const MAX_BUCKET_RECORDS: usize = 1_024;

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

/// What shared data says of a session.
#[derive(Debug)]
pub enum Probe {
    Live(Found),
    /// Ended here (a tombstone is kept): never to be restored from the sidecar.
    Ended,
    /// Unknown here, or expired.
    Missing,
}

/// What shared data holds for this hash: one shared-data get, no write.
pub fn probe(host: &dyn SharedData, hash: &SessionHash, now: Millis) -> Probe {
    let (value, _) = host.get(&bucket_key(bucket_index(hash)));
    let Some(bucket) = value else {
        return Probe::Missing;
    };
    let found = records(body(&bucket))
        .find(|r| r.hash() == hash.0)
        .map(|r| {
            let at = r.bytes.as_ptr() as usize - bucket.as_ptr() as usize;
            (
                at,
                r.bytes.len(),
                r.is_live(now),
                r.is_tombstone() && r.is_kept(now),
            )
        });
    match found {
        Some((start, len, true, _)) => Probe::Live(Found { bucket, start, len }),
        Some((_, _, _, true)) => Probe::Ended,
        _ => Probe::Missing,
    }
}

/// The live session with this hash, if any: one shared-data get, no write.
pub fn lookup(host: &dyn SharedData, hash: &SessionHash, now: Millis) -> Option<Found> {
    match probe(host, hash, now) {
        Probe::Live(found) => Some(found),
        Probe::Ended | Probe::Missing => None,
    }
}

/// What a write did, for the live-sessions gauge and the caller.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// The live session that had the target hash before the write.
    pub before: Option<Session>,
    /// Change in the number of live sessions stored.
    pub live_delta: i64,
    /// A record became dirty: the caller marks the bucket in the dirty bitmap.
    pub dirtied: bool,
    /// Dirty records remain in the bucket after the write.
    pub dirty_left: bool,
    /// Bytes the bucket holds after the call; `None` if its key does not exist.
    pub size: Option<usize>,
    /// The target has a tombstone: a restore was refused.
    pub ended: bool,
}

enum Edit {
    Keep,
    Drop,
    Replace(Box<Session>, u8),
}

/// A record to add after the rewrite.
#[derive(Clone, Copy)]
enum Append<'a> {
    Nothing,
    Always(&'a Session, u8),
    /// Only if the target was not there at all (a tombstone or a live session blocks it).
    IfAbsent(&'a Session, u8),
    /// Unless the target has a tombstone: an ended session is never put back.
    UnlessEnded(&'a Session, u8),
}

/// Rewrites one bucket under CAS: records that are no longer kept (expired sessions, old
/// tombstones) are dropped, the record with `target` is edited, `append` is added. No write
/// happens when nothing changes.
fn rewrite(
    host: &dyn SharedData,
    index: usize,
    now: Millis,
    target: Option<&SessionHash>,
    edit: &dyn Fn(&RecordView<'_>) -> Edit,
    append: Append<'_>,
) -> Result<Written, StoreError> {
    update(host, &bucket_key(index), |value, cas| {
        let old = value.map(body).unwrap_or(&[]);
        let mut out = Vec::with_capacity(old.len() + 96);
        out.push(BUCKET_VERSION);
        let mut written = Written::default();
        let mut changed = false;
        let mut present = false;
        for record in records(old) {
            if !record.is_kept(now) {
                if !record.is_tombstone() {
                    written.live_delta -= 1;
                }
                changed = true;
                continue;
            }
            if target.is_none_or(|t| record.hash() != t.0) {
                out.extend_from_slice(record.bytes);
                written.dirty_left |= record.is_dirty();
                continue;
            }
            present = true;
            if record.is_tombstone() {
                if let Append::UnlessEnded(..) = append {
                    written.ended = true;
                    out.extend_from_slice(record.bytes);
                    written.dirty_left |= record.is_dirty();
                    continue;
                }
            }
            if record.is_live(now) {
                written.before = Some(record.to_session());
            }
            match edit(&record) {
                Edit::Keep => {
                    out.extend_from_slice(record.bytes);
                    written.dirty_left |= record.is_dirty();
                }
                Edit::Drop => {
                    written.live_delta -= i64::from(record.is_live(now));
                    changed = true;
                }
                Edit::Replace(new, flags) => {
                    let tombstone = flags & TOMBSTONE != 0;
                    written.live_delta -= i64::from(record.is_live(now) && tombstone);
                    written.dirtied |= flags & DIRTY != 0 && !record.is_dirty();
                    written.dirty_left |= flags & DIRTY != 0;
                    encode_record(&new, flags, &mut out);
                    changed = true;
                }
            }
        }
        let kept = records(&out[1..]).count();
        let append = match append {
            Append::Nothing => None,
            Append::Always(session, flags) => Some((session, flags)),
            Append::IfAbsent(session, flags) => (!present).then_some((session, flags)),
            Append::UnlessEnded(session, flags) => (!written.ended).then_some((session, flags)),
        };
        if let Some((session, flags)) = append {
            if flags & TOMBSTONE == 0 && kept >= MAX_BUCKET_RECORDS {
                return Err(StoreError::Full);
            }
            encode_record(session, flags, &mut out);
            written.live_delta += i64::from(flags & TOMBSTONE == 0);
            written.dirtied |= flags & DIRTY != 0;
            written.dirty_left |= flags & DIRTY != 0;
            changed = true;
        }
        if !changed {
            written.size = value.map(<[u8]>::len).or(cas.map(|_| 0));
            return Ok(Write::Keep(written));
        }
        written.size = Some(out.len());
        Ok(Write::Set(out, written))
    })
}

/// Writes `session` in place of any record under its hash, as `append` says.
fn replace(
    host: &dyn SharedData,
    session: &Session,
    now: Millis,
    append: Append<'_>,
) -> Result<Written, StoreError> {
    rewrite(
        host,
        bucket_index(&session.hash),
        now,
        Some(&session.hash),
        &|_| Edit::Drop,
        append,
    )
}

/// Stores a new session with the given flags (`DIRTY` when the sidecar must still hear of it).
pub fn insert(
    host: &dyn SharedData,
    session: &Session,
    flags: u8,
    now: Millis,
) -> Result<Written, StoreError> {
    replace(host, session, now, Append::Always(session, flags))
}

/// Puts back a session the sidecar answered for, unless it has ended here meanwhile
/// (docs/ARCHITECTURE.md §8 rule 6): `ended` in the answer then says it was refused, and
/// nothing changed.
pub fn restore(
    host: &dyn SharedData,
    session: &Session,
    now: Millis,
) -> Result<Written, StoreError> {
    replace(host, session, now, Append::UnlessEnded(session, 0))
}

/// How a session ends in shared data.
#[derive(Debug, Clone)]
pub enum Ending {
    /// No sidecar: the record goes.
    Forget,
    /// The sidecar must still be told: a dirty tombstone stays until it has been, so the
    /// session cannot be restored meanwhile. `absent` is the tombstone to write when this
    /// Envoy does not hold the session (a logout right after a restart).
    Tell { absent: Option<Box<Session>> },
    /// The sidecar ended it (a revocation): a clean tombstone for the grace.
    Told,
}

/// How long a tombstone stays once the sidecar has the end: longer than any sidecar call
/// (restore answers in flight were read before the end was committed) takes.
pub const TOMBSTONE_GRACE_MS: Millis = 5 * SIDECAR_TIMEOUT_MS;

fn grace_tombstone(mut s: Session, now: Millis) -> Session {
    s = tombstone_of(s);
    s.idle_deadline = now.saturating_add(TOMBSTONE_GRACE_MS);
    s.max_deadline = s.max_deadline.max(s.idle_deadline);
    s
}

/// Ends a session; `before` says whether it was live.
pub fn end(
    host: &dyn SharedData,
    hash: &SessionHash,
    now: Millis,
    ending: &Ending,
) -> Result<Written, StoreError> {
    let absent = match ending {
        Ending::Forget => None,
        Ending::Tell { absent } => absent
            .as_deref()
            .map(|s| (tombstone_of(s.clone()), TOMBSTONE | DIRTY)),
        Ending::Told => Some((
            grace_tombstone(
                Session {
                    hash: *hash,
                    created: now,
                    idle_deadline: now,
                    max_deadline: now,
                    identity: crate::identity::Identity::default(),
                    user_agent: None,
                },
                now,
            ),
            TOMBSTONE,
        )),
    };
    let append = match &absent {
        Some((session, flags)) => Append::IfAbsent(session, *flags),
        None => Append::Nothing,
    };
    rewrite(
        host,
        bucket_index(hash),
        now,
        Some(hash),
        &|record| match ending {
            Ending::Forget => Edit::Drop,
            // Already ended and not yet told: nothing to add.
            Ending::Tell { .. } if record.is_tombstone() => Edit::Keep,
            Ending::Tell { .. } => Edit::Replace(
                Box::new(tombstone_of(record.to_session())),
                TOMBSTONE | DIRTY,
            ),
            // A dirty tombstone must still tell the sidecar (it is how it learns of it).
            Ending::Told if record.is_tombstone() => Edit::Keep,
            Ending::Told => Edit::Replace(
                Box::new(grace_tombstone(record.to_session(), now)),
                TOMBSTONE,
            ),
        },
        append,
    )
}

fn tombstone_of(mut s: Session) -> Session {
    s.identity = crate::identity::Identity::default();
    s.user_agent = None;
    s
}

/// The step at which slid idle deadlines are worth telling the sidecar: an active session
/// is synced at most once per step, and the sidecar's idle deadline is at most this stale.
pub const SYNC_STEP_MS: u64 = 5_000;

/// The sync step for an idle window: [`SYNC_STEP_MS`], or a quarter of a shorter window. A
/// proxy of the fleet that has not seen the session lately asks the store before refusing
/// it as idle; the store must then trail the busiest proxy by well under the window.
fn sync_step(inactive_ms: u64) -> u64 {
    SYNC_STEP_MS.min(inactive_ms / 4).max(1)
}

/// Slides the idle deadline of a live session to `now + inactive_ms` (never past its absolute
/// deadline). With `sync`, the record becomes dirty when the deadline crosses a sync step.
/// Returns the session as it is after the write (`None` if it is not live) and the write.
pub fn touch(
    host: &dyn SharedData,
    hash: &SessionHash,
    now: Millis,
    inactive_ms: u64,
    sync: bool,
) -> Result<(Option<Session>, Written), StoreError> {
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
        &|record| {
            if !record.is_live(now) {
                return Edit::Keep;
            }
            let new = slide(&record.to_session());
            let step = sync_step(inactive_ms);
            let crossed = new.idle_deadline / step != record.idle_deadline() / step;
            let dirty = if sync && crossed { DIRTY } else { 0 };
            Edit::Replace(Box::new(new), record.flags() | dirty)
        },
        Append::Nothing,
    )?;
    Ok((written.before.as_ref().map(slide), written))
}

/// Drops expired records from one bucket.
pub fn sweep(host: &dyn SharedData, index: usize, now: Millis) -> Result<Written, StoreError> {
    rewrite(
        host,
        index % BUCKETS,
        now,
        None,
        &|_| Edit::Keep,
        Append::Nothing,
    )
}

/// A dirty record as the sidecar is told about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirtyRecord {
    pub session: Session,
    pub ended: bool,
}

/// The dirty records of one bucket (tombstones included), for a sync batch.
pub fn dirty_records(host: &dyn SharedData, index: usize, now: Millis) -> Vec<DirtyRecord> {
    let (value, _) = host.get(&bucket_key(index));
    let Some(value) = value else {
        return Vec::new();
    };
    records(body(&value))
        .filter(|r| r.is_dirty() && r.is_kept(now))
        .map(|r| DirtyRecord {
            session: r.to_session(),
            ended: r.is_tombstone(),
        })
        .collect()
}

/// After the sidecar acknowledged `sent`: clears the dirty flag of every record still in the
/// state that was sent and drops acknowledged tombstones. A record changed since (touched
/// again, ended) stays dirty for the next batch. `dirty_left` says if the bucket needs another.
pub fn acknowledge(
    host: &dyn SharedData,
    index: usize,
    now: Millis,
    sent: &[DirtyRecord],
) -> Result<Written, StoreError> {
    update(host, &bucket_key(index), |value, _| {
        let old = value.map(body).unwrap_or(&[]);
        let mut out = Vec::with_capacity(old.len());
        out.push(BUCKET_VERSION);
        let mut written = Written::default();
        let mut changed = false;
        for record in records(old) {
            if !record.is_kept(now) {
                written.live_delta -= i64::from(!record.is_tombstone());
                changed = true;
                continue;
            }
            let acked = record.is_dirty()
                && sent.iter().any(|d| {
                    d.session.hash.0 == record.hash()
                        && d.ended == record.is_tombstone()
                        && d.session.idle_deadline == record.idle_deadline()
                });
            if !acked {
                written.dirty_left |= record.is_dirty();
                out.extend_from_slice(record.bytes);
            } else if !record.is_tombstone() {
                encode_record(&record.to_session(), record.flags() & !DIRTY, &mut out);
                changed = true;
            } else {
                // The sidecar has the end; the tombstone stays for the grace (see is_kept).
                encode_record(
                    &grace_tombstone(record.to_session(), now),
                    TOMBSTONE,
                    &mut out,
                );
                changed = true;
            }
        }
        if !changed {
            return Ok(Write::Keep(written));
        }
        Ok(Write::Set(out, written))
    })
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
#[path = "../tests/session/store.rs"]
mod tests;
