//! Schema migrations, applied in order by `PRAGMA user_version` (as cargo's `util/sqlite.rs`
//! does): migration N brings the schema from version N to N+1. Never edit a released one;
//! append.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: sessions, users, revocations.
    "CREATE TABLE users (
        sub        TEXT PRIMARY KEY,
        email      TEXT,
        name       TEXT,
        created    INTEGER NOT NULL,
        last_login INTEGER NOT NULL,
        logins     INTEGER NOT NULL DEFAULT 0
    );
    -- A session is known by `hash`: the first 128 bits of SHA-256 of its secret, in hex.
    -- The secret itself never reaches the sidecar. `id` is the public handle admins use.
    CREATE TABLE sessions (
        hash          TEXT PRIMARY KEY,
        id            TEXT NOT NULL UNIQUE,
        sub           TEXT NOT NULL,
        email         TEXT,
        name          TEXT,
        created       INTEGER NOT NULL,
        idle_deadline INTEGER NOT NULL,
        max_deadline  INTEGER NOT NULL,
        ended         INTEGER
    );
    CREATE INDEX sessions_by_sub ON sessions(sub);
    -- Sessions ended here, in order, for the filters to poll; kept while they could matter.
    CREATE TABLE revocations (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        hash         TEXT NOT NULL,
        max_deadline INTEGER NOT NULL
    );",
    // 2: what the filter learns at login besides who: Auth0's session id (back-channel
    // logout finds sessions by it), a user-agent summary (a user's list of sessions), and
    // permissions and roles (route rules; space-separated, as in the filter's records).
    "ALTER TABLE sessions ADD COLUMN sid TEXT;
    ALTER TABLE sessions ADD COLUMN user_agent TEXT;
    ALTER TABLE sessions ADD COLUMN permissions TEXT NOT NULL DEFAULT '';
    ALTER TABLE sessions ADD COLUMN roles TEXT NOT NULL DEFAULT '';
    CREATE INDEX sessions_by_sid ON sessions(sid) WHERE sid IS NOT NULL;",
    // 3: the `jti`s of accepted back-channel logout tokens, until a replay of each would be
    // refused as too old anyway.
    "CREATE TABLE seen_jtis (
        jti   TEXT PRIMARY KEY,
        until INTEGER NOT NULL
    );",
];

/// The schema version this binary writes.
pub const VERSION: usize = MIGRATIONS.len();

/// Applies every migration newer than the database's `user_version`, each in its own
/// transaction. Running it again is a no-op. A database newer than this binary is refused.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<usize> {
    let current: usize =
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    if current > VERSION {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
            Some(format!(
                "database schema version {current} is newer than this sidecar ({VERSION})"
            )),
        ));
    }
    let mut applied = 0;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (index + 1) as i64)?;
        tx.commit()?;
        applied += 1;
    }
    Ok(applied)
}
