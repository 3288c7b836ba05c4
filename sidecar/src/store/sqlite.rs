//! The SQLite store: one file, one connection behind a lock (SQLite has one writer anyway),
//! WAL so that the CLI can read beside a running sidecar.

use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};
use session_core::session::{Session, SessionHash};
use session_core::time::{rfc3339, Millis};

use super::{
    claims_of_text, claims_text, drop_dupes, join_list, ms, public_id, split_list, OwnSession,
    SessionStore, StoreError, SyncAnswer, SyncRequest, KEEP_EXPIRED_MS, MAX_ENDED_PER_ANSWER,
};
use crate::migrations;

const LIVE: &str = "ended IS NULL AND idle_deadline > ?1 AND max_deadline > ?1";

pub struct SqliteStore {
    conn: Mutex<Connection>,
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
                                                   sid, user_agent, permissions, roles,
                                                   groups, email_verified, claims)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                            params![hash, public_id(&hash), id.sub, id.email, id.name,
                                    ms(s.created), ms(s.idle_deadline), ms(s.max_deadline),
                                    id.sid, s.user_agent, join_list(&id.permissions), join_list(&id.roles),
                                    join_list(&id.groups), id.email_verified, claims_text(&id.claims)],
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
                            "UPDATE sessions SET idle_deadline = min(max(idle_deadline, ?2), max_deadline) WHERE hash = ?1",
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
                                 sid, user_agent, permissions, roles,
                                 groups, email_verified, claims
                          FROM sessions WHERE hash = ?2 AND {LIVE}"
                ),
                params![ms(now), hash.hex()],
                |r| {
                    Ok(Session {
                        hash: *hash,
                        identity: session_core::identity::Identity {
                            sub: r.get(0)?,
                            email: r.get(1)?,
                            name: r.get(2)?,
                            sid: r.get(6)?,
                            permissions: split_list(&r.get::<_, String>(8)?),
                            roles: split_list(&r.get::<_, String>(9)?),
                            groups: split_list(&r.get::<_, String>(10)?),
                            email_verified: r.get(11)?,
                            claims: claims_of_text(&r.get::<_, String>(12)?),
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

    fn connections(&self) -> usize {
        1
    }

    fn prune(&self, now: Millis, keep_ended: Millis) -> Result<usize, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            let mut n = tx.execute(
                "DELETE FROM sessions WHERE (ended IS NULL AND (max_deadline < ?1 OR idle_deadline < ?1))
                                         OR ended < ?2",
                params![ms(now.saturating_sub(KEEP_EXPIRED_MS)), ms(now.saturating_sub(keep_ended))],
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
