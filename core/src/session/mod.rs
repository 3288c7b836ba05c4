//! Sessions (docs/ARCHITECTURE.md §8 rule 1): a 256-bit random secret goes to the client; the proxy keeps
//! only a hash of it, with the deadlines and the identity. Records are a compact binary form
//! because every authenticated request copies a bucket of them out of shared data.
//!
//! The session group: this file is the record and the identity it holds; beside it are the
//! shared-data store of records (`store`, and `memory` for native hosts), the cookie and its
//! MAC, the per-user index and cap (`users`), a user's list of their own sessions, the sync
//! with the sidecar (`sync`, `dirty`) and the user-agent summary.

pub mod cookie;
pub mod cookie_mac;
pub mod create;
pub mod dirty;
pub mod layout;
pub mod memory;
pub mod store;
pub mod sync;
pub mod user_agent;
pub mod users;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::identity::{is_list_item, list_items, ClaimValue, Identity, MAX_CLAIM_BYTES};
use crate::time::Millis;

/// Bytes of randomness in a session secret.
pub const SECRET_BYTES: usize = 32;
/// Length of the secret as base64url without padding.
pub const SECRET_TEXT_LEN: usize = 43;

/// The stored form of a secret: the first 128 bits of its SHA-256. Collisions among live
/// sessions are out of reach, and the secret cannot be recovered from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionHash(pub [u8; 16]);

impl SessionHash {
    pub fn of_secret(secret: &[u8; SECRET_BYTES]) -> SessionHash {
        let digest = Sha256::digest(secret);
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        SessionHash(out)
    }

    /// The hash of a cookie value, or `None` when it cannot be a secret we issued: wrong
    /// length, not base64url, or non-canonical encoding. Costs no lookup.
    pub fn of_cookie(value: &[u8]) -> Option<SessionHash> {
        if value.len() != SECRET_TEXT_LEN {
            return None;
        }
        let mut secret = [0u8; SECRET_BYTES];
        match URL_SAFE_NO_PAD.decode_slice(value, &mut secret) {
            Ok(SECRET_BYTES) => Some(SessionHash::of_secret(&secret)),
            _ => None,
        }
    }

    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The session's public id: what a user's list of their sessions shows, and the
    /// assertion's `sid` (see [`public_id`]).
    pub fn public_id(&self) -> String {
        public_id(&self.hex())
    }

    pub fn from_hex(text: &str) -> Option<SessionHash> {
        if text.len() != 32 || !text.is_ascii() {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(SessionHash(out))
    }
}

/// The public handle of a session, from its hash in hex: stable, and revealing neither the
/// secret nor the hash the store looks sessions up by (a domain-labelled SHA-256, truncated
/// to 96 bits). The sidecar's listings and the assertion's `sid` both use this one.
pub fn public_id(hash_hex: &str) -> String {
    let digest = Sha256::digest(format!("session-id:{hash_hex}").as_bytes());
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares secrets in time independent of where they first differ.
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new secret from 32 random bytes: the text for the client and the hash to store.
pub fn new_secret(random: &[u8; SECRET_BYTES]) -> (String, SessionHash) {
    (
        URL_SAFE_NO_PAD.encode(random),
        SessionHash::of_secret(random),
    )
}

/// One session. Deadlines are absolute instants; `idle_deadline` never passes `max_deadline`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub hash: SessionHash,
    pub created: Millis,
    pub idle_deadline: Millis,
    pub max_deadline: Millis,
    pub identity: Identity,
    /// A short summary of the login's `User-Agent`, for a user's list of their sessions.
    pub user_agent: Option<String>,
}

impl Session {
    pub fn new(
        hash: SessionHash,
        identity: Identity,
        now: Millis,
        inactive_ms: u64,
        max_ms: u64,
    ) -> Session {
        let max_deadline = now.saturating_add(max_ms);
        Session {
            hash,
            created: now,
            idle_deadline: now.saturating_add(inactive_ms).min(max_deadline),
            max_deadline,
            identity,
            user_agent: None,
        }
    }

    pub fn is_live(&self, now: Millis) -> bool {
        now < self.idle_deadline && now < self.max_deadline
    }
}

/// Record flag: the sidecar does not have this record's current state yet.
pub const DIRTY: u8 = 1;
/// Record flag: the session has ended; the record stays (without identity) only until the
/// sidecar has been told.
pub const TOMBSTONE: u8 = 2;

const FIXED: usize = 16 + 8 * 3 + 1;
/// Short strings after the fixed part: sub, email, name, sid, user agent.
const SHORT_FIELDS: usize = 5;
/// Lists after them: permissions, roles, groups.
const LIST_FIELDS: usize = 3;
/// Most bytes of a list kept in a record (space-separated items). A list longer than this
/// keeps only its first whole items: a session then has fewer permissions, never more.
/// Also the most bytes of the extras block (email_verified and the named claims), where a
/// claim that does not fit is left out whole.
pub const MAX_LIST_BYTES: usize = 1024;
/// Most bytes of the user-agent summary kept.
pub const MAX_USER_AGENT_BYTES: usize = 96;

/// Appends the record form: hash, created, idle and max deadlines (u64 LE), flags; then sub,
/// email, name, sid and user agent, each a length byte and that many bytes (255 at most:
/// longer claims are never kept); then permissions and roles, each a u16 LE length and that
/// many bytes of space-separated items, so that a rule check reads them in place; then groups
/// the same way; then the extras block (u16 LE length): `email_verified` (0 unsaid, 1 false,
/// 2 true), then each named claim as a name (length byte), a kind (0 text, 1 flag, 2 list)
/// and a value (length byte; a list's items space-separated).
pub fn encode_record(session: &Session, flags: u8, out: &mut Vec<u8>) {
    out.extend_from_slice(&session.hash.0);
    out.extend_from_slice(&session.created.to_le_bytes());
    out.extend_from_slice(&session.idle_deadline.to_le_bytes());
    out.extend_from_slice(&session.max_deadline.to_le_bytes());
    out.push(flags);
    let id = &session.identity;
    for field in [
        Some(&id.sub),
        id.email.as_ref(),
        id.name.as_ref(),
        id.sid.as_ref(),
        session.user_agent.as_ref(),
    ] {
        let bytes = field.map_or(&b""[..], |s| s.as_bytes());
        let len = bytes.len().min(MAX_CLAIM_BYTES).min(255);
        out.push(len as u8);
        out.extend_from_slice(&bytes[..len]);
    }
    for list in [&id.permissions, &id.roles, &id.groups] {
        let at = out.len();
        out.extend_from_slice(&[0, 0]);
        let mut len = 0usize;
        for item in list.iter().filter(|i| is_list_item(i)) {
            let extra = item.len() + usize::from(len > 0);
            if len + extra > MAX_LIST_BYTES {
                break;
            }
            if len > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(item.as_bytes());
            len += extra;
        }
        out[at..at + 2].copy_from_slice(&(len as u16).to_le_bytes());
    }
    encode_extras(id, out);
}

fn encode_extras(id: &Identity, out: &mut Vec<u8>) {
    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    out.push(match id.email_verified {
        None => 0,
        Some(false) => 1,
        Some(true) => 2,
    });
    let mut value = Vec::new();
    for (name, claim) in &id.claims {
        value.clear();
        let kind = match claim {
            ClaimValue::Text(t) => {
                value.extend_from_slice(t.as_bytes());
                0
            }
            ClaimValue::Flag(b) => {
                value.push(u8::from(*b));
                1
            }
            ClaimValue::List(items) => {
                for item in items.iter().filter(|i| is_list_item(i)) {
                    if value.len() + item.len() + 1 > MAX_CLAIM_BYTES {
                        break;
                    }
                    if !value.is_empty() {
                        value.push(b' ');
                    }
                    value.extend_from_slice(item.as_bytes());
                }
                2
            }
        };
        let fits = out.len() - at - 2 + 3 + name.len() + value.len() <= MAX_LIST_BYTES;
        if name.is_empty() || name.len() > 255 || value.len() > MAX_CLAIM_BYTES || !fits {
            continue;
        }
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
        out.push(kind);
        out.push(value.len() as u8);
        out.extend_from_slice(&value);
    }
    let len = (out.len() - at - 2) as u16;
    out[at..at + 2].copy_from_slice(&len.to_le_bytes());
}

/// Reads an extras block back; a damaged one yields what was whole before the damage.
fn decode_extras(bytes: &[u8]) -> (Option<bool>, Vec<(String, ClaimValue)>) {
    let verified = match bytes.first() {
        Some(1) => Some(false),
        Some(2) => Some(true),
        _ => None,
    };
    // (RecordView::email_verified reads the same byte in place.)
    let mut claims = Vec::new();
    let mut at = 1;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    while let Some(&name_len) = bytes.get(at) {
        let name_end = at + 1 + usize::from(name_len);
        let (Some(name), Some(&kind), Some(&value_len)) = (
            bytes.get(at + 1..name_end),
            bytes.get(name_end),
            bytes.get(name_end + 1),
        ) else {
            break;
        };
        let value_end = name_end + 2 + usize::from(value_len);
        let Some(value) = bytes.get(name_end + 2..value_end) else {
            break;
        };
        let claim = match kind {
            0 => ClaimValue::Text(text(value)),
            1 => ClaimValue::Flag(value.first() == Some(&1)),
            _ => ClaimValue::List(list_items(value).map(text).collect()),
        };
        claims.push((text(name), claim));
        at = value_end;
    }
    (verified, claims)
}

/// A record read in place from a bucket, without copying its strings.
#[derive(Debug, Clone, Copy)]
pub struct RecordView<'a> {
    pub bytes: &'a [u8],
}

impl<'a> RecordView<'a> {
    pub fn hash(&self) -> &'a [u8] {
        &self.bytes[..16]
    }

    fn u64_at(&self, at: usize) -> Millis {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.bytes[at..at + 8]);
        Millis::from_le_bytes(b)
    }

    pub fn created(&self) -> Millis {
        self.u64_at(16)
    }

    pub fn idle_deadline(&self) -> Millis {
        self.u64_at(24)
    }

    pub fn max_deadline(&self) -> Millis {
        self.u64_at(32)
    }

    pub fn flags(&self) -> u8 {
        self.bytes[40]
    }

    pub fn is_tombstone(&self) -> bool {
        self.flags() & TOMBSTONE != 0
    }

    pub fn is_dirty(&self) -> bool {
        self.flags() & DIRTY != 0
    }

    /// A session that lets requests in now. Tombstones never do.
    pub fn is_live(&self, now: Millis) -> bool {
        !self.is_tombstone() && now < self.idle_deadline() && now < self.max_deadline()
    }

    /// Whether a bucket rewrite at `now` still keeps this record: live sessions; tombstones
    /// the sidecar has not heard of, while their session could still be restored; and, for
    /// a short grace after the sidecar has, tombstones whose `idle_deadline` then says until
    /// when (a restore answered before the end was committed may still be on its way).
    pub fn is_kept(&self, now: Millis) -> bool {
        if self.is_tombstone() {
            now < self.max_deadline() && (self.is_dirty() || now < self.idle_deadline())
        } else {
            self.is_live(now)
        }
    }

    /// sub, email, name, sid, user agent, as stored (empty when absent).
    pub fn strings(&self) -> [&'a [u8]; SHORT_FIELDS] {
        let mut out = [&b""[..]; SHORT_FIELDS];
        let mut at = FIXED;
        for slot in &mut out {
            let len = usize::from(self.bytes[at]);
            *slot = &self.bytes[at + 1..at + 1 + len];
            at += 1 + len;
        }
        out
    }

    /// Permissions, roles and groups as stored: space-separated items (see [`list_items`]).
    pub fn lists(&self) -> [&'a [u8]; LIST_FIELDS] {
        let [permissions, roles, groups, _] = self.blocks();
        [permissions, roles, groups]
    }

    /// The lists and then the extras block, as stored.
    fn blocks(&self) -> [&'a [u8]; LIST_FIELDS + 1] {
        let mut at = FIXED;
        for _ in 0..SHORT_FIELDS {
            at += 1 + usize::from(self.bytes[at]);
        }
        let mut out = [&b""[..]; LIST_FIELDS + 1];
        for slot in &mut out {
            let len = usize::from(u16::from_le_bytes([self.bytes[at], self.bytes[at + 1]]));
            *slot = &self.bytes[at + 2..at + 2 + len];
            at += 2 + len;
        }
        out
    }

    pub fn permissions(&self) -> &'a [u8] {
        self.lists()[0]
    }

    pub fn roles(&self) -> &'a [u8] {
        self.lists()[1]
    }

    pub fn groups(&self) -> &'a [u8] {
        self.lists()[2]
    }

    /// Whether an identity API confirmed the email (`None`: nothing said), read in place.
    pub fn email_verified(&self) -> Option<bool> {
        match self.blocks()[3].first() {
            Some(1) => Some(false),
            Some(2) => Some(true),
            _ => None,
        }
    }

    pub fn to_session(&self) -> Session {
        let [sub, email, name, sid, user_agent] = self.strings();
        let [permissions, roles, groups, extras] = self.blocks();
        let (email_verified, claims) = decode_extras(extras);
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let optional = |b: &[u8]| (!b.is_empty()).then(|| text(b));
        let items = |b: &[u8]| list_items(b).map(text).collect();
        let mut hash = [0u8; 16];
        hash.copy_from_slice(self.hash());
        Session {
            hash: SessionHash(hash),
            created: self.created(),
            idle_deadline: self.idle_deadline(),
            max_deadline: self.max_deadline(),
            identity: Identity {
                sub: text(sub),
                email: optional(email),
                name: optional(name),
                sid: optional(sid),
                permissions: items(permissions),
                roles: items(roles),
                groups: items(groups),
                email_verified,
                claims,
            },
            user_agent: optional(user_agent),
        }
    }
}

/// Iterates the records of a bucket body. Stops (yielding nothing more) at the first record
/// that does not fit: a damaged bucket loses its tail, never panics, never lets anyone in.
pub fn records(body: &[u8]) -> impl Iterator<Item = RecordView<'_>> {
    let mut rest = body;
    std::iter::from_fn(move || {
        let len = record_len(rest)?;
        let (record, tail) = rest.split_at(len);
        rest = tail;
        Some(RecordView { bytes: record })
    })
}

fn record_len(bytes: &[u8]) -> Option<usize> {
    let mut at = FIXED;
    for _ in 0..SHORT_FIELDS {
        let len = usize::from(*bytes.get(at)?);
        at += 1 + len;
    }
    for _ in 0..LIST_FIELDS + 1 {
        let len = usize::from(u16::from_le_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]));
        at += 2 + len;
    }
    (at <= bytes.len()).then_some(at)
}

#[cfg(test)]
#[path = "../tests/session/session.rs"]
mod tests;
