//! The durable session store: one interface, two engines. SQLite (a file, embedded: the
//! default) and PostgreSQL (a server many sidecars share: fleets). Every method is one
//! transaction: what it returns has been committed. The shared test suite
//! (`sidecar/tests/api.rs`) runs every case against both.

pub mod pg_client;
mod postgres;
mod sqlite;

use serde_json::Value;
use session_core::identity::{claims_from_json, claims_json, ClaimValue};
use session_core::session::{Session, SessionHash};
use session_core::time::Millis;

pub use self::postgres::PgStore;
pub use self::sqlite::SqliteStore;

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

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        // The Display of a server error is only "db error"; its message says what failed.
        match e.as_db_error() {
            Some(db) => StoreError(format!("postgres: {}: {}", db.code().code(), db.message())),
            None => StoreError(format!("postgres: {e}")),
        }
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

/// How long a session past its deadlines is kept before it is forgotten.
pub const KEEP_EXPIRED_MS: Millis = 86_400_000;

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
    /// Database connections this sidecar holds open now.
    fn connections(&self) -> usize;
    /// Forgets what can no longer matter: sessions a day past their deadlines, ended
    /// sessions once `keep_ended` has passed since they ended (their tombstone is what keeps
    /// a sync from reviving them), revocations of sessions past their absolute deadline.
    fn prune(&self, now: Millis, keep_ended: Millis) -> Result<usize, StoreError>;

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

/// Opens the store `db` names: a `postgres://` or `postgresql://` URL, or else a SQLite
/// file (`:memory:` keeps nothing). `pool` bounds PostgreSQL connections.
pub fn open(db: &str, pool: usize) -> Result<Box<dyn SessionStore>, StoreError> {
    if is_postgres_url(db) {
        Ok(Box::new(PgStore::connect(db, pool)?))
    } else {
        Ok(Box::new(SqliteStore::open(db)?))
    }
}

pub fn is_postgres_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// `db` with any password replaced, for logs and error messages.
pub fn redacted(db: &str) -> String {
    if !is_postgres_url(db) {
        return db.to_string();
    }
    let (scheme, rest) = db.split_once("://").unwrap_or(("", db));
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}:***@{host}")
        }
        None => db.to_string(),
    }
}

/// The public handle of a session: derived from its hash, so it is stable and reveals
/// neither the secret nor the hash the filter looks sessions up by.
pub fn public_id(hash: &str) -> String {
    session_core::session::public_id(hash)
}

fn ms(v: Millis) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn drop_dupes(hashes: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    hashes.retain(|h| seen.insert(h.clone()));
}

/// Permissions and roles are stored as in the filter's records: space-separated items
/// (an item never holds whitespace; see `session_core::identity::is_list_item`).
pub fn join_list(items: &[String]) -> String {
    items.join(" ")
}

pub fn split_list(stored: &str) -> Vec<String> {
    stored.split_whitespace().map(str::to_string).collect()
}

/// Named claims from identity APIs, stored as one JSON object (the sync wire's form).
pub fn claims_text(claims: &[(String, ClaimValue)]) -> String {
    claims_json(claims).to_string()
}

/// Stored claims back; text that is not a JSON object reads as none.
pub fn claims_of_text(stored: &str) -> Vec<(String, ClaimValue)> {
    claims_from_json(serde_json::from_str::<Value>(stored).ok().as_ref())
}
