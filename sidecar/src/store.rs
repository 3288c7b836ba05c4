//! The durable session store, behind one small interface so that a server database backend
//! (for fleets of Envoys) can stand beside SQLite. Every method is one transaction: what it
//! returns has been committed.

use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};
use session_core::session::{Session, SessionHash};
use session_core::time::{rfc3339, Millis};
use sha2::{Digest, Sha256};

use crate::migrations;

#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError(e.to_string())
    }
}

/// A filter's sync request: sessions it holds (new or with moved deadlines) and sessions it
/// ended. `since` is its revocation cursor, `None` for a write-through.
#[derive(Debug, Default)]
pub struct SyncRequest {
    pub since: Option<u64>,
    pub upsert: Vec<Session>,
    pub end: Vec<SessionHash>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct SyncAnswer {
    pub cursor: u64,
    /// Sessions ended here that the filter should drop.
    pub ended: Vec<String>,
    /// How many upserts were new sessions (logins).
    pub new_sessions: usize,
}

/// Most revocations returned by one sync answer; the cursor stops at the last one returned.
pub const MAX_ENDED_PER_ANSWER: usize = 10_000;

pub trait SessionStore: Send + Sync {
    fn sync(&self, request: &SyncRequest, now: Millis) -> Result<SyncAnswer, StoreError>;
    /// A live session by hash (for restore after an Envoy restart).
    fn session(&self, hash: &SessionHash, now: Millis) -> Result<Option<Session>, StoreError>;
    /// Live sessions, optionally of one user, as the admin API shows them.
    fn list_sessions(&self, user: Option<&str>, now: Millis) -> Result<Vec<Value>, StoreError>;
    /// Ends one live session by its public id; false if there was none.
    fn end_session(&self, id: &str, now: Millis) -> Result<bool, StoreError>;
    /// Ends every live session of a user ("log out everywhere"); how many were ended.
    fn end_user_sessions(&self, sub: &str, now: Millis) -> Result<usize, StoreError>;
    fn list_users(&self, now: Millis) -> Result<Vec<Value>, StoreError>;
    fn live_sessions(&self, now: Millis) -> Result<u64, StoreError>;
    /// Forgets what can no longer matter: sessions a day past their deadlines, revocations
    /// of sessions past their absolute deadline.
    fn prune(&self, now: Millis) -> Result<usize, StoreError>;

    // Ending sessions from anywhere (back-channel logout, a user's own list). Each returns
    // the hashes it ended, so the filter that asked drops them at once; the others learn of
    // them from their next sync, like any revocation.

    /// Ends the live sessions that carry Auth0's session id `sid`.
    fn end_sessions_by_sid(&self, sid: &str, now: Millis) -> Result<Vec<String>, StoreError>;
    /// Ends a user's live sessions created before `before`.
    fn end_user_sessions_before(
        &self,
        sub: &str,
        before: Millis,
        now: Millis,
    ) -> Result<Vec<String>, StoreError>;
    /// Records a logout token's `jti` until `until`; false when it is already recorded (a
    /// replay). Atomic: of two concurrent calls with one `jti`, one gets true.
    fn remember_jti(&self, jti: &str, until: Millis, now: Millis) -> Result<bool, StoreError>;
    /// The live sessions of the user whose live session is `caller`, oldest first; `None`
    /// when `caller` is not a live session.
    fn own_sessions(
        &self,
        caller: &SessionHash,
        now: Millis,
    ) -> Result<Option<Vec<OwnSession>>, StoreError>;
    /// Ends the live session with public id `id` if it belongs to `caller`'s user; `None`
    /// when `caller` is not a live session, an empty list when `id` is not one of theirs.
    fn end_own_session(
        &self,
        caller: &SessionHash,
        id: &str,
        now: Millis,
    ) -> Result<Option<Vec<String>>, StoreError>;
    /// Ends every live session of `caller`'s user except `caller`; `None` when `caller` is
    /// not a live session.
    fn end_other_sessions(
        &self,
        caller: &SessionHash,
        now: Millis,
    ) -> Result<Option<Vec<String>>, StoreError>;
}

/// One of a user's sessions as the user sees it (no hash, no secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnSession {
    pub id: String,
    pub created: Millis,
    pub idle_deadline: Millis,
    pub max_deadline: Millis,
    pub user_agent: Option<String>,
    /// The session that asked.
    pub current: bool,
}

/// The public handle of a session: derived from its hash, so it is stable and reveals
/// neither the secret nor the hash the filter looks sessions up by.
pub fn public_id(hash: &str) -> String {
    let digest = Sha256::digest(format!("session-id:{hash}").as_bytes());
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

const LIVE: &str = "ended IS NULL AND idle_deadline > ?1 AND max_deadline > ?1";
const KEEP_ENDED_MS: i64 = 86_400_000;

pub struct SqliteStore {
    conn: Mutex<Connection>,
}

fn ms(v: Millis) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database. `:memory:` keeps nothing.
    pub fn open(path: &str) -> Result<SqliteStore, StoreError> {
        let mut conn = Connection::open(path)?;
        // WAL: readers never block the writer; FULL: a commit is on disk before the answer
        // that depends on it goes out, so a crash loses nothing acknowledged.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrations::migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| StoreError("store lock poisoned".into()))?;
        f(&mut conn).map_err(StoreError::from)
    }

    pub fn journal_mode(&self) -> Result<String, StoreError> {
        self.with(|c| c.query_row("PRAGMA journal_mode", [], |r| r.get(0)))
    }
}

fn end_live(tx: &rusqlite::Transaction<'_>, hash: &str, now: Millis) -> rusqlite::Result<bool> {
    let max: Option<i64> = tx
        .query_row(
            "UPDATE sessions SET ended = ?2 WHERE hash = ?1 AND ended IS NULL RETURNING max_deadline",
            params![hash, ms(now)],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(max) = max {
        tx.execute(
            "INSERT INTO revocations (hash, max_deadline) VALUES (?1, ?2)",
            params![hash, max],
        )?;
    }
    Ok(max.is_some())
}

/// Ends every live session a query (`?1` = now, then `extra`) selects by hash; the hashes ended.
fn end_selected(
    tx: &rusqlite::Transaction<'_>,
    sql: &str,
    extra: &[&dyn rusqlite::ToSql],
    now: Millis,
) -> rusqlite::Result<Vec<String>> {
    let now_ms = ms(now);
    let mut args: Vec<&dyn rusqlite::ToSql> = vec![&now_ms];
    args.extend_from_slice(extra);
    let hashes: Vec<String> = {
        let mut stmt = tx.prepare(sql)?;
        let rows = stmt.query_map(args.as_slice(), |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut ended = Vec::with_capacity(hashes.len());
    for hash in hashes {
        if end_live(tx, &hash, now)? {
            ended.push(hash);
        }
    }
    Ok(ended)
}

/// The user of a live session, read inside the transaction that acts on it.
fn live_owner(
    tx: &rusqlite::Transaction<'_>,
    caller: &SessionHash,
    now: Millis,
) -> rusqlite::Result<Option<String>> {
    tx.query_row(
        &format!("SELECT sub FROM sessions WHERE hash = ?2 AND {LIVE}"),
        params![ms(now), caller.hex()],
        |r| r.get(0),
    )
    .optional()
}

fn session_info(row: &rusqlite::Row<'_>) -> rusqlite::Result<Value> {
    let at = |i: usize| row.get::<_, i64>(i).map(|v| rfc3339(v.max(0) as u64));
    Ok(json!({
        "id": row.get::<_, String>(0)?,
        "sub": row.get::<_, String>(1)?,
        "email": row.get::<_, Option<String>>(2)?,
        "name": row.get::<_, Option<String>>(3)?,
        "created": at(4)?,
        "idle_expires": at(5)?,
        "expires": at(6)?,
    }))
}

impl SessionStore for SqliteStore {
    fn sync(&self, request: &SyncRequest, now: Millis) -> Result<SyncAnswer, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            let mut answer = SyncAnswer::default();
            for s in &request.upsert {
                let hash = s.hash.hex();
                let ended: Option<Option<i64>> = tx
                    .query_row("SELECT ended FROM sessions WHERE hash = ?1", [&hash], |r| r.get(0))
                    .optional()?;
                match ended {
                    None => {
                        let id = &s.identity;
                        tx.execute(
                            "INSERT INTO sessions (hash, id, sub, email, name, created, idle_deadline, max_deadline,
                                                   sid, user_agent, permissions, roles)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                            params![hash, public_id(&hash), id.sub, id.email, id.name,
                                    ms(s.created), ms(s.idle_deadline), ms(s.max_deadline),
                                    id.sid, s.user_agent, join_list(&id.permissions), join_list(&id.roles)],
                        )?;
                        // mo-auth's get_or_create_user: created at the first login, updated later.
                        tx.execute(
                            "INSERT INTO users (sub, email, name, created, last_login, logins)
                             VALUES (?1, ?2, ?3, ?4, ?4, 1)
                             ON CONFLICT(sub) DO UPDATE SET
                               email = coalesce(excluded.email, email),
                               name = coalesce(excluded.name, name),
                               last_login = max(last_login, excluded.last_login),
                               logins = logins + 1",
                            params![id.sub, id.email, id.name, ms(s.created)],
                        )?;
                        answer.new_sessions += 1;
                    }
                    // Ended here (revoked): never revived; the filter drops it too.
                    Some(Some(_)) => answer.ended.push(hash),
                    Some(None) => {
                        tx.execute(
                            "UPDATE sessions SET idle_deadline = max(idle_deadline, ?2) WHERE hash = ?1",
                            params![hash, ms(s.idle_deadline)],
                        )?;
                    }
                }
            }
            for hash in &request.end {
                let hash = hash.hex();
                if !end_live(&tx, &hash, now)? {
                    // Ended before this store heard of it (the login's write-through failed,
                    // and its upsert may still be on its way in an earlier batch): keep the
                    // end, so that the upsert cannot create the session afterwards.
                    tx.execute(
                        "INSERT INTO sessions (hash, id, sub, created, idle_deadline, max_deadline, ended)
                         VALUES (?1, ?2, '', ?3, ?3, ?3, ?3) ON CONFLICT(hash) DO NOTHING",
                        params![hash, public_id(&hash), ms(now)],
                    )?;
                }
            }
            // AUTOINCREMENT's counter, not max(seq): it never goes back when old rows are pruned.
            let mut cursor = tx
                .query_row(
                    "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'revocations'), 0)",
                    [],
                    |r| r.get::<_, i64>(0),
                )?
                .max(0) as u64;
            if let Some(since) = request.since {
                let mut stmt = tx.prepare(
                    "SELECT seq, hash FROM revocations WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )?;
                let rows = stmt.query_map(params![since as i64, MAX_ENDED_PER_ANSWER as i64], |r| {
                    Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
                })?;
                let mut last = since;
                let mut count = 0;
                for row in rows {
                    let (seq, hash) = row?;
                    last = seq;
                    count += 1;
                    answer.ended.push(hash);
                }
                if count == MAX_ENDED_PER_ANSWER {
                    cursor = last;
                }
            }
            drop_dupes(&mut answer.ended);
            answer.cursor = cursor;
            tx.commit()?;
            Ok(answer)
        })
    }

    fn session(&self, hash: &SessionHash, now: Millis) -> Result<Option<Session>, StoreError> {
        self.with(|conn| {
            conn.query_row(
                &format!(
                    "SELECT sub, email, name, created, idle_deadline, max_deadline,
                                 sid, user_agent, permissions, roles
                          FROM sessions WHERE hash = ?2 AND {LIVE}"
                ),
                params![ms(now), hash.hex()],
                |r| {
                    Ok(Session {
                        hash: *hash,
                        identity: session_core::token::Identity {
                            sub: r.get(0)?,
                            email: r.get(1)?,
                            name: r.get(2)?,
                            sid: r.get(6)?,
                            permissions: split_list(&r.get::<_, String>(8)?),
                            roles: split_list(&r.get::<_, String>(9)?),
                        },
                        created: r.get::<_, i64>(3)?.max(0) as u64,
                        idle_deadline: r.get::<_, i64>(4)?.max(0) as u64,
                        max_deadline: r.get::<_, i64>(5)?.max(0) as u64,
                        user_agent: r.get(7)?,
                    })
                },
            )
            .optional()
        })
    }

    fn list_sessions(&self, user: Option<&str>, now: Millis) -> Result<Vec<Value>, StoreError> {
        self.with(|conn| {
            let sql = format!(
                "SELECT id, sub, email, name, created, idle_deadline, max_deadline FROM sessions
                 WHERE {LIVE} AND (?2 IS NULL OR sub = ?2) ORDER BY created, id"
            );
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt.query_map(params![ms(now), user], session_info)?;
            rows.collect()
        })
    }

    fn end_session(&self, id: &str, now: Millis) -> Result<bool, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            let hash: Option<String> = tx
                .query_row(
                    &format!("SELECT hash FROM sessions WHERE id = ?2 AND {LIVE}"),
                    params![ms(now), id],
                    |r| r.get(0),
                )
                .optional()?;
            let ended = match hash {
                Some(hash) => end_live(&tx, &hash, now)?,
                None => false,
            };
            tx.commit()?;
            Ok(ended)
        })
    }

    fn end_user_sessions(&self, sub: &str, now: Millis) -> Result<usize, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            let hashes: Vec<String> = {
                let mut stmt = tx.prepare(&format!(
                    "SELECT hash FROM sessions WHERE sub = ?2 AND {LIVE}"
                ))?;
                let rows = stmt.query_map(params![ms(now), sub], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let mut ended = 0;
            for hash in &hashes {
                ended += usize::from(end_live(&tx, hash, now)?);
            }
            tx.commit()?;
            Ok(ended)
        })
    }

    fn list_users(&self, now: Millis) -> Result<Vec<Value>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT u.sub, u.email, u.name, u.created, u.last_login, u.logins,
                        (SELECT count(*) FROM sessions s WHERE s.sub = u.sub AND {LIVE})
                 FROM users u ORDER BY u.created, u.sub"
            ))?;
            let rows = stmt.query_map(params![ms(now)], |r| {
                Ok(json!({
                    "sub": r.get::<_, String>(0)?,
                    "email": r.get::<_, Option<String>>(1)?,
                    "name": r.get::<_, Option<String>>(2)?,
                    "created": rfc3339(r.get::<_, i64>(3)?.max(0) as u64),
                    "last_login": rfc3339(r.get::<_, i64>(4)?.max(0) as u64),
                    "logins": r.get::<_, i64>(5)?,
                    "live_sessions": r.get::<_, i64>(6)?,
                }))
            })?;
            rows.collect()
        })
    }

    fn live_sessions(&self, now: Millis) -> Result<u64, StoreError> {
        self.with(|conn| {
            conn.query_row(
                &format!("SELECT count(*) FROM sessions WHERE {LIVE}"),
                params![ms(now)],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n.max(0) as u64)
        })
    }

    fn prune(&self, now: Millis) -> Result<usize, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            let old = ms(now) - KEEP_ENDED_MS;
            let mut n = tx.execute(
                "DELETE FROM sessions WHERE max_deadline < ?1 OR idle_deadline < ?1 OR ended < ?1",
                [old],
            )?;
            n += tx.execute("DELETE FROM revocations WHERE max_deadline < ?1", [ms(now)])?;
            n += tx.execute("DELETE FROM seen_jtis WHERE until <= ?1", [ms(now)])?;
            tx.commit()?;
            Ok(n)
        })
    }

    fn end_sessions_by_sid(&self, sid: &str, now: Millis) -> Result<Vec<String>, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            let ended = end_selected(
                &tx,
                &format!("SELECT hash FROM sessions WHERE sid = ?2 AND {LIVE}"),
                &[&sid],
                now,
            )?;
            tx.commit()?;
            Ok(ended)
        })
    }

    fn end_user_sessions_before(
        &self,
        sub: &str,
        before: Millis,
        now: Millis,
    ) -> Result<Vec<String>, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            let before = ms(before);
            let ended = end_selected(
                &tx,
                &format!("SELECT hash FROM sessions WHERE sub = ?2 AND created < ?3 AND {LIVE}"),
                &[&sub, &before],
                now,
            )?;
            tx.commit()?;
            Ok(ended)
        })
    }

    fn remember_jti(&self, jti: &str, until: Millis, now: Millis) -> Result<bool, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            // A row whose time has passed no longer protects anything: reuse it.
            tx.execute(
                "DELETE FROM seen_jtis WHERE jti = ?1 AND until <= ?2",
                params![jti, ms(now)],
            )?;
            let fresh = tx.execute(
                "INSERT INTO seen_jtis (jti, until) VALUES (?1, ?2) ON CONFLICT(jti) DO NOTHING",
                params![jti, ms(until)],
            )? == 1;
            tx.commit()?;
            Ok(fresh)
        })
    }

    fn own_sessions(
        &self,
        caller: &SessionHash,
        now: Millis,
    ) -> Result<Option<Vec<OwnSession>>, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            let Some(sub) = live_owner(&tx, caller, now)? else {
                return Ok(None);
            };
            let caller = caller.hex();
            let sessions = {
                let mut stmt = tx.prepare(&format!(
                    "SELECT id, hash, created, idle_deadline, max_deadline, user_agent FROM sessions
                     WHERE sub = ?2 AND {LIVE} ORDER BY created, id"
                ))?;
                let rows = stmt.query_map(params![ms(now), sub], |r| {
                    let at = |i: usize| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
                    Ok(OwnSession {
                        id: r.get(0)?,
                        current: r.get::<_, String>(1)? == caller,
                        created: at(2)?,
                        idle_deadline: at(3)?,
                        max_deadline: at(4)?,
                        user_agent: r.get(5)?,
                    })
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            };
            tx.commit()?;
            Ok(Some(sessions))
        })
    }

    fn end_own_session(
        &self,
        caller: &SessionHash,
        id: &str,
        now: Millis,
    ) -> Result<Option<Vec<String>>, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            let Some(sub) = live_owner(&tx, caller, now)? else {
                return Ok(None);
            };
            let ended = end_selected(
                &tx,
                &format!("SELECT hash FROM sessions WHERE id = ?2 AND sub = ?3 AND {LIVE}"),
                &[&id, &sub],
                now,
            )?;
            tx.commit()?;
            Ok(Some(ended))
        })
    }

    fn end_other_sessions(
        &self,
        caller: &SessionHash,
        now: Millis,
    ) -> Result<Option<Vec<String>>, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            let Some(sub) = live_owner(&tx, caller, now)? else {
                return Ok(None);
            };
            let caller = caller.hex();
            let ended = end_selected(
                &tx,
                &format!("SELECT hash FROM sessions WHERE sub = ?2 AND hash <> ?3 AND {LIVE}"),
                &[&sub, &caller],
                now,
            )?;
            tx.commit()?;
            Ok(Some(ended))
        })
    }
}

/// Permissions and roles are stored as in the filter's records: space-separated items
/// (an item never holds whitespace; see `session_core::session::is_list_item`).
pub fn join_list(items: &[String]) -> String {
    items.join(" ")
}

pub fn split_list(stored: &str) -> Vec<String> {
    stored.split_whitespace().map(str::to_string).collect()
}

fn drop_dupes(hashes: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    hashes.retain(|h| seen.insert(h.clone()));
}
