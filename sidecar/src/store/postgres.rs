//! The PostgreSQL store, for fleets: every sidecar of a fleet points at one database and
//! any of them answers any filter the same way (the revocation cursor is global).
//!
//! Client: tokio-postgres (rust-postgres's async client) through a deadpool pool, on the
//! sidecar's outbound runtime (crate::outbound). The store trait stays synchronous: it is
//! called from blocking threads, which drive each statement with `Handle::block_on` (see
//! pg_client). The pool is bounded: a burst of requests waits for a connection rather than
//! opening more than the database allows.
//! No TLS: run the database on the same host or a private network, or put a TLS tunnel in
//! front of it.

use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Hook, HookError, Manager, ManagerConfig, PoolError, RecyclingMethod};
use serde_json::{json, Value};
use session_core::identity::Identity;
use session_core::session::{Session, SessionHash};
use session_core::time::{rfc3339, Millis};
use tokio::runtime::Handle;
use tokio_postgres::{Config, NoTls};

use super::pg_client::{self, Client, Row, Transaction};
use super::{
    claims_of_text, claims_text, drop_dupes, join_list, ms, public_id, split_list, OwnSession,
    SessionStore, StoreError, SyncAnswer, SyncRequest, KEEP_EXPIRED_MS, MAX_ENDED_PER_ANSWER,
};
use crate::{migrations, outbound};

/// How long a request waits for a free connection before the store answers 503.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long connecting may take: a database that is down must fail requests fast (503) so
/// that filters keep their writes and retry, not hold threads.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest statement: a stuck lock must not hold a sidecar thread for ever.
const STATEMENT_TIMEOUT_MS: u32 = 10_000;
/// Retries of a transaction PostgreSQL aborted for a deadlock or a serialization failure;
/// both are expected now and then between sidecars writing the same rows.
const RETRIES: usize = 3;

/// At most `max` connections, opened on demand and reused; one found closed at checkout
/// is dropped and replaced, so the pool heals when the database comes back.
struct Pool {
    pool: deadpool_postgres::Pool,
    max: usize,
    rt: Handle,
}

impl Pool {
    fn new(config: Config, max: usize, rt: Handle) -> Result<Pool, StoreError> {
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // Only `is_closed` at checkout, as before: no round trip per request.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(max)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(CHECKOUT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .post_create(Hook::async_fn(|client, _| {
                Box::pin(async move {
                    client
                        .batch_execute(&format!(
                            "SET statement_timeout = {STATEMENT_TIMEOUT_MS}; SET lock_timeout = {STATEMENT_TIMEOUT_MS}"
                        ))
                        .await
                        .map_err(HookError::Backend)
                })
            }))
            .build()
            .map_err(|e| StoreError(format!("postgres: cannot build the connection pool: {e}")))?;
        Ok(Pool { pool, max, rt })
    }

    fn get(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.rt
            .block_on(self.pool.get())
            .map_err(|e| self.checkout_error(e))
    }

    fn checkout_error(&self, e: PoolError) -> StoreError {
        match e {
            PoolError::Timeout(deadpool_postgres::TimeoutType::Wait) => StoreError(format!(
                "postgres: all {} connections busy for {}s",
                self.max,
                CHECKOUT_TIMEOUT.as_secs()
            )),
            PoolError::Timeout(_) => StoreError(format!(
                "postgres: no connection within {}s",
                CONNECT_TIMEOUT.as_secs()
            )),
            PoolError::Backend(e) | PoolError::PostCreateHook(HookError::Backend(e)) => {
                StoreError::from(e)
            }
            other => StoreError(format!("postgres: {other}")),
        }
    }

    /// Connections currently open (idle or in use).
    fn open(&self) -> usize {
        self.pool.status().size
    }
}

pub struct PgStore {
    pool: Pool,
}

const LIVE: &str = "ended IS NULL AND idle_deadline > $1 AND max_deadline > $1";

fn is_retryable(e: &pg_client::Error) -> bool {
    e.code().is_some_and(|c| {
        *c == tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED
            || *c == tokio_postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
    })
}

fn millis(row: &Row, i: usize) -> Result<Millis, pg_client::Error> {
    Ok(row.try_get::<_, i64>(i)?.max(0) as u64)
}

fn session_info(row: &Row) -> Result<Value, pg_client::Error> {
    Ok(json!({
        "id": row.try_get::<_, String>(0)?,
        "sub": row.try_get::<_, String>(1)?,
        "email": row.try_get::<_, Option<String>>(2)?,
        "name": row.try_get::<_, Option<String>>(3)?,
        "created": rfc3339(millis(row, 4)?),
        "idle_expires": rfc3339(millis(row, 5)?),
        "expires": rfc3339(millis(row, 6)?),
    }))
}

/// Records revocations for sessions just ended (`(hash, max_deadline)` rows), numbered from
/// the global sequence. Called last in a transaction, so that the sequence row is the last
/// lock taken: transactions ending sessions never wait for it while holding it.
fn record_revocations(tx: &mut Transaction<'_>, ended: &[Row]) -> Result<(), pg_client::Error> {
    if ended.is_empty() {
        return Ok(());
    }
    let n = ended.len() as i64;
    let last: i64 = tx
        .query_one(
            "UPDATE revocation_sequence SET last = last + $1 RETURNING last",
            &[&n],
        )?
        .try_get(0)?;
    let hashes: Vec<String> = ended
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let deadlines: Vec<i64> = ended
        .iter()
        .map(|r| r.try_get(1))
        .collect::<Result<_, _>>()?;
    tx.execute(
        "INSERT INTO revocations (seq, hash, max_deadline)
         SELECT $1 + ord, hash, max_deadline
         FROM unnest($2::text[], $3::bigint[]) WITH ORDINALITY AS t(hash, max_deadline, ord)",
        &[&(last - n), &hashes, &deadlines],
    )?;
    Ok(())
}

impl PgStore {
    /// Connects (one connection, to migrate and to fail early on a wrong URL or password)
    /// and migrates. `pool` bounds the connections this sidecar opens.
    pub fn connect(url: &str, pool: usize) -> Result<PgStore, StoreError> {
        let mut config =
            Config::from_str(url).map_err(|e| StoreError(format!("bad PostgreSQL URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        // Notice a peer that vanished (a dead database host) on idle pooled connections.
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        if config.get_application_name().is_none() {
            config.application_name("session-sidecar");
        }
        let rt = outbound::handle().map_err(StoreError)?;
        let store = PgStore {
            pool: Pool::new(config, pool.max(1), rt)?,
        };
        {
            let mut conn = store.pool.get()?;
            let mut client = Client::new(&mut conn, &store.pool.rt);
            migrations::migrate_postgres(&mut client).map_err(StoreError)?;
        }
        Ok(store)
    }

    /// Runs `f` in a transaction, again if PostgreSQL aborted it for a deadlock or a
    /// serialization failure.
    fn transaction<T>(
        &self,
        mut f: impl FnMut(&mut Transaction<'_>) -> Result<T, pg_client::Error>,
    ) -> Result<T, StoreError> {
        let mut conn = self.pool.get()?;
        let mut client = Client::new(&mut conn, &self.pool.rt);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = client.transaction().and_then(|mut tx| {
                let value = f(&mut tx)?;
                tx.commit()?;
                Ok(value)
            });
            match result {
                Err(e) if attempt < RETRIES && is_retryable(&e) => continue,
                other => return other.map_err(StoreError::from),
            }
        }
    }

    fn query<T>(
        &self,
        f: impl FnOnce(&mut Client<'_>) -> Result<T, pg_client::Error>,
    ) -> Result<T, StoreError> {
        let mut conn = self.pool.get()?;
        f(&mut Client::new(&mut conn, &self.pool.rt)).map_err(StoreError::from)
    }
}

/// The user whose live session `hash` is.
fn live_owner(
    tx: &mut Transaction<'_>,
    hash: &str,
    now: Millis,
) -> Result<Option<String>, pg_client::Error> {
    tx.query_opt(
        &format!("SELECT sub FROM sessions WHERE hash = $2 AND {LIVE}"),
        &[&ms(now), &hash],
    )?
    .map(|r| r.try_get(0))
    .transpose()
}

/// Ends the live sessions matching `condition` (parameters from `$2`, `$1` is now) and
/// records their revocations; their hashes.
fn end_rows(
    tx: &mut Transaction<'_>,
    condition: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    now: Millis,
) -> Result<Vec<String>, pg_client::Error> {
    let now = ms(now);
    let mut all: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&now];
    all.extend_from_slice(params);
    let ended = tx.query(
        &format!(
            "UPDATE sessions SET ended = $1 WHERE {condition} AND {LIVE}
             RETURNING hash, max_deadline"
        ),
        &all,
    )?;
    record_revocations(tx, &ended)?;
    ended.iter().map(|r| r.try_get(0)).collect()
}

impl PgStore {
    fn end_where(
        &self,
        condition: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        now: Millis,
    ) -> Result<Vec<String>, StoreError> {
        self.transaction(|tx| end_rows(tx, condition, params, now))
    }
}

/// New sessions, and the users they belong to (mo-auth's get_or_create_user: created at the
/// first login, updated at later ones), in one statement; returns the hashes inserted.
const INSERT_SESSIONS: &str = "
    WITH input AS (
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                             $6::bigint[], $7::bigint[], $8::bigint[], $9::text[], $10::text[],
                             $11::text[], $12::text[], $13::text[], $14::boolean[], $15::text[])
            AS t(hash, id, sub, email, name, created, idle_deadline, max_deadline,
                 sid, user_agent, permissions, roles, groups, email_verified, claims)
    ), inserted AS (
        INSERT INTO sessions (hash, id, sub, email, name, created, idle_deadline, max_deadline,
                              sid, user_agent, permissions, roles, groups, email_verified,
                              claims)
        SELECT * FROM input
        ON CONFLICT (hash) DO NOTHING
        RETURNING hash, sub, email, name, created
    ), logins AS (
        INSERT INTO users (sub, email, name, created, last_login, logins)
        SELECT sub,
               (array_agg(email ORDER BY created DESC) FILTER (WHERE email IS NOT NULL))[1],
               (array_agg(name ORDER BY created DESC) FILTER (WHERE name IS NOT NULL))[1],
               min(created), max(created), count(*)
        FROM inserted GROUP BY sub ORDER BY sub
        ON CONFLICT (sub) DO UPDATE SET
            email = coalesce(excluded.email, users.email),
            name = coalesce(excluded.name, users.name),
            last_login = greatest(users.last_login, excluded.last_login),
            logins = users.logins + excluded.logins
    )
    SELECT hash FROM inserted";

/// A batch of sessions as one array per column, for `unnest`.
#[derive(Default)]
struct Columns {
    hash: Vec<String>,
    id: Vec<String>,
    sub: Vec<String>,
    email: Vec<Option<String>>,
    name: Vec<Option<String>>,
    created: Vec<i64>,
    idle_deadline: Vec<i64>,
    max_deadline: Vec<i64>,
    sid: Vec<Option<String>>,
    user_agent: Vec<Option<String>>,
    permissions: Vec<String>,
    roles: Vec<String>,
    groups: Vec<String>,
    email_verified: Vec<Option<bool>>,
    claims: Vec<String>,
}

impl Columns {
    fn of(sessions: &[&Session]) -> Columns {
        let mut c = Columns::default();
        for s in sessions {
            let hash = s.hash.hex();
            c.id.push(public_id(&hash));
            c.hash.push(hash);
            c.sub.push(s.identity.sub.clone());
            c.email.push(s.identity.email.clone());
            c.name.push(s.identity.name.clone());
            c.created.push(ms(s.created));
            c.idle_deadline.push(ms(s.idle_deadline));
            c.max_deadline.push(ms(s.max_deadline));
            c.sid.push(s.identity.sid.clone());
            c.user_agent.push(s.user_agent.clone());
            c.permissions.push(join_list(&s.identity.permissions));
            c.roles.push(join_list(&s.identity.roles));
            c.groups.push(join_list(&s.identity.groups));
            c.email_verified.push(s.identity.email_verified);
            c.claims.push(claims_text(&s.identity.claims));
        }
        c
    }

    fn params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 15] {
        [
            &self.hash,
            &self.id,
            &self.sub,
            &self.email,
            &self.name,
            &self.created,
            &self.idle_deadline,
            &self.max_deadline,
            &self.sid,
            &self.user_agent,
            &self.permissions,
            &self.roles,
            &self.groups,
            &self.email_verified,
            &self.claims,
        ]
    }
}

impl SessionStore for PgStore {
    fn sync(&self, request: &SyncRequest, now: Millis) -> Result<SyncAnswer, StoreError> {
        // One order of row locks for every sidecar: two batches touching the same sessions
        // and users do not deadlock.
        let mut upserts: Vec<&Session> = request.upsert.iter().collect();
        upserts.sort_by(|a, b| (&a.identity.sub, a.hash.0).cmp(&(&b.identity.sub, b.hash.0)));
        let mut ends: Vec<String> = request.end.iter().map(SessionHash::hex).collect();
        ends.sort();
        upserts.dedup_by_key(|s| s.hash);
        let rows = Columns::of(&upserts);
        self.transaction(|tx| {
            let mut answer = SyncAnswer::default();
            // A batch is a few statements whatever its size: after an outage a filter sends
            // thousands of sessions in back-to-back batches, and a round trip per session
            // would make the store the bottleneck of the drain.
            let inserted: std::collections::HashSet<String> = tx
                .query(INSERT_SESSIONS, &rows.params())?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
            answer.new_sessions = inserted.len();
            let (known, idle): (Vec<String>, Vec<i64>) = rows
                .hash
                .iter()
                .zip(&rows.idle_deadline)
                .filter(|(h, _)| !inserted.contains(*h))
                .map(|(h, i)| (h.clone(), *i))
                .unzip();
            if !known.is_empty() {
                let live: std::collections::HashSet<String> = tx
                    .query(
                        "UPDATE sessions s
                         SET idle_deadline = least(greatest(s.idle_deadline, v.idle), s.max_deadline)
                         FROM unnest($1::text[], $2::bigint[]) AS v(hash, idle)
                         WHERE s.hash = v.hash AND s.ended IS NULL
                         RETURNING s.hash",
                        &[&known, &idle],
                    )?
                    .iter()
                    .map(|r| r.try_get(0))
                    .collect::<Result<_, _>>()?;
                // Known but not live: ended here (revoked). Never revived; the filter drops
                // it too.
                answer
                    .ended
                    .extend(known.into_iter().filter(|h| !live.contains(h)));
            }
            let ended = tx.query(
                "UPDATE sessions SET ended = $2 WHERE hash = ANY($1) AND ended IS NULL
                 RETURNING hash, max_deadline",
                &[&ends, &ms(now)],
            )?;
            record_revocations(tx, &ended)?;
            // Ended before this store heard of them (the login's write-through failed, and
            // its upsert may still be on its way in an earlier batch): keep the end, so that
            // the upsert cannot create the session afterwards.
            let done: std::collections::HashSet<String> = ended
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
            let (unknown, ids): (Vec<String>, Vec<String>) = ends
                .iter()
                .filter(|h| !done.contains(*h))
                .map(|h| (h.clone(), public_id(h)))
                .unzip();
            if !unknown.is_empty() {
                tx.execute(
                    "INSERT INTO sessions (hash, id, sub, created, idle_deadline, max_deadline, ended)
                     SELECT hash, id, '', $3, $3, $3, $3 FROM unnest($1::text[], $2::text[]) AS t(hash, id)
                     ON CONFLICT (hash) DO NOTHING",
                    &[&unknown, &ids, &ms(now)],
                )?;
            }
            // Read the cursor before the rows: every revocation numbered up to it has
            // committed (numbers are taken under the sequence row's lock), so none below it
            // can appear later and be skipped.
            let mut cursor: i64 = tx
                .query_one("SELECT last FROM revocation_sequence", &[])?
                .try_get(0)?;
            if let Some(since) = request.since {
                let rows = tx.query(
                    "SELECT seq, hash FROM revocations WHERE seq > $1 AND seq <= $2
                     ORDER BY seq LIMIT $3",
                    &[&ms(since), &cursor, &(MAX_ENDED_PER_ANSWER as i64)],
                )?;
                if rows.len() == MAX_ENDED_PER_ANSWER {
                    if let Some(last) = rows.last() {
                        cursor = last.try_get(0)?;
                    }
                }
                for row in &rows {
                    answer.ended.push(row.try_get(1)?);
                }
            }
            drop_dupes(&mut answer.ended);
            answer.cursor = cursor.max(0) as u64;
            Ok(answer)
        })
    }

    fn session(&self, hash: &SessionHash, now: Millis) -> Result<Option<Session>, StoreError> {
        self.query(|c| {
            let row = c.query_opt(
                &format!(
                    "SELECT sub, email, name, created, idle_deadline, max_deadline,
                            sid, user_agent, permissions, roles, groups, email_verified, claims
                     FROM sessions WHERE hash = $2 AND {LIVE}"
                ),
                &[&ms(now), &hash.hex()],
            )?;
            row.map(|r| {
                Ok(Session {
                    hash: *hash,
                    identity: Identity {
                        sub: r.try_get(0)?,
                        email: r.try_get(1)?,
                        name: r.try_get(2)?,
                        sid: r.try_get(6)?,
                        permissions: split_list(r.try_get(8)?),
                        roles: split_list(r.try_get(9)?),
                        groups: split_list(r.try_get(10)?),
                        email_verified: r.try_get(11)?,
                        claims: claims_of_text(r.try_get(12)?),
                    },
                    created: millis(&r, 3)?,
                    idle_deadline: millis(&r, 4)?,
                    max_deadline: millis(&r, 5)?,
                    user_agent: r.try_get(7)?,
                })
            })
            .transpose()
        })
    }

    fn list_sessions(&self, user: Option<&str>, now: Millis) -> Result<Vec<Value>, StoreError> {
        self.query(|c| {
            let rows = c.query(
                &format!(
                    "SELECT id, sub, email, name, created, idle_deadline, max_deadline FROM sessions
                     WHERE {LIVE} AND ($2::text IS NULL OR sub = $2) ORDER BY created, id"
                ),
                &[&ms(now), &user],
            )?;
            rows.iter().map(session_info).collect()
        })
    }

    fn end_session(&self, id: &str, now: Millis) -> Result<bool, StoreError> {
        self.transaction(|tx| {
            let ended = tx.query(
                &format!(
                    "UPDATE sessions SET ended = $1 WHERE id = $2 AND {LIVE}
                     RETURNING hash, max_deadline"
                ),
                &[&ms(now), &id],
            )?;
            record_revocations(tx, &ended)?;
            Ok(!ended.is_empty())
        })
    }

    fn end_user_sessions(&self, sub: &str, now: Millis) -> Result<usize, StoreError> {
        self.transaction(|tx| {
            let ended = tx.query(
                &format!(
                    "UPDATE sessions SET ended = $1 WHERE sub = $2 AND {LIVE}
                     RETURNING hash, max_deadline"
                ),
                &[&ms(now), &sub],
            )?;
            record_revocations(tx, &ended)?;
            Ok(ended.len())
        })
    }

    fn list_users(&self, now: Millis) -> Result<Vec<Value>, StoreError> {
        self.query(|c| {
            let rows = c.query(
                &format!(
                    "SELECT u.sub, u.email, u.name, u.created, u.last_login, u.logins,
                            (SELECT count(*) FROM sessions s WHERE s.sub = u.sub AND {LIVE})
                     FROM users u ORDER BY u.created, u.sub"
                ),
                &[&ms(now)],
            )?;
            rows.iter()
                .map(|r| {
                    Ok(json!({
                        "sub": r.try_get::<_, String>(0)?,
                        "email": r.try_get::<_, Option<String>>(1)?,
                        "name": r.try_get::<_, Option<String>>(2)?,
                        "created": rfc3339(millis(r, 3)?),
                        "last_login": rfc3339(millis(r, 4)?),
                        "logins": r.try_get::<_, i64>(5)?,
                        "live_sessions": r.try_get::<_, i64>(6)?,
                    }))
                })
                .collect()
        })
    }

    fn live_sessions(&self, now: Millis) -> Result<u64, StoreError> {
        self.query(|c| {
            let n: i64 = c
                .query_one(
                    &format!("SELECT count(*) FROM sessions WHERE {LIVE}"),
                    &[&ms(now)],
                )?
                .try_get(0)?;
            Ok(n.max(0) as u64)
        })
    }

    fn connections(&self) -> usize {
        self.pool.open()
    }

    fn prune(&self, now: Millis, keep_ended: Millis) -> Result<usize, StoreError> {
        self.transaction(|tx| {
            let mut n = tx.execute(
                "DELETE FROM sessions WHERE (ended IS NULL AND (max_deadline < $1 OR idle_deadline < $1))
                                         OR ended < $2",
                &[&ms(now.saturating_sub(KEEP_EXPIRED_MS)), &ms(now.saturating_sub(keep_ended))],
            )?;
            n += tx.execute(
                "DELETE FROM revocations WHERE max_deadline < $1",
                &[&ms(now)],
            )?;
            n += tx.execute("DELETE FROM seen_jtis WHERE until <= $1", &[&ms(now)])?;
            Ok(n as usize)
        })
    }

    fn end_sessions_by_sid(&self, sid: &str, now: Millis) -> Result<Vec<String>, StoreError> {
        self.end_where("sid = $2", &[&sid], now)
    }

    fn end_user_sessions_before(
        &self,
        sub: &str,
        before: Millis,
        now: Millis,
    ) -> Result<Vec<String>, StoreError> {
        self.end_where("sub = $2 AND created < $3", &[&sub, &ms(before)], now)
    }

    fn remember_jti(&self, jti: &str, until: Millis, now: Millis) -> Result<bool, StoreError> {
        self.transaction(|tx| {
            // A row whose time has passed no longer protects anything: reuse it.
            let fresh = tx.execute(
                "INSERT INTO seen_jtis (jti, until) VALUES ($1, $2)
                 ON CONFLICT (jti) DO UPDATE SET until = excluded.until
                 WHERE seen_jtis.until <= $3",
                &[&jti, &ms(until), &ms(now)],
            )?;
            Ok(fresh == 1)
        })
    }

    fn own_sessions(
        &self,
        caller: &SessionHash,
        now: Millis,
    ) -> Result<Option<Vec<OwnSession>>, StoreError> {
        let caller = caller.hex();
        self.transaction(|tx| {
            let Some(sub) = live_owner(tx, &caller, now)? else {
                return Ok(None);
            };
            let rows = tx.query(
                &format!(
                    "SELECT id, hash, created, idle_deadline, max_deadline, user_agent FROM sessions
                     WHERE sub = $2 AND {LIVE} ORDER BY created, id"
                ),
                &[&ms(now), &sub],
            )?;
            rows.iter()
                .map(|r| {
                    Ok(OwnSession {
                        id: r.try_get(0)?,
                        current: r.try_get::<_, String>(1)? == caller,
                        created: millis(r, 2)?,
                        idle_deadline: millis(r, 3)?,
                        max_deadline: millis(r, 4)?,
                        user_agent: r.try_get(5)?,
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
        })
    }

    fn end_own_session(
        &self,
        caller: &SessionHash,
        id: &str,
        now: Millis,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let caller = caller.hex();
        self.transaction(|tx| {
            let Some(sub) = live_owner(tx, &caller, now)? else {
                return Ok(None);
            };
            end_rows(tx, "id = $2 AND sub = $3", &[&id, &sub], now).map(Some)
        })
    }

    fn end_other_sessions(
        &self,
        caller: &SessionHash,
        now: Millis,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let caller = caller.hex();
        self.transaction(|tx| {
            let Some(sub) = live_owner(tx, &caller, now)? else {
                return Ok(None);
            };
            end_rows(tx, "sub = $2 AND hash <> $3", &[&sub, &caller], now).map(Some)
        })
    }
}
