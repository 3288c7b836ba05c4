//! Schema migrations: one ordered list per engine (as cargo's `util/sqlite.rs` does), the
//! same steps in each engine's dialect. Migration N brings the schema from version N to N+1.
//! Never edit a released one; append to both lists (a test checks they stay the same length
//! and give the same columns).
//!
//! - SQLite tracks the version in `PRAGMA user_version`.
//! - PostgreSQL tracks it in `schema_migrations`, one row per applied migration. Sidecars
//!   starting at once on one database serialize on an advisory lock held by the migrating
//!   transaction: the second waits, then finds nothing left to apply. DDL is transactional
//!   there, so a failed migration leaves no half-made schema.

use rusqlite::Connection;

const SQLITE: &[&str] = &[
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
    // 4: what identity APIs add at login (README: "Identity APIs"): groups (space-separated,
    // as in the filter's records), whether the email is verified (NULL: unsaid), and the
    // named extra claims as one JSON object. Rows from before read as none of them.
    "ALTER TABLE sessions ADD COLUMN groups TEXT NOT NULL DEFAULT '';
    ALTER TABLE sessions ADD COLUMN email_verified INTEGER;
    ALTER TABLE sessions ADD COLUMN claims TEXT NOT NULL DEFAULT '{}';",
];

/// The same steps for PostgreSQL. Instants are milliseconds since the epoch in `bigint`, as
/// in SQLite, so both engines answer with identical values.
const POSTGRES: &[&str] = &[
    // 1: sessions, users, revocations, and the revocation sequence.
    "CREATE TABLE users (
        sub        text PRIMARY KEY,
        email      text,
        name       text,
        created    bigint NOT NULL,
        last_login bigint NOT NULL,
        logins     bigint NOT NULL DEFAULT 0
    );
    CREATE TABLE sessions (
        hash          text PRIMARY KEY,
        id            text NOT NULL UNIQUE,
        sub           text NOT NULL,
        email         text,
        name          text,
        created       bigint NOT NULL,
        idle_deadline bigint NOT NULL,
        max_deadline  bigint NOT NULL,
        ended         bigint
    );
    CREATE INDEX sessions_by_sub ON sessions(sub);
    CREATE TABLE revocations (
        seq          bigint PRIMARY KEY,
        hash         text NOT NULL,
        max_deadline bigint NOT NULL
    );
    -- The filters' global revocation cursor: one row, bumped by every transaction that ends
    -- sessions. Not a SEQUENCE: nextval() hands out numbers in call order but transactions
    -- commit in any order, so a filter could read seq 11 before seq 10 commits and never see
    -- 10. The row lock makes revocations commit in the order of their numbers.
    CREATE TABLE revocation_sequence (
        one  boolean PRIMARY KEY DEFAULT true CHECK (one),
        last bigint NOT NULL
    );
    INSERT INTO revocation_sequence (one, last) VALUES (true, 0);",
    // 2: Auth0's session id, a user-agent summary, permissions and roles (see SQLite's 2).
    "ALTER TABLE sessions ADD COLUMN sid text;
    ALTER TABLE sessions ADD COLUMN user_agent text;
    ALTER TABLE sessions ADD COLUMN permissions text NOT NULL DEFAULT '';
    ALTER TABLE sessions ADD COLUMN roles text NOT NULL DEFAULT '';
    CREATE INDEX sessions_by_sid ON sessions(sid) WHERE sid IS NOT NULL;",
    // 3: the `jti`s of accepted back-channel logout tokens (see SQLite's 3).
    "CREATE TABLE seen_jtis (
        jti   text PRIMARY KEY,
        until bigint NOT NULL
    );",
    // 4: groups, email_verified and named claims from identity APIs (see SQLite's 4).
    "ALTER TABLE sessions ADD COLUMN groups text NOT NULL DEFAULT '';
    ALTER TABLE sessions ADD COLUMN email_verified boolean;
    ALTER TABLE sessions ADD COLUMN claims text NOT NULL DEFAULT '{}';",
];

/// The schema version this binary writes.
pub const VERSION: usize = SQLITE.len();

/// Both engines have the same number of steps (checked by a test, used by the store).
pub fn postgres_version() -> usize {
    POSTGRES.len()
}

fn newer(current: usize) -> String {
    format!("database schema version {current} is newer than this sidecar ({VERSION})")
}

/// Applies every migration newer than the database's `user_version`, each in its own
/// transaction. Running it again is a no-op. A database newer than this binary is refused.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<usize> {
    let current: usize =
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    if current > VERSION {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
            Some(newer(current)),
        ));
    }
    let mut applied = 0;
    for (index, sql) in SQLITE.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (index + 1) as i64)?;
        tx.commit()?;
        applied += 1;
    }
    Ok(applied)
}

/// Key of the advisory lock that serializes migrations across sidecars ("sessmigr").
const MIGRATION_LOCK: i64 = 0x7365_7373_6d69_6772;

/// Applies every PostgreSQL migration not yet recorded in `schema_migrations`, all in one
/// transaction under an advisory lock; how many were applied. A database newer than this
/// binary is refused.
pub fn migrate_postgres(client: &mut crate::store::pg_client::Client<'_>) -> Result<usize, String> {
    let mut tx = client.transaction().map_err(|e| e.to_string())?;
    // Before anything else, even the CREATE TABLE IF NOT EXISTS: two of those racing on an
    // empty database fail with a duplicate-key error on the catalog.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(|e| e.to_string())?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version integer PRIMARY KEY,
            applied timestamptz NOT NULL DEFAULT now()
        )",
    )
    .map_err(|e| e.to_string())?;
    let current: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .and_then(|row| row.try_get(0))
        .map_err(|e| e.to_string())?;
    let current = usize::try_from(current).unwrap_or(0);
    if current > POSTGRES.len() {
        return Err(newer(current));
    }
    let mut applied = 0;
    for (index, sql) in POSTGRES.iter().enumerate().skip(current) {
        tx.batch_execute(sql)
            .map_err(|e| format!("migration {}: {e}", index + 1))?;
        let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&version],
        )
        .map_err(|e| e.to_string())?;
        applied += 1;
    }
    tx.commit().map_err(|e| e.to_string())?;
    Ok(applied)
}
