// A test crate: failing loudly on unexpected errors is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! The sidecar's HTTP stack on real sockets (issue 25): idle and slow connections on both
//! listeners starve nothing, the head limits are exact whether a head comes whole or in
//! pieces, a body over the limit is refused unread, and SIGTERM drains a request in flight
//! and commits it. Every wait is bounded; nothing asserts a duration.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use session_core::config::Config;
use session_core::identity::Identity;
use session_core::session::sync::session_json;
use session_core::session::{Session, SessionHash};
use session_sidecar::api::Api;
use session_sidecar::auth::{self, AuthService};
use session_sidecar::server::{self, now_millis, Server, MAX_HEAD_BYTES};
use session_sidecar::store::SqliteStore;

const SYNC: &str = "sync-token";
const ADMIN: &str = "admin-token";
/// Bound on any one wait for an answer: generous, so a loaded machine does not fail a test.
const WAIT: Duration = Duration::from_secs(20);

fn temp_db() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sidecar-http-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("sessions.sqlite")
}

/// The API and the auth service, each on its own loopback port.
fn both_listeners() -> Server {
    let api = Arc::new(Api::new(
        Box::new(SqliteStore::open(temp_db().to_str().unwrap()).unwrap()),
        SYNC.into(),
        ADMIN.into(),
    ));
    // No IdP answers on port 9: checks without a session need none.
    let config = Config::parse(
        br#"{"auth0": {"domain": "idp.test", "api": {"identifier": "https://api/"},
             "cluster": "auth0", "issuer": "http://127.0.0.1:9/"}}"#,
    )
    .unwrap();
    let service = Arc::new(AuthService::new(config, Arc::clone(&api)).unwrap());
    Server::serve(
        api,
        server::api_limits(16, server::REQUEST_TIMEOUT),
        "127.0.0.1:0",
        Some((service, "127.0.0.1:0")),
    )
    .unwrap()
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.set_write_timeout(Some(WAIT)).unwrap();
    stream
}

/// Everything the server sends until it closes (or the bounded wait ends).
fn read_all(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// One request on a connection of its own, `Connection: close`; the status and the body.
fn call(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let mut stream = connect(addr);
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let text = read_all(&mut stream);
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn healthz(addr: SocketAddr) -> u16 {
    call(
        addr,
        "GET /healthz HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n",
        b"",
    )
    .0
}

fn sync_call(addr: SocketAddr, n: u8) -> (u16, String) {
    let now = now_millis();
    let session = Session {
        hash: SessionHash([n; 16]),
        created: now,
        idle_deadline: now + 3_600_000,
        max_deadline: now + 86_400_000,
        identity: Identity {
            sub: format!("auth0|user{n}"),
            ..Default::default()
        },
        user_agent: None,
    };
    let body = json!({"since": 0, "upsert": [session_json(&session)]}).to_string();
    call(
        addr,
        &format!(
            "POST /sync HTTP/1.1\r\nHost: s\r\nAuthorization: Bearer {SYNC}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        ),
        body.as_bytes(),
    )
}

/// NGINX's `auth_request` subrequest for a request without a session: 401.
fn nginx_check(addr: SocketAddr) -> u16 {
    call(
        addr,
        "GET /_auth/nginx HTTP/1.1\r\nHost: app\r\nX-Original-Method: GET\r\nX-Original-URI: /app\r\nConnection: close\r\n\r\n",
        b"",
    )
    .0
}

/// Connections that send a head a byte at a time, for as long as `stop` is false; a
/// connection the server closes (its head deadline) is opened again, so that `n` drip at
/// all times.
fn slow_loris(addr: SocketAddr, n: usize, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let open = move || {
        let mut s = TcpStream::connect(addr).ok()?;
        s.set_nonblocking(true).ok()?;
        s.write_all(b"GET /healthz HTTP/1.1\r\nX-Slow: ").ok()?;
        Some(s)
    };
    let mut streams: Vec<Option<TcpStream>> = (0..n).map(|_| open()).collect();
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            for slot in &mut streams {
                let alive = slot.as_mut().is_some_and(|s| s.write(b"a").is_ok());
                if !alive {
                    *slot = open();
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
}

#[test]
fn idle_and_slow_connections_on_both_listeners_starve_nothing() {
    server::raise_fd_limit();
    let server = both_listeners();
    let (api, auth) = (server.addr, server.auth_addr.unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let mut idle = Vec::new();
    let mut drips = Vec::new();
    for addr in [api, auth] {
        // Open and silent: 500 on each listener, and 64 dripping their heads.
        for _ in 0..500 {
            idle.push(TcpStream::connect(addr).unwrap());
        }
        drips.push(slow_loris(addr, 64, Arc::clone(&stop)));
    }
    for round in 0..5u8 {
        assert_eq!(healthz(api), 200, "round {round}");
        let (status, body) = sync_call(api, round);
        assert_eq!(status, 200, "round {round}: {body}");
        assert_eq!(nginx_check(auth), 401, "round {round}");
    }
    // The idle connections were served no answer and refused nothing: still open.
    let mut byte = [0u8; 1];
    let first = &mut idle[0];
    first.set_nonblocking(true).unwrap();
    assert!(
        matches!(first.read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "an idle connection is neither answered nor closed within its head deadline"
    );
    stop.store(true, Ordering::SeqCst);
    for d in drips {
        d.join().unwrap();
    }
    drop(idle);
    server.stop();
}

/// A head of exactly `size` bytes: `GET {path}` with one padding header.
fn head_of_size(path: &str, size: usize) -> Vec<u8> {
    let start = format!("GET {path} HTTP/1.1\r\nHost: s\r\nX-Pad: ");
    let end = "\r\nConnection: close\r\n\r\n";
    let pad = size - start.len() - end.len();
    format!("{start}{}{end}", "a".repeat(pad)).into_bytes()
}

/// The status the server answers `head` with, sent in the given pieces (a short pause
/// between them, so that each arrives as a read of its own).
fn status_for(addr: SocketAddr, head: &[u8], pieces: &[usize]) -> String {
    let mut stream = connect(addr);
    let mut at = 0;
    for &len in pieces {
        let end = (at + len).min(head.len());
        // The server may answer 431 and close before the rest is written.
        if stream.write_all(&head[at..end]).is_err() {
            break;
        }
        at = end;
        std::thread::sleep(Duration::from_millis(30));
    }
    if at < head.len() {
        let _ = stream.write_all(&head[at..]);
    }
    read_all(&mut stream).chars().take(12).collect()
}

fn check_exact_limit(addr: SocketAddr, path: &str, limit: usize, accepted: &str) {
    for size in [limit - 1, limit] {
        let head = head_of_size(path, size);
        assert_eq!(head.len(), size);
        assert_eq!(status_for(addr, &head, &[size]), accepted, "{size} whole");
        let pieces = [size / 2, size / 4, 4096];
        assert_eq!(
            status_for(addr, &head, &pieces),
            accepted,
            "{size} in pieces"
        );
    }
    let over = head_of_size(path, limit + 1);
    assert_eq!(
        status_for(addr, &over, &[limit + 1]),
        "HTTP/1.1 431",
        "one byte over, whole"
    );
    for pieces in [
        vec![limit / 2, limit / 2 + 1],
        vec![4096; limit / 4096 + 1],
        // All but the last byte, then the last byte: refused when the limit is reached.
        vec![limit, 1],
    ] {
        assert_eq!(
            status_for(addr, &over, &pieces),
            "HTTP/1.1 431",
            "one byte over, in pieces {:?}",
            &pieces[..2]
        );
    }
}

#[test]
fn head_limits_are_exact_whole_or_in_pieces() {
    let server = both_listeners();
    // The API: 16 KiB.
    check_exact_limit(server.addr, "/healthz", MAX_HEAD_BYTES, "HTTP/1.1 200");
    // The auth service: 96 KiB (its readiness answer is 503 until the IdP's keys are in).
    check_exact_limit(
        server.auth_addr.unwrap(),
        "/_auth/ready",
        auth::MAX_HEAD_BYTES,
        "HTTP/1.1 503",
    );
    assert_eq!(auth::MAX_HEAD_BYTES, 98_304);
    server.stop();
}

/// Sends a head announcing a body larger than the listener reads and none of the body: the
/// answer comes from the head alone (a server waiting for the body would answer 408 once its
/// deadline passed, or nothing).
fn refused_unread(addr: SocketAddr, head: &str) -> String {
    let mut stream = connect(addr);
    stream.write_all(head.as_bytes()).unwrap();
    let mut first = [0u8; 12];
    stream.read_exact(&mut first).unwrap();
    String::from_utf8_lossy(&first).into_owned()
}

#[test]
fn bodies_over_the_limit_are_refused_unread() {
    let server = both_listeners();
    let api = refused_unread(
        server.addr,
        &format!(
            "POST /sync HTTP/1.1\r\nHost: s\r\nAuthorization: Bearer {SYNC}\r\nContent-Length: {}\r\n\r\n",
            4 * 1024 * 1024 + 1
        ),
    );
    assert_eq!(api, "HTTP/1.1 413");
    let backchannel = refused_unread(
        server.addr,
        "POST /backchannel-logout HTTP/1.1\r\nHost: s\r\nContent-Length: 16385\r\n\r\n",
    );
    assert_eq!(backchannel, "HTTP/1.1 413");
    let service = refused_unread(
        server.auth_addr.unwrap(),
        "POST /logout HTTP/1.1\r\nHost: s\r\nContent-Length: 16385\r\n\r\n",
    );
    assert_eq!(service, "HTTP/1.1 413");
    // At the limit, the body is read and the request served.
    let (status, _) = call(
        server.auth_addr.unwrap(),
        "POST /logout HTTP/1.1\r\nHost: s\r\nContent-Length: 16384\r\nConnection: close\r\n\r\n",
        &[b'x'; 16384],
    );
    assert_eq!(status, 200);
    server.stop();
}

#[test]
fn the_auth_service_keeps_connections_alive_and_the_api_does_not() {
    let server = both_listeners();
    let mut stream = connect(server.auth_addr.unwrap());
    for _ in 0..3 {
        stream
            .write_all(b"GET /_auth/nginx HTTP/1.1\r\nHost: app\r\nX-Original-Method: GET\r\nX-Original-URI: /app\r\n\r\n")
            .unwrap();
        let mut answer = [0u8; 12];
        stream.read_exact(&mut answer).unwrap();
        assert_eq!(&answer, b"HTTP/1.1 401");
        // The rest of this answer: its head (an empty body).
        let mut rest = Vec::new();
        let mut byte = [0u8; 1];
        while !rest.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).unwrap();
            rest.push(byte[0]);
        }
        assert!(String::from_utf8_lossy(&rest).contains("content-length: 0"));
    }
    let mut api = connect(server.addr);
    api.write_all(b"GET /healthz HTTP/1.1\r\nHost: s\r\n\r\n")
        .unwrap();
    let answer = read_all(&mut api);
    assert!(answer.contains("connection: close\r\n"), "{answer}");
    server.stop();
}

// --- SIGTERM: the binary itself ----------------------------------------------------------

struct Sidecar {
    child: Child,
    addr: SocketAddr,
    db: PathBuf,
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn run_sidecar() -> Sidecar {
    let db = temp_db();
    let addr = free_addr();
    let child = Command::new(env!("CARGO_BIN_EXE_session-sidecar"))
        .args(["--db", db.to_str().unwrap(), "--listen", &addr.to_string()])
        .env("SIDECAR_TOKEN", SYNC)
        .env("SIDECAR_ADMIN_TOKEN", ADMIN)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "the sidecar did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Sidecar { child, addr, db }
}

fn wait_exit(child: &mut Child) -> Option<i32> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_finishes_the_request_in_flight_commits_it_and_exits() {
    let mut sidecar = run_sidecar();
    let now = now_millis();
    let session = Session {
        hash: SessionHash([7; 16]),
        created: now,
        idle_deadline: now + 3_600_000,
        max_deadline: now + 86_400_000,
        identity: Identity {
            sub: "auth0|draining".into(),
            ..Default::default()
        },
        user_agent: None,
    };
    let body = json!({"upsert": [session_json(&session)]}).to_string();
    let mut stream = connect(sidecar.addr);
    // `Expect: 100-continue`: the interim answer says the request is being read, so the
    // signal comes while it is in flight.
    write!(
        stream,
        "POST /sync HTTP/1.1\r\nHost: s\r\nAuthorization: Bearer {SYNC}\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    )
    .unwrap();
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);
    stream.write_all(first).unwrap();
    sigterm(&sidecar.child);
    // The listener closes: new connections are refused while the request is in flight.
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(sidecar.addr).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    stream.write_all(rest).unwrap();
    let _ = stream.shutdown(Shutdown::Write);
    let answer = read_all(&mut stream);
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.contains("\r\nconnection: close\r\n"),
        "{answer}"
    );
    assert_eq!(wait_exit(&mut sidecar.child), Some(0), "a clean exit");
    // Committed: the CLI finds it in the file.
    let out = Command::new(env!("CARGO_BIN_EXE_session-sidecar"))
        .args(["--db", sidecar.db.to_str().unwrap(), "sessions", "list"])
        .output()
        .unwrap();
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed["sessions"][0]["sub"], "auth0|draining", "{listed}");
}

#[test]
fn sigterm_with_nothing_in_flight_exits_at_once() {
    let mut sidecar = run_sidecar();
    // An idle connection does not hold the exit back.
    let _idle = connect(sidecar.addr);
    sigterm(&sidecar.child);
    assert_eq!(wait_exit(&mut sidecar.child), Some(0));
}

/// Sends SIGTERM, as a service manager stopping the sidecar does.
fn sigterm(child: &std::process::Child) {
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
}
