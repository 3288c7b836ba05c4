//! `bench-helper --listen ADDR --jwks FILE --session VALUE`: what `make bench` needs besides
//! Envoy, answering fast enough not to be what is measured:
//! - `GET /.well-known/jwks.json`: the JWKS in FILE;
//! - `GET /userinfo`: a profile for any bearer token (the opaque-token login path), its `sub`
//!   ending in the token's last five characters: many tokens, many users;
//! - anything else: an `ext_authz` check doing the same lookup as the filter's hot path — the
//!   `session` cookie against the live sessions (here: VALUE) — 200 with the identity headers,
//!   or 401.
//!
//! `bench-helper logins ...` measures native logins instead (see `logins.rs`).

mod logins;

use std::collections::HashMap;
use std::sync::Arc;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn header(name: &str, value: &str) -> Option<tiny_http::Header> {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("logins") {
        let read = |name: &str| arg(&args, name).unwrap_or_default();
        let jwks = std::fs::read_to_string(read("--jwks")).unwrap_or_default();
        let seconds = read("--seconds").parse().unwrap_or(2.0);
        match logins::run(&read("--config"), &jwks, &read("--token"), seconds) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("bench-helper: logins: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let listen = arg(&args, "--listen").unwrap_or_else(|| "127.0.0.1:0".into());
    let jwks = arg(&args, "--jwks")
        .and_then(|f| std::fs::read_to_string(f).ok())
        .unwrap_or_else(|| r#"{"keys":[]}"#.into());
    let mut sessions: HashMap<String, (String, String)> = HashMap::new();
    if let Some(value) = arg(&args, "--session") {
        sessions.insert(value, ("auth0|bench".into(), "bench@example.com".into()));
    }
    let server = match tiny_http::Server::http(&listen) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("bench-helper: cannot listen on {listen}: {e}");
            std::process::exit(2);
        }
    };
    let state = Arc::new((jwks, sessions));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (server, state) = (Arc::clone(&server), Arc::clone(&state));
            std::thread::spawn(move || {
                while let Ok(request) = server.recv() {
                    let (jwks, sessions) = &*state;
                    let json = header("Content-Type", "application/json");
                    let response = match request.url() {
                        "/.well-known/jwks.json" => tiny_http::Response::from_string(jwks.clone()),
                        "/userinfo" => {
                            let token = request
                                .headers()
                                .iter()
                                .find(|h| h.field.equiv("Authorization"))
                                .map(|h| h.value.as_str())
                                .unwrap_or_default();
                            let tail: String = token
                                .chars()
                                .rev()
                                .take(5)
                                .filter(char::is_ascii_alphanumeric)
                                .collect();
                            tiny_http::Response::from_string(format!(
                                r#"{{"sub":"auth0|{tail}","email":"bench@example.com","name":"Bench"}}"#
                            ))
                        }
                        _ => {
                            let cookie = request
                                .headers()
                                .iter()
                                .find(|h| h.field.equiv("Cookie"))
                                .map(|h| h.value.as_str().to_string())
                                .unwrap_or_default();
                            let found = cookie
                                .split(';')
                                .filter_map(|pair| pair.trim().strip_prefix("session="))
                                .find_map(|value| sessions.get(value));
                            match found {
                                Some((sub, email)) => {
                                    let mut ok = tiny_http::Response::from_string("");
                                    for h in
                                        [header("x-auth-user", sub), header("x-auth-email", email)]
                                            .into_iter()
                                            .flatten()
                                    {
                                        ok = ok.with_header(h);
                                    }
                                    ok
                                }
                                None => tiny_http::Response::from_string("").with_status_code(401),
                            }
                        }
                    };
                    let response = match json {
                        Some(h) => response.with_header(h),
                        None => response,
                    };
                    let _ = request.respond(response);
                }
            })
        })
        .collect();
    if let Ok(addr) = server.server_addr().to_ip().ok_or(()) {
        println!("bench-helper: listening on {addr}");
    }
    for w in workers {
        let _ = w.join();
    }
}
