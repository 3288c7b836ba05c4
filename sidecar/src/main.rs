//! `session-sidecar [--db FILE] [--listen HOST:PORT]` serves the API;
//! `session-sidecar [--db FILE] <command>` runs one admin operation on the database.

use std::process::ExitCode;
use std::sync::Arc;

use serde_json::{json, Value};
use session_core::config::Config;
use session_core::time::Millis;
use session_sidecar::api::Api;
use session_sidecar::auth::AuthService;
use session_sidecar::backchannel::Backchannel;
use session_sidecar::server::{self as server, now_millis, Server};
use session_sidecar::store::{self, SessionStore};

const USAGE: &str = "\
usage: session-sidecar [--db DB] [--listen HOST:PORT]      serve the API
           [--filter-config FILE [--auth-listen HOST:PORT]]
       session-sidecar [--db DB] sessions list [--user SUB]
       session-sidecar [--db DB] sessions end ID
       session-sidecar [--db DB] users list
       session-sidecar [--db DB] users end-sessions SUB   (log a user out everywhere)
       session-sidecar policy check --config FILE METHOD PATH [--permissions A,B] [--roles R]

  --db DB             a SQLite file (default sessions.sqlite; :memory: keeps nothing), or
                      postgres://user:password@host:port/database (or postgresql://):
                      every sidecar of a fleet on one PostgreSQL database
  --db-pool N         most PostgreSQL connections this sidecar opens (default 8)
  --listen HOST:PORT  where to serve (default 127.0.0.1:9700)
  --max-lifetime D    the filters' session.cookie.max_lifetime (default: the filter
                      configuration's, else month): no session stored here outlives it,
                      and ended ones are remembered as long, so that no sync revives them
  --filter-config FILE  the filter's JSON configuration: with code_flow, serves
                      POST /backchannel-logout for that tenant and client
  --auth-listen HOST:PORT
                      with --filter-config, serve the auth service for NGINX
                      auth_request and Envoy ext_authz here (checks, login, logout,
                      keep-alive, callback, device)

Serving needs SIDECAR_TOKEN (the filter's sidecar.token) and SIDECAR_ADMIN_TOKEN (admin API
and /metrics) in the environment. Commands work on the database directly, beside a running
server; the filters see their effect at their next sync (within seconds).";

/// Store calls made at once by the API (more wait their turn, holding no thread); a client,
/// slow or idle, holds none.
const WORKERS: usize = 16;

fn main() -> ExitCode {
    session_sidecar::logging::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Needs no database: handled before the store is opened.
    if args.first().map(String::as_str) == Some("policy") {
        return match session_sidecar::policy::run(&args[1..]) {
            Ok((answer, passes)) => {
                println!("{answer}");
                ExitCode::from(u8::from(!passes))
            }
            Err(message) => {
                eprintln!(
                    "session-sidecar: {message}\n\nusage:\n{}",
                    session_sidecar::policy::USAGE
                );
                ExitCode::from(2)
            }
        };
    }
    match run(args) {
        Ok(code) => code,
        Err(message) => {
            // A command-line answer (usage, a bad argument), not a logged event.
            eprintln!("session-sidecar: {message}");
            ExitCode::from(2)
        }
    }
}

fn print(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

fn run(args: Vec<String>) -> Result<ExitCode, String> {
    let mut db = "sessions.sqlite".to_string();
    let mut listen = "127.0.0.1:9700".to_string();
    let mut user: Option<String> = None;
    let mut filter_config: Option<String> = None;
    let mut pool = 8usize;
    let mut max_lifetime: Option<Millis> = None;
    let mut auth_listen: Option<String> = None;
    let mut words = Vec::new();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value\n\n{USAGE}"))
        };
        match arg.as_str() {
            "--db" => db = value("--db")?,
            "--listen" => listen = value("--listen")?,
            "--user" => user = Some(value("--user")?),
            "--filter-config" => filter_config = Some(value("--filter-config")?),
            "--auth-listen" => auth_listen = Some(value("--auth-listen")?),
            "--db-pool" => {
                let text = value("--db-pool")?;
                pool = text
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("--db-pool: {text:?} is not a positive number"))?;
            }
            "--max-lifetime" => {
                let text = value("--max-lifetime")?;
                max_lifetime = Some(
                    session_core::duration::parse_duration(&Value::String(text))
                        .map_err(|e| format!("--max-lifetime: {e}"))?
                        .saturating_mul(1_000),
                );
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            flag if flag.starts_with("--") => {
                return Err(format!("unknown option {flag}\n\n{USAGE}"))
            }
            _ => words.push(arg),
        }
    }
    let shown = store::redacted(&db);
    let store = store::open(&db, pool).map_err(|e| format!("cannot open {shown}: {e}"))?;
    let now = now_millis();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let fail = |e: session_sidecar::store::StoreError| e.to_string();
    match words.as_slice() {
        [] | ["serve"] => serve(
            store,
            &shown,
            &listen,
            filter_config.as_deref(),
            max_lifetime,
            auth_listen,
        ),
        ["sessions", "list"] => {
            print(&json!({ "sessions": store.list_sessions(user.as_deref(), now).map_err(fail)? }));
            Ok(ExitCode::SUCCESS)
        }
        ["sessions", "end", id] => {
            let ended = store.end_session(id, now).map_err(fail)?;
            print(&json!({ "ended": usize::from(ended) }));
            Ok(if ended {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        ["users", "list"] => {
            print(&json!({ "users": store.list_users(now).map_err(fail)? }));
            Ok(ExitCode::SUCCESS)
        }
        ["users", "end-sessions", sub] => {
            print(&json!({ "ended": store.end_user_sessions(sub, now).map_err(fail)? }));
            Ok(ExitCode::SUCCESS)
        }
        _ => Err(format!("unknown command {:?}\n\n{USAGE}", words.join(" "))),
    }
}

fn token(name: &str, why: &str) -> Result<String, String> {
    match std::env::var(name) {
        Ok(t) if !t.trim().is_empty() => Ok(t),
        _ => Err(format!("{name} is not set: {why}")),
    }
}

/// The filter's JSON configuration, checked as the filter checks it.
fn read_filter_config(path: &str) -> Result<Config, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    Config::parse(&bytes).map_err(|e| format!("{path}: {e}"))
}

/// The back-channel logout endpoint of a filter configuration, if it has `code_flow`,
/// and the configuration's `session.cookie.max_lifetime` in milliseconds.
fn backchannel(path: &str, config: &Config) -> Result<(Option<Backchannel>, Millis), String> {
    let max_lifetime = config.cookie.max_lifetime.saturating_mul(1_000);
    let endpoint = Backchannel::from_config(config).map_err(|e| format!("{path}: {e}"))?;
    if endpoint.is_none() {
        log::warn!("{path} has no code_flow: POST /backchannel-logout is not served");
    }
    Ok((endpoint, max_lifetime))
}

fn serve(
    store: Box<dyn SessionStore>,
    db: &str,
    listen: &str,
    filter_config: Option<&str>,
    max_lifetime: Option<Millis>,
    auth_listen: Option<String>,
) -> Result<ExitCode, String> {
    let config = filter_config.map(read_filter_config).transpose()?;
    let (backchannel, configured_lifetime) = match (filter_config, &config) {
        (Some(path), Some(config)) => {
            let (endpoint, lifetime) = backchannel(path, config)?;
            (endpoint, Some(lifetime))
        }
        _ => (None, None),
    };
    let auth = match (config, auth_listen) {
        (Some(config), Some(listen)) => Some((config, listen)),
        (_, None) => None,
        (None, Some(_)) => return Err(format!("--auth-listen needs --filter-config\n\n{USAGE}")),
    };
    let sync_token = token(
        "SIDECAR_TOKEN",
        "the filter's sync calls could not authenticate",
    )?;
    let admin_token = token(
        "SIDECAR_ADMIN_TOKEN",
        "the admin API could not authenticate",
    )?;
    if sync_token == admin_token {
        // Every proxy holds the sync token; it must not also open the admin API.
        return Err("SIDECAR_TOKEN and SIDECAR_ADMIN_TOKEN are the same: give the admin API a token of its own".into());
    }
    let mut api = Api::new(store, sync_token, admin_token);
    if let Some(ms) = max_lifetime.or(configured_lifetime) {
        api.max_lifetime = ms;
    }
    api.backchannel = backchannel;
    let api = Arc::new(api);
    let auth = match auth {
        Some((config, listen)) => Some((
            Arc::new(AuthService::new(config, Arc::clone(&api))?),
            listen,
        )),
        None => None,
    };
    server::raise_fd_limit();
    let limits = server::api_limits(WORKERS, server::REQUEST_TIMEOUT);
    let server = Server::serve_until_signalled(
        api,
        limits,
        listen,
        auth.as_ref()
            .map(|(service, listen)| (Arc::clone(service), listen.as_str())),
    )?;
    if let Some(addr) = server.auth_addr {
        log::info!("auth service on http://{addr}");
    }
    if !server.addr.ip().is_loopback() {
        log::warn!("listening on {}, not a loopback address", server.addr);
    }
    log::info!("serving {db} on http://{}", server.addr);
    // Until SIGTERM or SIGINT; then requests in flight finish and are committed.
    server.wait();
    log::info!("stopped");
    Ok(ExitCode::SUCCESS)
}
