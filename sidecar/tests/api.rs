// A test crate: failing loudly on unexpected errors is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! The sidecar over real HTTP on loopback, against a real SQLite file.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use session_core::session::{Session, SessionHash};
use session_core::sync::session_json;
use session_core::token::Identity;
use session_sidecar::api::{Api, Counters};
use session_sidecar::migrations;
use session_sidecar::server::{now_millis, Server};
use session_sidecar::store::{public_id, SqliteStore};

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

struct Running {
    server: Option<Server>,
    db: PathBuf,
}

impl Running {
    fn start() -> Running {
        Running::on(temp_db())
    }

    fn on(db: PathBuf) -> Running {
        let api = Api {
            store: Box::new(SqliteStore::open(db.to_str().unwrap()).unwrap()),
            sync_token: SYNC.into(),
            admin_token: ADMIN.into(),
            counters: Counters::default(),
            backchannel: None,
        };
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

#[test]
fn healthz_needs_no_token_everything_else_does() {
    let r = Running::start();
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

#[test]
fn sync_stores_sessions_and_users_idempotently() {
    let r = Running::start();
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

#[test]
fn deadlines_only_move_forward() {
    let r = Running::start();
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

#[test]
fn restore_finds_live_sessions_only() {
    let r = Running::start();
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

#[test]
fn admin_revocation_reaches_filters_and_is_never_undone() {
    let r = Running::start();
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
#[test]
fn an_end_before_the_login_is_never_undone() {
    let r = Running::start();
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

#[test]
fn log_out_everywhere_ends_one_users_sessions_only() {
    let r = Running::start();
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

#[test]
fn bad_requests_are_refused_clearly() {
    let r = Running::start();
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
    let huge = vec![b' '; 5 * 1024 * 1024];
    assert_eq!(
        raw_call(addr, "POST", "/sync", Some(SYNC), Some(&huge)).0,
        413
    );
    assert_eq!(r.call("GET", "/sync", Some(SYNC), None).0, 405);
    assert_eq!(r.call("POST", "/admin/users", Some(ADMIN), None).0, 405);
    assert_eq!(r.call("GET", "/nowhere", Some(ADMIN), None).0, 404);
}

#[test]
fn metrics_in_prometheus_text() {
    let r = Running::start();
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

#[test]
fn concurrent_writers_lose_nothing() {
    let r = Arc::new(Running::start());
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
    let db = temp_db();
    let a = session(1, "s", "e@x");
    {
        let r = Running::on(db.clone());
        sync(&r, None, &[&a], &[]);
    }
    let store = SqliteStore::open(db.to_str().unwrap()).unwrap();
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
    let err = SqliteStore::open(db.to_str().unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("newer than this sidecar"), "{err}");
}

#[test]
fn a_fresh_database_gets_every_migration() {
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    assert_eq!(migrations::migrate(&mut conn).unwrap(), migrations::VERSION);
    assert_eq!(migrations::migrate(&mut conn).unwrap(), 0);
}

fn cli(db: &PathBuf, args: &[&str]) -> (i32, Value) {
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

#[test]
fn the_cli_does_what_the_admin_api_does() {
    let r = Running::start();
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

#[test]
fn permissions_roles_sid_and_user_agent_survive_a_restore() {
    let r = Running::start();
    let mut a = session(1, "auth0|alice", "alice@example.com");
    a.identity.sid = Some("auth0-sid-1".into());
    a.identity.permissions = vec!["read:data".into(), "write:data".into()];
    a.identity.roles = vec!["admin".into()];
    a.user_agent = Some("Firefox on Linux".into());
    sync(&r, None, &[&a], &[]);
    let (status, got) = r.json(
        "GET",
        &format!("/sync/sessions/{}", a.hash.hex()),
        SYNC,
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(got, session_json(&a));
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
    let r = Running::on(db);
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

#[test]
fn a_filter_asks_for_its_callers_own_sessions_with_the_sync_token_only() {
    let r = Running::start();
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
