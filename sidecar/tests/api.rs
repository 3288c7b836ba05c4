// A test crate: failing loudly on unexpected errors is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! The sidecar over real HTTP on loopback: the shared suite, every case against a real
//! SQLite file and against a real PostgreSQL database (`both!` below), then what is
//! particular to each engine.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use session_core::identity::{ClaimValue, Identity};
use session_core::session::sync::session_json;
use session_core::session::{Session, SessionHash};
use session_sidecar::api::Api;
use session_sidecar::migrations;
use session_sidecar::server::{now_millis, Server};
use session_sidecar::store::{self, public_id, SqliteStore};
use support::pg;

const SYNC: &str = "sync-token";
const ADMIN: &str = "admin-token";

fn temp_db() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sidecar-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("sessions.sqlite")
}

#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// A new, empty database: a file path or a PostgreSQL URL.
    fn database(self) -> String {
        match self {
            Backend::Sqlite => temp_db().to_str().unwrap().to_string(),
            Backend::Postgres => pg::server().database(),
        }
    }
}

/// Every case in the list runs twice: `sqlite::case` and `postgres::case`.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(super::Backend::Sqlite) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(super::Backend::Postgres) } )*
        }
    };
}

struct Running {
    server: Option<Server>,
    db: String,
}

impl Running {
    fn start(b: Backend) -> Running {
        Running::on(b.database())
    }

    fn on(db: String) -> Running {
        Running::with(db, |_| {})
    }

    fn with(db: String, setup: impl FnOnce(&mut Api)) -> Running {
        let mut api = Api::new(store::open(&db, 4).unwrap(), SYNC.into(), ADMIN.into());
        setup(&mut api);
        let server = Server::start(Arc::new(api), "127.0.0.1:0", 4).unwrap();
        Running {
            server: Some(server),
            db,
        }
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, String) {
        let addr = self.server.as_ref().unwrap().addr;
        raw_call(
            addr,
            method,
            path,
            token,
            body.map(|b| b.to_string().into_bytes()).as_deref(),
        )
    }

    fn json(&self, method: &str, path: &str, token: &str, body: Option<&Value>) -> (u16, Value) {
        let (status, text) = self.call(method, path, Some(token), body);
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop();
        }
    }
}

fn raw_call(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let body = body.unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(stream, "{method} {path} HTTP/1.0\r\nHost: sidecar\r\nConnection: close\r\n{auth}Content-Length: {}\r\n\r\n", body.len()).unwrap();
    stream.write_all(body).unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn session(n: u8, sub: &str, email: &str) -> Session {
    let now = now_millis();
    Session {
        hash: SessionHash([n; 16]),
        created: now,
        idle_deadline: now + 3_600_000,
        max_deadline: now + 86_400_000,
        identity: Identity {
            sub: sub.into(),
            email: Some(email.into()),
            name: Some("N".into()),
            ..Default::default()
        },
        user_agent: None,
    }
}

fn sync(r: &Running, since: Option<u64>, upsert: &[&Session], end: &[&SessionHash]) -> Value {
    let body = json!({
        "since": since,
        "upsert": upsert.iter().map(|s| session_json(s)).collect::<Vec<_>>(),
        "end": end.iter().map(|h| h.hex()).collect::<Vec<_>>(),
    });
    let (status, answer) = r.json("POST", "/sync", SYNC, Some(&body));
    assert_eq!(status, 200, "{answer}");
    answer
}

fn healthz_needs_no_token_everything_else_does(b: Backend) {
    let r = Running::start(b);
    assert_eq!(r.call("GET", "/healthz", None, None), (200, "ok\n".into()));
    for (method, path, right) in [
        ("POST", "/sync", SYNC),
        (
            "GET",
            "/sync/sessions/00000000000000000000000000000000",
            SYNC,
        ),
        ("GET", "/admin/sessions", ADMIN),
        ("DELETE", "/admin/sessions/abc", ADMIN),
        ("DELETE", "/admin/users/x/sessions", ADMIN),
        ("GET", "/admin/users", ADMIN),
        ("GET", "/metrics", ADMIN),
    ] {
        let wrong = if right == SYNC { ADMIN } else { SYNC };
        for token in [None, Some("nope"), Some(wrong), Some("")] {
            let (status, body) = r.call(method, path, token, Some(&json!({})));
            assert_eq!(status, 401, "{method} {path} with {token:?}: {body}");
            assert!(body.contains("\"unauthorized\""));
        }
    }
}

fn sync_stores_sessions_and_users_idempotently(b: Backend) {
    let r = Running::start(b);
    let a = session(1, "auth0|alice", "alice@example.com");
    let answer = sync(&r, None, &[&a], &[]);
    assert_eq!(answer["ended"], json!([]));
    sync(&r, None, &[&a], &[]); // a retried batch
    let (_, users) = r.json("GET", "/admin/users", ADMIN, None);
    let users = users["users"].as_array().unwrap().clone();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["logins"], 1, "a retry is not a second login");
    assert_eq!(users[0]["live_sessions"], 1);

    // A later login of the same user updates the user (mo-auth's get_or_create_user).
    let mut b = session(2, "auth0|alice", "alice@new.example");
    b.created += 5_000;
    sync(&r, None, &[&b], &[]);
    let (_, users) = r.json("GET", "/admin/users", ADMIN, None);
    let u = &users["users"][0];
    assert_eq!(u["logins"], 2);
    assert_eq!(u["email"], "alice@new.example");
    assert_eq!(u["live_sessions"], 2);
    assert!(u["last_login"].as_str().unwrap() >= u["created"].as_str().unwrap());
}

fn deadlines_only_move_forward(b: Backend) {
    let r = Running::start(b);
    let mut a = session(1, "s", "e@x");
    sync(&r, None, &[&a], &[]);
    let later = a.idle_deadline + 60_000;
    a.idle_deadline = later;
    sync(&r, None, &[&a], &[]);
    a.idle_deadline = later - 30_000; // a stale batch arriving late
    sync(&r, None, &[&a], &[]);
    let (status, got) = r.json(
        "GET",
        &format!("/sync/sessions/{}", a.hash.hex()),
        SYNC,
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(got["idle_deadline"], later);
}

fn restore_finds_live_sessions_only(b: Backend) {
    let r = Running::start(b);
    let a = session(1, "auth0|alice", "alice@example.com");
    sync(&r, None, &[&a], &[]);
    let (status, got) = r.json(
        "GET",
        &format!("/sync/sessions/{}", a.hash.hex()),
        SYNC,
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(got, session_json(&a), "the original deadlines");
    assert_eq!(
        r.call(
            "GET",
            "/sync/sessions/ffffffffffffffffffffffffffffffff",
            Some(SYNC),
            None
        )
        .0,
        404
    );
    assert_eq!(
        r.call("GET", "/sync/sessions/not-hex", Some(SYNC), None).0,
        404
    );
    let mut expired = session(3, "s", "e@x");
    expired.idle_deadline = now_millis() - 1;
    sync(&r, None, &[&expired], &[]);
    assert_eq!(
        r.call(
            "GET",
            &format!("/sync/sessions/{}", expired.hash.hex()),
            Some(SYNC),
            None
        )
        .0,
        404
    );
    sync(&r, None, &[], &[&a.hash]);
    assert_eq!(
        r.call(
            "GET",
            &format!("/sync/sessions/{}", a.hash.hex()),
            Some(SYNC),
            None
        )
        .0,
        404,
        "ended"
    );
}

fn admin_revocation_reaches_filters_and_is_never_undone(b: Backend) {
    let r = Running::start(b);
    let a = session(1, "auth0|alice", "a@x");
    let b = session(2, "auth0|bob", "b@x");
    let first = sync(&r, Some(0), &[&a, &b], &[]);
    let cursor = first["cursor"].as_u64().unwrap();
    let (_, listed) = r.json("GET", "/admin/sessions", ADMIN, None);
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 2);
    let id = public_id(&a.hash.hex());
    let (_, mine) = r.json("GET", "/admin/sessions?user=auth0%7Calice", ADMIN, None);
    assert_eq!(mine["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(mine["sessions"][0]["id"], id);
    assert!(
        !mine.to_string().contains(&a.hash.hex()),
        "the lookup hash is not shown"
    );

    assert_eq!(
        r.json("DELETE", &format!("/admin/sessions/{id}"), ADMIN, None),
        (200, json!({"ended": 1}))
    );
    assert_eq!(
        r.call(
            "DELETE",
            &format!("/admin/sessions/{id}"),
            Some(ADMIN),
            None
        )
        .0,
        404,
        "once"
    );
    assert_eq!(
        r.call("DELETE", "/admin/sessions/unknown", Some(ADMIN), None)
            .0,
        404
    );

    let polled = sync(&r, Some(cursor), &[], &[]);
    assert_eq!(polled["ended"], json!([a.hash.hex()]));
    assert!(polled["cursor"].as_u64().unwrap() > cursor);
    let again = sync(&r, polled["cursor"].as_u64(), &[], &[]);
    assert_eq!(again["ended"], json!([]), "each revocation once");

    // A filter still pushing a slid deadline for the revoked session does not revive it.
    let pushed = sync(&r, None, &[&a], &[]);
    assert_eq!(pushed["ended"], json!([a.hash.hex()]));
    assert_eq!(
        r.call(
            "GET",
            &format!("/sync/sessions/{}", a.hash.hex()),
            Some(SYNC),
            None
        )
        .0,
        404
    );
}

/// Issue 11 item 4: an end that reaches the sidecar before the session's own upsert (the
/// login's write-through failed; the logout's got through first) must not be undone by that
/// upsert arriving later; and an ended session is never handed back to a filter.
fn an_end_before_the_login_is_never_undone(b: Backend) {
    let r = Running::start(b);
    let a = session(7, "auth0|alice", "a@x");
    sync(&r, None, &[], &[&a.hash]);
    let late = sync(&r, None, &[&a], &[]);
    assert_eq!(late["ended"], json!([a.hash.hex()]), "told it has ended");
    let path = format!("/sync/sessions/{}", a.hash.hex());
    assert_eq!(r.call("GET", &path, Some(SYNC), None).0, 404);
    let (_, listed) = r.json("GET", "/admin/sessions", ADMIN, None);
    assert_eq!(listed["sessions"], json!([]));
    let (_, users) = r.json("GET", "/admin/users", ADMIN, None);
    assert_eq!(
        users["users"],
        json!([]),
        "no user made from the placeholder"
    );
    // Ended and pushed again in one batch, either order within it: still ended.
    let b = session(8, "auth0|bob", "b@x");
    sync(&r, None, &[&b], &[]);
    sync(&r, None, &[&b], &[&b.hash]);
    sync(&r, None, &[&b], &[]);
    let path = format!("/sync/sessions/{}", b.hash.hex());
    assert_eq!(r.call("GET", &path, Some(SYNC), None).0, 404);
}

fn log_out_everywhere_ends_one_users_sessions_only(b: Backend) {
    let r = Running::start(b);
    let a1 = session(1, "auth0|alice", "a@x");
    let a2 = session(2, "auth0|alice", "a@x");
    let b = session(3, "auth0|bob", "b@x");
    sync(&r, None, &[&a1, &a2, &b], &[]);
    assert_eq!(
        r.json("DELETE", "/admin/users/auth0%7Calice/sessions", ADMIN, None),
        (200, json!({"ended": 2}))
    );
    assert_eq!(
        r.json("DELETE", "/admin/users/auth0%7Calice/sessions", ADMIN, None),
        (200, json!({"ended": 0}))
    );
    let (_, left) = r.json("GET", "/admin/sessions", ADMIN, None);
    let subs: Vec<&str> = left["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sub"].as_str().unwrap())
        .collect();
    assert_eq!(subs, ["auth0|bob"]);
}

fn bad_requests_are_refused_clearly(b: Backend) {
    let r = Running::start(b);
    for body in [
        json!("x"),
        json!({"upsert": [{"hash": "zz"}]}),
        json!({"end": [5]}),
        json!({"since": "7"}),
        json!({"upsert": 3}),
    ] {
        let (status, answer) = r.json("POST", "/sync", SYNC, Some(&body));
        assert_eq!(status, 400, "{body}");
        assert_eq!(answer["error"], "bad_request");
    }
    let addr = r.server.as_ref().unwrap().addr;
    assert_eq!(
        raw_call(addr, "POST", "/sync", Some(SYNC), Some(b"{not json")).0,
        400
    );
    // Too large a body is refused on its Content-Length, before any of it is read.
    let mut huge = TcpStream::connect(addr).unwrap();
    write!(
        huge,
        "POST /sync HTTP/1.1\r\nAuthorization: Bearer {SYNC}\r\nContent-Length: {}\r\n\r\n",
        5 * 1024 * 1024
    )
    .unwrap();
    let mut answer = String::new();
    huge.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(r.call("GET", "/sync", Some(SYNC), None).0, 405);
    assert_eq!(r.call("POST", "/admin/users", Some(ADMIN), None).0, 405);
    assert_eq!(r.call("GET", "/nowhere", Some(ADMIN), None).0, 404);
}

fn metrics_in_prometheus_text(b: Backend) {
    let r = Running::start(b);
    let a = session(1, "s", "e@x");
    sync(&r, None, &[&a], &[]);
    r.call(
        "DELETE",
        &format!("/admin/sessions/{}", public_id(&a.hash.hex())),
        Some(ADMIN),
        None,
    );
    r.call("POST", "/sync", Some(SYNC), Some(&json!("bad")));
    let (status, text) = r.call("GET", "/metrics", Some(ADMIN), None);
    assert_eq!(status, 200);
    for line in [
        "# TYPE session_sidecar_sessions_live gauge",
        "session_sidecar_sessions_live 0",
        "session_sidecar_logins_total 1",
        "session_sidecar_revocations_total 1",
        "session_sidecar_sync_batches_total 1",
        "session_sidecar_sync_errors_total 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

fn concurrent_writers_lose_nothing(b: Backend) {
    let r = Arc::new(Running::start(b));
    let threads: Vec<_> = (0..8u8)
        .map(|t| {
            let r = Arc::clone(&r);
            std::thread::spawn(move || {
                for i in 0..25u8 {
                    let mut s = session(0, &format!("user{t}"), "e@x");
                    s.hash.0[0] = t;
                    s.hash.0[1] = i;
                    sync(&r, Some(0), &[&s], &[]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let (status, listed) = r.json("GET", "/admin/sessions", ADMIN, None);
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 200);
    let (_, users) = r.json("GET", "/admin/users", ADMIN, None);
    assert!(users["users"]
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["logins"] == 25));
}

#[test]
fn the_database_is_wal_versioned_and_durable_across_restarts() {
    let db = temp_db().to_str().unwrap().to_string();
    let a = session(1, "s", "e@x");
    {
        let r = Running::on(db.clone());
        sync(&r, None, &[&a], &[]);
    }
    let store = SqliteStore::open(&db).unwrap();
    assert_eq!(store.journal_mode().unwrap(), "wal");
    drop(store);
    let r = Running::on(db.clone());
    assert_eq!(
        r.call(
            "GET",
            &format!("/sync/sessions/{}", a.hash.hex()),
            Some(SYNC),
            None
        )
        .0,
        200
    );
    drop(r);

    let mut conn = rusqlite::Connection::open(&db).unwrap();
    assert_eq!(
        migrations::migrate(&mut conn).unwrap(),
        0,
        "applying migrations again is a no-op"
    );
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version as usize, migrations::VERSION);
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('sessions')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        !columns
            .iter()
            .any(|c| c.contains("secret") || c.contains("token")),
        "{columns:?}"
    );
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = SqliteStore::open(&db).err().unwrap().to_string();
    assert!(err.contains("newer than this sidecar"), "{err}");
}

#[test]
fn a_fresh_database_gets_every_migration() {
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    assert_eq!(migrations::migrate(&mut conn).unwrap(), migrations::VERSION);
    assert_eq!(migrations::migrate(&mut conn).unwrap(), 0);
}

fn cli(db: &str, args: &[&str]) -> (i32, Value) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_session-sidecar"))
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
    )
}

fn the_cli_does_what_the_admin_api_does(b: Backend) {
    let r = Running::start(b);
    let a = session(1, "auth0|alice", "a@x");
    let b = session(2, "auth0|bob", "b@x");
    let c = session(3, "auth0|bob", "b@x");
    sync(&r, Some(0), &[&a, &b, &c], &[]);
    let (code, listed) = cli(&r.db, &["sessions", "list"]);
    assert_eq!(code, 0);
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 3);
    let (_, bobs) = cli(&r.db, &["sessions", "list", "--user", "auth0|bob"]);
    assert_eq!(bobs["sessions"].as_array().unwrap().len(), 2);
    let (_, users) = cli(&r.db, &["users", "list"]);
    assert_eq!(users["users"].as_array().unwrap().len(), 2);
    let id = public_id(&a.hash.hex());
    assert_eq!(
        cli(&r.db, &["sessions", "end", &id]),
        (0, json!({"ended": 1}))
    );
    assert_eq!(
        cli(&r.db, &["sessions", "end", &id]),
        (1, json!({"ended": 0}))
    );
    assert_eq!(
        cli(&r.db, &["users", "end-sessions", "auth0|bob"]),
        (0, json!({"ended": 2}))
    );
    // The running server's filters hear of the CLI's revocations.
    let polled = sync(&r, Some(0), &[], &[]);
    assert_eq!(polled["ended"].as_array().unwrap().len(), 3);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_session-sidecar"))
        .args(["--db", ":memory:", "bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage:"));
}

#[test]
fn serving_without_tokens_is_refused() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_session-sidecar"))
        .args(["--db", ":memory:", "--listen", "127.0.0.1:0"])
        .env_remove("SIDECAR_TOKEN")
        .env_remove("SIDECAR_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SIDECAR_TOKEN is not set"));
}

/// The sync token is held by every proxy: whoever holds it must not be able to store a
/// session that outlives `max_lifetime`, however it sets `created` and the deadlines.
fn sync_cannot_outlive_max_lifetime(b: Backend) {
    let day = 86_400_000;
    let r = Running::with(b.database(), |api| api.max_lifetime = 2 * day);
    let now = now_millis();
    let mut forged = session(1, "auth0|mallory", "m@x");
    forged.created = now + 3_650 * day;
    forged.idle_deadline = now + 3_650 * day;
    forged.max_deadline = now + 3_650 * day;
    sync(&r, None, &[&forged], &[]);
    let (status, got) = r.json(
        "GET",
        &format!("/sync/sessions/{}", forged.hash.hex()),
        SYNC,
        None,
    );
    assert_eq!(status, 200, "{got}");
    let max = got["max_deadline"].as_u64().unwrap();
    let idle = got["idle_deadline"].as_u64().unwrap();
    let created = got["created"].as_u64().unwrap();
    assert!(
        created <= now_millis() + 60_000,
        "created moved back to now: {got}"
    );
    assert!(max <= created + 2 * day, "max_deadline clamped: {got}");
    assert!(idle <= max, "{got}");

    // Sliding an existing session cannot push it past its absolute deadline either.
    let mut honest = session(2, "auth0|alice", "a@x");
    honest.max_deadline = honest.created + day;
    honest.idle_deadline = honest.created + 3_600_000;
    sync(&r, None, &[&honest], &[]);
    honest.idle_deadline = honest.created + 3_650 * day;
    sync(&r, None, &[&honest], &[]);
    let (_, got) = r.json(
        "GET",
        &format!("/sync/sessions/{}", honest.hash.hex()),
        SYNC,
        None,
    );
    assert_eq!(got["idle_deadline"], honest.max_deadline, "{got}");
}

/// An ended session's row outlives the 24 h prune for as long as a copy of it could be
/// live anywhere, so a sync (a stale filter, or whoever holds the sync token) cannot
/// bring it back.
fn ended_sessions_are_not_revived_after_a_prune(b: Backend) {
    let day = 86_400_000;
    let db = b.database();
    let api = Api::new(store::open(&db, 2).unwrap(), SYNC.into(), ADMIN.into());
    let now = now_millis();
    let mut a = session(1, "auth0|alice", "a@x");
    a.max_deadline = now + 30 * day;
    let upsert = |a: &Session| store::SyncRequest {
        since: None,
        upsert: vec![a.clone()],
        end: vec![],
    };
    api.store.sync(&upsert(&a), now).unwrap();
    let end = store::SyncRequest {
        since: None,
        upsert: vec![],
        end: vec![a.hash],
    };
    api.store.sync(&end, now).unwrap();
    let later = now + 2 * day;
    api.store.prune(later, api.keep_ended()).unwrap();
    a.idle_deadline = later + 3_600_000;
    let answer = api.store.sync(&upsert(&a), later).unwrap();
    assert_eq!(answer.ended, vec![a.hash.hex()], "refused as ended");
    assert_eq!(answer.new_sessions, 0);
    assert!(api.store.session(&a.hash, later).unwrap().is_none());

    // Once max_lifetime has passed, no copy can be live anywhere: the row may go.
    let much_later = now + 31 * day;
    assert!(api.store.prune(much_later, api.keep_ended()).unwrap() >= 1);
}

fn permissions_roles_sid_and_user_agent_survive_a_restore(b: Backend) {
    let r = Running::start(b);
    let mut a = session(1, "auth0|alice", "alice@example.com");
    a.identity.sid = Some("auth0-sid-1".into());
    a.identity.permissions = vec!["read:data".into(), "write:data".into()];
    a.identity.roles = vec!["admin".into()];
    // What identity APIs add at login (migration 4).
    a.identity.groups = vec!["ldap_admins".into(), "nda".into()];
    a.identity.email_verified = Some(true);
    a.identity.claims = vec![
        ("staff".into(), ClaimValue::Flag(true)),
        ("title".into(), ClaimValue::Text("Engineer".into())),
    ];
    a.user_agent = Some("Firefox on Linux".into());
    // A session without them stores none (NULL, not false).
    let plain = session(2, "auth0|bob", "bob@example.com");
    sync(&r, None, &[&a, &plain], &[]);
    let (status, got) = r.json(
        "GET",
        &format!("/sync/sessions/{}", plain.hash.hex()),
        SYNC,
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(got, session_json(&plain));
    let (status, got) = r.json(
        "GET",
        &format!("/sync/sessions/{}", a.hash.hex()),
        SYNC,
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(got, session_json(&a));
}

fn a_filter_asks_for_its_callers_own_sessions_with_the_sync_token_only(b: Backend) {
    let r = Running::start(b);
    let a1 = session(1, "auth0|alice", "alice@example.com");
    let mut a2 = session(2, "auth0|alice", "alice@example.com");
    a2.user_agent = Some("curl 8.5.0".into());
    let b = session(3, "auth0|bob", "bob@example.com");
    sync(&r, None, &[&a1, &a2, &b], &[]);
    let own = format!("/sync/own/{}", a2.hash.hex());
    assert_eq!(r.call("GET", &own, Some(ADMIN), None).0, 401);
    assert_eq!(r.call("GET", &own, None, None).0, 401);
    let (status, list) = r.json("GET", &own, SYNC, None);
    assert_eq!(status, 200, "{list}");
    let list = list["sessions"].as_array().unwrap();
    assert_eq!(list.len(), 2, "only alice's");
    let mine = list.iter().find(|s| s["current"] == true).unwrap();
    assert_eq!(mine["id"], public_id(&a2.hash.hex()));
    assert_eq!(mine["user_agent"], "curl 8.5.0");
    assert_eq!(mine["idle_deadline"], a2.idle_deadline);

    // Bob's id through alice's session: nothing ended.
    let bobs = format!("{own}/{}", public_id(&b.hash.hex()));
    assert_eq!(
        r.json("DELETE", &bobs, SYNC, None),
        (200, json!({"ended": []}))
    );
    let (status, ended) = r.json("POST", &format!("{own}/logout-others"), SYNC, None);
    assert_eq!((status, ended), (200, json!({"ended": [a1.hash.hex()]})));
    // Every filter hears of it at its next sync.
    let answer = sync(&r, Some(0), &[], &[]);
    assert_eq!(answer["ended"], json!([a1.hash.hex()]));

    let gone = format!("/sync/own/{}", a1.hash.hex());
    let (status, err) = r.json("GET", &gone, SYNC, None);
    assert_eq!((status, err["error"].as_str()), (404, Some("no_session")));
    assert_eq!(r.json("GET", "/sync/own/zz", SYNC, None).0, 404);
    assert_eq!(r.call("PUT", &own, Some(SYNC), None).0, 405);
}

both!(
    healthz_needs_no_token_everything_else_does,
    sync_stores_sessions_and_users_idempotently,
    deadlines_only_move_forward,
    restore_finds_live_sessions_only,
    admin_revocation_reaches_filters_and_is_never_undone,
    log_out_everywhere_ends_one_users_sessions_only,
    bad_requests_are_refused_clearly,
    metrics_in_prometheus_text,
    concurrent_writers_lose_nothing,
    the_cli_does_what_the_admin_api_does,
    sync_cannot_outlive_max_lifetime,
    ended_sessions_are_not_revived_after_a_prune,
    an_end_before_the_login_is_never_undone,
    a_filter_asks_for_its_callers_own_sessions_with_the_sync_token_only,
    permissions_roles_sid_and_user_agent_survive_a_restore,
);

#[test]
fn serving_with_the_sync_token_as_admin_token_is_refused() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_session-sidecar"))
        .args(["--db", ":memory:", "--listen", "127.0.0.1:0"])
        .env("SIDECAR_TOKEN", "same-token")
        .env("SIDECAR_ADMIN_TOKEN", "same-token")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("are the same"), "{err}");
}

#[test]
fn bad_durations_and_pool_sizes_are_refused_clearly() {
    for (args, says) in [
        (&["--max-lifetime", "5 parsecs"][..], "--max-lifetime"),
        (&["--max-lifetime", "0"][..], "--max-lifetime"),
        (&["--db-pool", "0"][..], "--db-pool"),
        (&["--db-pool", "many"][..], "--db-pool"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_session-sidecar"))
            .args(["--db", ":memory:"])
            .args(args)
            .args(["users", "list"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(says),
            "{args:?}"
        );
    }
}

/// The schema of the first release, verbatim: a database it wrote must upgrade in place.
const SCHEMA_V1: &str = "CREATE TABLE users (sub TEXT PRIMARY KEY, email TEXT, name TEXT,
        created INTEGER NOT NULL, last_login INTEGER NOT NULL, logins INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE sessions (hash TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE, sub TEXT NOT NULL,
        email TEXT, name TEXT, created INTEGER NOT NULL, idle_deadline INTEGER NOT NULL,
        max_deadline INTEGER NOT NULL, ended INTEGER);
    CREATE INDEX sessions_by_sub ON sessions(sub);
    CREATE TABLE revocations (seq INTEGER PRIMARY KEY AUTOINCREMENT, hash TEXT NOT NULL,
        max_deadline INTEGER NOT NULL);
    PRAGMA user_version = 1;";

#[test]
fn a_first_release_database_upgrades_and_keeps_its_sessions() {
    let db = temp_db();
    let a = session(1, "auth0|alice", "alice@example.com");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(SCHEMA_V1).unwrap();
        conn.execute(
            "INSERT INTO sessions (hash, id, sub, email, name, created, idle_deadline, max_deadline)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            rusqlite::params![
                a.hash.hex(),
                public_id(&a.hash.hex()),
                a.identity.sub,
                a.identity.email,
                a.identity.name,
                a.created as i64,
                a.idle_deadline as i64,
                a.max_deadline as i64
            ],
        )
        .unwrap();
    }
    let r = Running::on(db.to_str().unwrap().to_string());
    let (status, got) = r.json(
        "GET",
        &format!("/sync/sessions/{}", a.hash.hex()),
        SYNC,
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(
        got,
        session_json(&a),
        "no permissions, roles or sid: none granted"
    );
}

fn short_timeout_server() -> (Server, SocketAddr) {
    let api = Api::new(
        Box::new(SqliteStore::open(temp_db().to_str().unwrap()).unwrap()),
        SYNC.into(),
        ADMIN.into(),
    );
    let server =
        Server::start_with_timeout(Arc::new(api), "127.0.0.1:0", 2, Duration::from_millis(800))
            .unwrap();
    let addr = server.addr;
    (server, addr)
}

/// What the server sends before closing, read until EOF (bounded by a generous deadline).
fn read_until_closed(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Issue 11 item 8: the sidecar read up to 4 MiB before checking the token.
#[test]
fn a_wrong_token_is_refused_before_any_body_is_read() {
    let (server, addr) = short_timeout_server();
    for (path, token) in [("/sync", "wrong"), ("/admin/users", SYNC), ("/metrics", "")] {
        let mut stream = TcpStream::connect(addr).unwrap();
        // Announces a large body and sends none of it: only the headers can be answered.
        write!(stream, "POST {path} HTTP/1.1\r\nHost: s\r\nAuthorization: Bearer {token}\r\nContent-Length: 4000000\r\n\r\n").unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut first = [0u8; 12];
        stream.read_exact(&mut first).unwrap();
        assert_eq!(
            &first, b"HTTP/1.1 401",
            "{path}: answered before the body and the timeout"
        );
    }
    server.stop();
}

/// Issue 11 item 8: a connection that sends nothing, or drips its request, held a thread for
/// ever.
#[test]
fn idle_and_slow_connections_are_dropped() {
    let (server, addr) = short_timeout_server();
    // Idle: closed without an answer once the request timeout passes.
    let mut idle = TcpStream::connect(addr).unwrap();
    assert_eq!(read_until_closed(&mut idle), "");
    // Headers dripped a byte at a time, slower than the deadline allows.
    let mut slow = TcpStream::connect(addr).unwrap();
    let request = format!("POST /sync HTTP/1.1\r\nAuthorization: Bearer {SYNC}\r\n");
    let mut closed = false;
    for b in request.bytes() {
        if slow.write_all(&[b]).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        closed,
        "dropped once the deadline passed, long before the drip ended"
    );
    // A body that never comes in full: 408, then closed.
    let mut body = TcpStream::connect(addr).unwrap();
    write!(body, "POST /sync HTTP/1.1\r\nAuthorization: Bearer {SYNC}\r\nContent-Length: 100\r\n\r\n{{\"since\"").unwrap();
    let answer = read_until_closed(&mut body);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // Meanwhile, and afterwards, the server answers others: two workers were not held.
    let (status, _) = raw_call(addr, "GET", "/healthz", None, None);
    assert_eq!(status, 200);
    server.stop();
}

#[test]
fn one_request_per_connection_and_a_bounded_head() {
    let (server, addr) = short_timeout_server();
    // An idle keep-alive connection would hold a worker: the answer closes it.
    for _ in 0..6 {
        let mut stream = TcpStream::connect(addr).unwrap();
        write!(stream, "GET /healthz HTTP/1.1\r\nHost: s\r\n\r\n").unwrap();
        let answer = read_until_closed(&mut stream);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("\r\nconnection: close\r\n")
                && answer.ends_with("ok\n"),
            "{answer}"
        );
    }
    let mut big = TcpStream::connect(addr).unwrap();
    // The server answers once 16 KiB have come, and may close before the rest is written.
    let _ = write!(
        big,
        "GET /healthz HTTP/1.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    assert!(read_until_closed(&mut big).starts_with("HTTP/1.1 431"));
    server.stop();
}

// --- PostgreSQL: what only a shared server can show --------------------------------------

/// Two sidecars on one database are interchangeable: a login written through one is
/// restored by the other, and a revocation made on either reaches a filter polling the
/// other, with one cursor for both.
#[test]
fn two_sidecars_on_one_database_share_sessions_and_the_cursor() {
    let db = pg::server().database();
    let one = Running::on(db.clone());
    let two = Running::on(db.clone());
    let a = session(1, "auth0|alice", "a@x");
    let b = session(2, "auth0|alice", "a@x");
    let start = sync(&one, Some(0), &[&a, &b], &[]);
    let cursor = start["cursor"].as_u64().unwrap();
    assert_eq!(
        sync(&two, Some(0), &[], &[])["cursor"],
        cursor,
        "one cursor"
    );
    let (status, got) = two.json(
        "GET",
        &format!("/sync/sessions/{}", a.hash.hex()),
        SYNC,
        None,
    );
    assert_eq!((status, got), (200, session_json(&a)));

    let id = public_id(&a.hash.hex());
    assert_eq!(
        one.json("DELETE", &format!("/admin/sessions/{id}"), ADMIN, None)
            .0,
        200
    );
    let polled = sync(&two, Some(cursor), &[], &[]);
    assert_eq!(polled["ended"], json!([a.hash.hex()]));
    let cursor = polled["cursor"].as_u64().unwrap();
    // A logout written through the second sidecar reaches a filter on the first.
    sync(&two, None, &[], &[&b.hash]);
    let polled = sync(&one, Some(cursor), &[], &[]);
    assert_eq!(polled["ended"], json!([b.hash.hex()]));
    assert_eq!(cli(&db, &["sessions", "list"]).1["sessions"], json!([]));
}

/// Revocations committed concurrently through many connections: a filter polling with
/// its cursor meanwhile sees every one of them (numbers handed out in one order but
/// committed in another would make it skip some).
#[test]
fn a_polling_filter_never_skips_a_revocation() {
    let db = pg::server().database();
    let r = Arc::new(Running::on(db));
    let sessions: Vec<Session> = (0..200u8)
        .map(|i| {
            let mut s = session(0, &format!("user{}", i % 7), "e@x");
            s.hash.0[0] = i;
            s.hash.0[15] = 0xaa;
            s
        })
        .collect();
    sync(&r, Some(0), &sessions.iter().collect::<Vec<_>>(), &[]);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (r, done) = (Arc::clone(&r), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut cursor = 0;
            let mut seen = std::collections::HashSet::new();
            loop {
                let finished = done.load(Ordering::SeqCst);
                let answer = sync(&r, Some(cursor), &[], &[]);
                cursor = answer["cursor"].as_u64().unwrap();
                for h in answer["ended"].as_array().unwrap() {
                    seen.insert(h.as_str().unwrap().to_string());
                }
                if finished {
                    return seen;
                }
            }
        })
    };
    let enders: Vec<_> = sessions
        .chunks(25)
        .map(|chunk| {
            let (r, chunk) = (Arc::clone(&r), chunk.to_vec());
            std::thread::spawn(move || {
                for s in &chunk {
                    sync(&r, None, &[], &[&s.hash]);
                }
            })
        })
        .collect();
    for t in enders {
        t.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let seen = poller.join().unwrap();
    let missing: Vec<_> = sessions
        .iter()
        .map(|s| s.hash.hex())
        .filter(|h| !seen.contains(h))
        .collect();
    assert!(missing.is_empty(), "skipped revocations: {missing:?}");
}

/// Sidecars starting at once on an empty database: every one migrates or finds the work
/// done; the schema is there once.
#[test]
fn sidecars_starting_at_once_migrate_once() {
    let db = pg::server().database();
    let starts: Vec<_> = (0..6)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || store::open(&db, 1).map(|_| ()).map_err(|e| e.0))
        })
        .collect();
    for t in starts {
        assert_eq!(t.join().unwrap(), Ok(()));
    }
    let mut c = ::postgres::Client::connect(&db, ::postgres::NoTls).unwrap();
    let versions: Vec<i32> = c
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let expected: Vec<i32> = (1..=migrations::VERSION as i32).collect();
    assert_eq!(versions, expected);
    // Newer than this binary: refused, naming why.
    c.execute("INSERT INTO schema_migrations (version) VALUES (99)", &[])
        .unwrap();
    let err = store::open(&db, 1).err().unwrap().0;
    assert!(err.contains("newer than this sidecar"), "{err}");
}

/// The two engines' migration lists give the same tables and columns.
#[test]
fn both_engines_have_the_same_schema() {
    assert_eq!(migrations::postgres_version(), migrations::VERSION);
    let sqlite_db = temp_db();
    drop(SqliteStore::open(sqlite_db.to_str().unwrap()).unwrap());
    let conn = rusqlite::Connection::open(&sqlite_db).unwrap();
    let mut lite: Vec<(String, String)> = conn
        .prepare(
            "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let db = pg::server().database();
    drop(store::open(&db, 1).unwrap());
    let mut c = ::postgres::Client::connect(&db, ::postgres::NoTls).unwrap();
    let mut pgs: Vec<(String, String)> = c
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns
             WHERE table_schema = 'public'
               AND table_name NOT IN ('schema_migrations', 'revocation_sequence')",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    lite.sort();
    pgs.sort();
    assert_eq!(lite, pgs);
}

/// The pool is bounded: a burst of concurrent requests uses at most `--db-pool`
/// connections (seen by the server itself), and they are reused.
#[test]
fn a_burst_uses_at_most_the_pool_size() {
    let db = pg::server().database();
    let name = db.rsplit('/').next().unwrap().to_string();
    let r = Arc::new(Running::on(db.clone()));
    let threads: Vec<_> = (0..12u8)
        .map(|t| {
            let r = Arc::clone(&r);
            std::thread::spawn(move || {
                for i in 0..10u8 {
                    let mut s = session(0, "u", "e@x");
                    s.hash.0[0] = t;
                    s.hash.0[1] = i;
                    sync(&r, Some(0), &[&s], &[]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut c = ::postgres::Client::connect(&db, ::postgres::NoTls).unwrap();
    let used: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = $1 AND application_name = 'session-sidecar'",
            &[&name],
        )
        .unwrap()
        .get(0);
    assert!((1..=4).contains(&used), "{used} connections");
    let (_, text) = r.call("GET", "/metrics", Some(ADMIN), None);
    assert!(
        text.lines()
            .any(|l| l == format!("session_sidecar_db_connections {used}")),
        "{text}"
    );
}

/// A database that cannot be reached or refuses the password: a clear error, fast, and
/// the password never printed.
#[test]
fn an_unreachable_or_refusing_database_is_named_without_its_password() {
    let server = pg::server();
    let wrong = format!(
        "postgres://postgres:wrong-secret@127.0.0.1:{}/postgres",
        server.port
    );
    let closed = format!(
        "postgresql://postgres:wrong-secret@127.0.0.1:{}/postgres",
        pg::free_port()
    );
    for db in [wrong, closed] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_session-sidecar"))
            .args(["--db", &db, "users", "list"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("cannot open postgres"), "{err}");
        assert!(!err.contains("wrong-secret"), "{err}");
    }
}
