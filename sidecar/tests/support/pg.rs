//! A real PostgreSQL server for the tests: Debian's PostgreSQL 15 binaries, a cluster made
//! by initdb in a temporary directory, on a free loopback port, with password (SCRAM) auth
//! over TCP. One server per test process, one fresh database per test.
//!
//! As root, the server runs as `nobody` (PostgreSQL refuses to run as root). It is started
//! under a shell that waits on its standard input: when the test process ends, however it
//! ends, the pipe closes and the shell stops the server and removes the directory.
//!
//! PostgreSQL missing is a failure, never a skip: `make setup` installs it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "test-pass";

pub struct PgServer {
    pub port: u16,
    pub dir: PathBuf,
    // Held so that the server's guard shell keeps its stdin open while we live.
    _guard: Mutex<Child>,
}

/// The directory with `initdb` and `postgres`: `$PG_BIN`, or the newest version under
/// /usr/lib/postgresql (Debian's layout).
pub fn bin_dir() -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| format!("/usr/lib/postgresql: {e}"))?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists() && bin.join("postgres").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .ok_or_else(|| "no initdb/postgres under /usr/lib/postgresql/*/bin".into())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn temp_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!(
        "sidecar-pg-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ))
}

impl PgServer {
    pub fn start() -> Result<PgServer, String> {
        let bin = bin_dir().map_err(|e| {
            format!("PostgreSQL server binaries not found ({e}): install Debian's postgresql-15 (`make setup` does)")
        })?;
        let dir = temp_dir();
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        std::fs::write(dir.join("pwfile"), PASSWORD).map_err(|e| e.to_string())?;
        let root = is_root();
        if root {
            let ok = Command::new("chown")
                .args(["-R", "nobody"])
                .arg(&dir)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return Err(format!("cannot chown {} to nobody", dir.display()));
            }
        }
        let port = free_port();
        let script = r#"
            set -e
            dir=$1; bin=$2; port=$3
            "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
                --pwfile="$dir/pwfile" -E UTF8 --no-sync >"$dir/initdb.log" 2>&1
            "$bin/postgres" -D "$dir/data" -p "$port" -h 127.0.0.1 -k "$dir" \
                -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
                -c max_connections=300 >"$dir/postgres.log" 2>&1 &
            pid=$!
            echo started
            read _ || true
            kill -INT "$pid" 2>/dev/null || true
            wait "$pid" || true
            rm -rf "$dir"
        "#;
        let mut command = if root {
            let mut c = Command::new("runuser");
            c.args(["-u", "nobody", "--", "sh", "-c", script, "pg"]);
            c
        } else {
            let mut c = Command::new("sh");
            c.args(["-c", script, "pg"]);
            c
        };
        let mut child = command
            .arg(&dir)
            .arg(&bin)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start PostgreSQL: {e}"))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        if line.trim() != "started" {
            let log = std::fs::read_to_string(dir.join("initdb.log")).unwrap_or_default();
            return Err(format!("initdb failed:\n{log}"));
        }
        let server = PgServer {
            port,
            dir,
            _guard: Mutex::new(child),
        };
        server.wait_ready(Duration::from_secs(30))?;
        Ok(server)
    }

    fn wait_ready(&self, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        loop {
            match postgres::Client::connect(&self.url("postgres"), postgres::NoTls) {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    let log =
                        std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default();
                    return Err(format!("PostgreSQL did not come up: {e}\n{log}"));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres:{PASSWORD}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    /// A fresh, empty database; its URL.
    pub fn database(&self) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("t{}", N.fetch_add(1, Ordering::SeqCst));
        let mut admin = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .unwrap_or_else(|e| panic!("connecting to the test PostgreSQL: {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        self.url(&name)
    }
}

/// The process's test server, started on first use. Fails the test, with the reason, when
/// PostgreSQL cannot be started.
pub fn server() -> &'static PgServer {
    static SERVER: OnceLock<Result<PgServer, String>> = OnceLock::new();
    match SERVER.get_or_init(PgServer::start) {
        Ok(server) => server,
        Err(e) => panic!("the PostgreSQL tests need a PostgreSQL server: {e}"),
    }
}
