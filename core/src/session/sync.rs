//! Sync with `session-sidecar`, the durable copy of sessions (docs/ARCHITECTURE.md §7): the wire format,
//! the batches the timer sends, and what is done with the answers.
//!
//! Protocol (JSON, `Authorization: Bearer <sidecar.token>`):
//! - `POST /sync` `{"since": cursor|null, "upsert": [session…], "end": [hash…]}` →
//!   `{"cursor": n, "ended": [hash…]}`. Upserts and ends are idempotent; `ended` lists the
//!   sessions ended elsewhere (admin revocation, another Envoy) after `since`. A request
//!   without `since` is a write-through and gets no `ended` list.
//! - `GET /sync/sessions/{hash}` → 200 session, or 404 when unknown, ended or expired.
//!
//! A session on the wire: `{"hash", "sub", "email"?, "name"?, "sid"?, "user_agent"?,
//! "permissions"?: [..], "roles"?: [..], "groups"?: [..], "email_verified"?: bool,
//! "claims"?: {name: string | bool | [..]}, "created", "idle_deadline", "max_deadline"}`, with
//! `hash` the 32 hex digits of the stored secret hash and instants in milliseconds since the
//! epoch. The optional fields are absent from older sidecars' answers and read as empty. The
//! secret itself never leaves the proxy.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::identity::{
    claims_from_json, claims_json, identity_from, is_list_item, Identity, MAX_CLAIM_BYTES,
};
use crate::session::dirty;
use crate::session::store::{self, DirtyRecord, SharedData};
use crate::session::{Session, SessionHash, MAX_USER_AGENT_BYTES};
use crate::time::Millis;

pub use crate::session::layout::SIDECAR_TIMEOUT_MS;
/// The sync timer runs at most this often, in one VM at a time.
pub const SYNC_INTERVAL_MS: Millis = 1_000;
/// Most records sent in one batch.
pub const MAX_BATCH: usize = 500;
/// Largest sidecar answer read.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

const CURSOR_KEY: &str = "auth0_session/sync_cursor";
pub const LOCK_KEY: &str = "auth0_session/sync_lock";

pub fn session_json(s: &Session) -> Value {
    let id = &s.identity;
    json!({
        "hash": s.hash.hex(),
        "sub": id.sub,
        "email": id.email,
        "name": id.name,
        "sid": id.sid,
        "user_agent": s.user_agent,
        "permissions": id.permissions,
        "roles": id.roles,
        "groups": id.groups,
        "email_verified": id.email_verified,
        "claims": claims_json(&id.claims),
        "created": s.created,
        "idle_deadline": s.idle_deadline,
        "max_deadline": s.max_deadline,
    })
}

/// A session from its wire form; `None` when a required field is missing or malformed. The
/// optional strings and list items obey the same bounds as at login: one that does not is
/// dropped (a list then grants less, never more).
pub fn session_from_json(v: &Value) -> Option<Session> {
    let ms = |name: &str| v.get(name).and_then(Value::as_u64);
    let short = |name: &str, max: usize| {
        v.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= max && !s.contains(char::is_control))
            .map(str::to_string)
    };
    let list = |name: &str| -> Vec<String> {
        v.get(name)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|i| is_list_item(i))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut identity: Identity = identity_from(v)?;
    identity.sid = short("sid", MAX_CLAIM_BYTES);
    identity.permissions = list("permissions");
    identity.roles = list("roles");
    identity.groups = list("groups");
    identity.email_verified = v.get("email_verified").and_then(Value::as_bool);
    identity.claims = claims_from_json(v.get("claims"));
    Some(Session {
        hash: SessionHash::from_hex(v.get("hash")?.as_str()?)?,
        created: ms("created")?,
        idle_deadline: ms("idle_deadline")?,
        max_deadline: ms("max_deadline")?,
        identity,
        user_agent: short("user_agent", MAX_USER_AGENT_BYTES),
    })
}

/// The body of a sync request.
pub fn request_body(since: Option<u64>, records: &[&DirtyRecord]) -> Vec<u8> {
    let upsert: Vec<Value> = records
        .iter()
        .filter(|r| !r.ended)
        .map(|r| session_json(&r.session))
        .collect();
    let end: Vec<String> = records
        .iter()
        .filter(|r| r.ended)
        .map(|r| r.session.hash.hex())
        .collect();
    let mut body = json!({ "upsert": upsert, "end": end });
    if let Some(since) = since {
        body["since"] = json!(since);
    } else {
        body["since"] = Value::Null;
    }
    body.to_string().into_bytes()
}

pub fn restore_path(hash: &SessionHash) -> String {
    format!("/sync/sessions/{}", hash.hex())
}

/// A sync batch in flight: what was sent, so the answer can acknowledge exactly that.
#[derive(Debug, Default)]
pub struct Batch {
    pub sent: Vec<(usize, Vec<DirtyRecord>)>,
    pub body: Vec<u8>,
}

fn cursor(host: &dyn SharedData) -> Option<u64> {
    let (value, _) = host.get(CURSOR_KEY);
    value
        .as_deref()
        .and_then(|v| v.first_chunk::<8>())
        .map(|b| u64::from_le_bytes(*b))
}

/// Collects up to [`MAX_BATCH`] dirty records from the marked buckets. A batch with no
/// records still polls for revocations.
pub fn build_batch(host: &dyn SharedData, now: Millis) -> Batch {
    let mut sent = Vec::new();
    let mut count = 0;
    for index in dirty::marked(host) {
        if count >= MAX_BATCH {
            break;
        }
        let records = store::dirty_records(host, index, now);
        count += records.len();
        sent.push((index, records));
    }
    let all: Vec<&DirtyRecord> = sent.iter().flat_map(|(_, r)| r.iter()).collect();
    Batch {
        body: request_body(Some(cursor(host).unwrap_or(0)), &all),
        sent,
    }
}

/// What an acknowledged batch changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub live_delta: i64,
    pub synced: usize,
    pub revoked: usize,
    /// The batch was full: more dirty records are likely waiting.
    pub full: bool,
}

/// Whether the next batch goes out at once, without waiting for the next tick: after a
/// full batch, records acknowledged while the sidecar was unreachable are still waiting
/// (thousands, after an outage during a login burst), and until they reach the store an
/// Envoy crash would lose them. Back-to-back batches drain such a backlog in a few round
/// trips. While it drains, this VM keeps the sync claim, so that the other VMs' timers do
/// not send the same records.
pub fn drain_next(host: &dyn SharedData, applied: &Applied, now: Millis) -> bool {
    if !applied.full {
        return false;
    }
    let _ = host.set(LOCK_KEY, &now.to_le_bytes(), None);
    true
}

/// Applies the sidecar's answer to a batch: acknowledges what was sent (in the bit order
/// [`dirty`] documents) and ends the sessions revoked elsewhere. `None` if the answer is
/// not a sync answer; nothing is then changed and the batch is simply sent again.
pub fn apply_answer(
    host: &dyn SharedData,
    batch: &Batch,
    answer: &[u8],
    now: Millis,
) -> Option<Applied> {
    let answer: Value = serde_json::from_slice(answer).ok()?;
    let next_cursor = answer.get("cursor")?.as_u64()?;
    let ended: Vec<SessionHash> = answer
        .get("ended")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|h| h.as_str().and_then(SessionHash::from_hex))
                .collect()
        })
        .unwrap_or_default();
    let mut applied = Applied {
        full: batch.sent.iter().map(|(_, r)| r.len()).sum::<usize>() >= MAX_BATCH,
        ..Applied::default()
    };
    for (index, records) in &batch.sent {
        dirty::clear(host, *index);
        match store::acknowledge(host, *index, now, records) {
            Ok(written) => {
                applied.live_delta += written.live_delta;
                applied.synced += records.len();
                if written.dirty_left {
                    dirty::mark(host, *index);
                }
            }
            Err(_) => {
                dirty::mark(host, *index);
            }
        }
    }
    for hash in &ended {
        // A tombstone for the grace: a restore answered just before the revocation must
        // not bring the session back.
        if let Ok(written) = store::end(host, hash, now, &store::Ending::Told) {
            applied.live_delta += written.live_delta;
            applied.revoked += usize::from(written.before.is_some());
        }
    }
    let _ = host.set(CURSOR_KEY, &next_cursor.to_le_bytes(), None);
    Some(applied)
}

/// Acknowledges a write-through (a login or logout told to the sidecar as it happened).
pub fn acknowledge_one(host: &dyn SharedData, record: &DirtyRecord, now: Millis) -> i64 {
    let index = store::bucket_index(&record.session.hash);
    match store::acknowledge(host, index, now, std::slice::from_ref(record)) {
        Ok(written) => written.live_delta,
        Err(_) => {
            dirty::mark(host, index);
            0
        }
    }
}

/// What the sidecar said about a session asked for by hash.
#[derive(Debug, PartialEq, Eq)]
pub enum Restored {
    Found(Box<Session>),
    /// Unknown, ended or expired: the cookie is no good.
    NotFound,
    /// No usable answer: the sidecar could not say.
    Unavailable,
}

pub fn parse_restore(
    hash: &SessionHash,
    status: Option<u32>,
    body: &[u8],
    now: Millis,
) -> Restored {
    match status {
        Some(200) => match serde_json::from_slice::<Value>(body)
            .ok()
            .as_ref()
            .and_then(session_from_json)
        {
            Some(s) if s.hash == *hash && s.is_live(now) => Restored::Found(Box::new(s)),
            Some(_) => Restored::NotFound,
            None => Restored::Unavailable,
        },
        Some(404) => Restored::NotFound,
        _ => Restored::Unavailable,
    }
}

/// Cookies the sidecar recently said it does not know, per VM: a browser holding a dead
/// cookie asks once, not on every request. Bounded; forgotten after a short while.
#[derive(Debug, Default)]
pub struct RecentMisses {
    until: HashMap<SessionHash, Millis>,
}

/// How long a miss is remembered for a cookie anyone could have made up (no signing keys):
/// long enough that a flood of them costs few lookups.
pub const MISS_MEMORY_MS: Millis = 10_000;
/// How long a miss is remembered for a correctly signed cookie: one of the fleet's proxies
/// issued it, so the likely reason the store lacks it is a login on another proxy whose
/// write did not land yet (a drain after an outage, a sync tick). No longer than the sync
/// interval, so such a session is refused here at most that long after the store has it.
pub const SIGNED_MISS_MEMORY_MS: Millis = SYNC_INTERVAL_MS;
const MAX_MISSES: usize = 1_024;

impl RecentMisses {
    pub fn contains(&self, hash: &SessionHash, now: Millis) -> bool {
        self.until.get(hash).is_some_and(|until| now < *until)
    }

    pub fn insert(&mut self, hash: SessionHash, now: Millis) {
        self.insert_for(hash, now, MISS_MEMORY_MS);
    }

    /// Remembers a miss for `memory` milliseconds.
    pub fn insert_for(&mut self, hash: SessionHash, now: Millis, memory: Millis) {
        if self.until.len() >= MAX_MISSES {
            self.until.retain(|_, until| now < *until);
            if self.until.len() >= MAX_MISSES {
                self.until.clear();
            }
        }
        self.until.insert(hash, now.saturating_add(memory));
    }

    pub fn forget(&mut self, hash: &SessionHash) {
        self.until.remove(hash);
    }
}

#[cfg(test)]
#[path = "../tests/session/sync.rs"]
mod tests;
