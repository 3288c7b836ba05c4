//! Puts the API on a listener: a few threads taking requests from one tiny_http server,
//! and a thread that prunes the store once a minute.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::api::{body_limit, Api, Request, Response};

pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub struct Server {
    http: Arc<tiny_http::Server>,
    workers: Vec<JoinHandle<()>>,
    pub addr: SocketAddr,
}

impl Server {
    /// Serves `api` on `listen` with `threads` workers.
    pub fn start(api: Arc<Api>, listen: &str, threads: usize) -> Result<Server, String> {
        let http = tiny_http::Server::http(listen)
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let addr = http
            .server_addr()
            .to_ip()
            .ok_or_else(|| format!("{listen} is not an IP address"))?;
        let http = Arc::new(http);
        let mut workers = Vec::new();
        for _ in 0..threads.max(1) {
            let (http, api) = (Arc::clone(&http), Arc::clone(&api));
            workers.push(std::thread::spawn(move || {
                while let Ok(request) = http.recv() {
                    serve_one(&api, request);
                }
            }));
        }
        let pruner = Arc::clone(&api);
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_secs(60));
            if let Err(e) = pruner.store.prune(now_millis(), pruner.keep_ended()) {
                eprintln!("session-sidecar: prune failed: {e}");
            }
        });
        Ok(Server {
            http,
            workers,
            addr,
        })
    }

    /// Blocks until the server stops (it does not, unless `stop` is called elsewhere).
    pub fn wait(self) {
        for worker in self.workers {
            let _ = worker.join();
        }
    }

    pub fn stop(self) {
        for _ in &self.workers {
            self.http.unblock();
        }
        self.wait();
    }
}

fn serve_one(api: &Api, mut request: tiny_http::Request) {
    let authorization = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .map(|h| h.value.as_str().to_string());
    let mut body = Vec::new();
    let limit = body_limit(request.url());
    let too_big = request
        .as_reader()
        .take(limit as u64 + 1)
        .read_to_end(&mut body)
        .map_or(true, |n| n > limit);
    let response = if too_big {
        Response {
            status: 413,
            content_type: "application/json",
            body: r#"{"error":"too_large","message":"request body too large"}"#.into(),
            headers: Vec::new(),
        }
    } else {
        let method = request.method().as_str().to_string();
        let url = request.url().to_string();
        api.handle(
            &Request {
                method: &method,
                url: &url,
                authorization: authorization.as_deref(),
                body: &body,
            },
            now_millis(),
        )
    };
    let content_type =
        tiny_http::Header::from_bytes(&b"Content-Type"[..], response.content_type.as_bytes());
    let mut reply =
        tiny_http::Response::from_string(response.body).with_status_code(response.status);
    if let Ok(header) = content_type {
        reply = reply.with_header(header);
    }
    for (name, value) in &response.headers {
        if let Ok(header) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            reply = reply.with_header(header);
        }
    }
    let _ = request.respond(reply);
}
