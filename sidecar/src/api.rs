//! The HTTP API (docs/ARCHITECTURE.md §7) as one function from a request to a response, so that it is
//! tested without sockets; `server` puts it on a listener.
//!
//! - Filter (bearer `SIDECAR_TOKEN`): `POST /sync`, `GET /sync/sessions/{hash}`.
//! - Admin (bearer `SIDECAR_ADMIN_TOKEN`): `GET /admin/sessions[?user=SUB]`,
//!   `DELETE /admin/sessions/{id}`, `DELETE /admin/users/{sub}/sessions`, `GET /admin/users`,
//!   `GET /metrics` (Prometheus text).
//! - Anyone: `GET /healthz`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Value};
use session_core::session::SessionHash;
use session_core::sync::session_from_json;
use session_core::time::Millis;

use crate::store::{SessionStore, StoreError, SyncRequest};

/// Largest request body read.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Response {
    fn json(status: u16, body: &Value) -> Response {
        Response {
            status,
            content_type: "application/json",
            body: body.to_string(),
        }
    }
}

/// Every failure, with its status and a stable code; the one place errors become responses.
#[derive(Debug)]
pub enum AppError {
    Unauthorized,
    NotFound(&'static str),
    BadRequest(String),
    MethodNotAllowed,
    Store(StoreError),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        AppError::Store(e)
    }
}

impl AppError {
    pub fn into_response(self) -> Response {
        let (status, code, message) = match self {
            AppError::Unauthorized => (
                401,
                "unauthorized",
                "missing or wrong bearer token".to_string(),
            ),
            AppError::NotFound(what) => (404, "not_found", format!("no such {what}")),
            AppError::BadRequest(why) => (400, "bad_request", why),
            AppError::MethodNotAllowed => (
                405,
                "method_not_allowed",
                "method not allowed here".to_string(),
            ),
            AppError::Store(e) => (503, "store_unavailable", e.to_string()),
        };
        Response::json(status, &json!({ "error": code, "message": message }))
    }
}

/// Counters for `/metrics`, for the life of the process.
#[derive(Debug, Default)]
pub struct Counters {
    pub logins: AtomicU64,
    pub revocations: AtomicU64,
    pub sync_batches: AtomicU64,
    pub sync_errors: AtomicU64,
    pub restores: AtomicU64,
    pub lookups: AtomicU64,
}

pub struct Api {
    pub store: Box<dyn SessionStore>,
    pub sync_token: String,
    pub admin_token: String,
    pub counters: Counters,
}

pub struct Request<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub authorization: Option<&'a str>,
    pub body: &'a [u8],
}

/// A configured token matches, compared in time independent of where they differ.
fn same_secret(given: &str, expected: &str) -> bool {
    !expected.is_empty() && session_core::session::same_bytes(given.as_bytes(), expected.as_bytes())
}

/// Percent-decodes a path segment (`+` stays a plus: a `sub` may hold one).
fn percent_decode(text: &str) -> String {
    String::from_utf8_lossy(&session_core::code_flow::percent_decode(text.as_bytes())).into_owned()
}

/// Percent-decodes a query-string component, where `+` is a space.
fn query_decode(text: &str) -> String {
    percent_decode(&text.replace('+', " "))
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (query_decode(k) == name).then(|| query_decode(v))
    })
}

impl Api {
    fn authorize(&self, request: &Request<'_>, token: &str) -> Result<(), AppError> {
        let given = request
            .authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .unwrap_or("");
        if same_secret(given, token) {
            Ok(())
        } else {
            Err(AppError::Unauthorized)
        }
    }

    pub fn handle(&self, request: &Request<'_>, now: Millis) -> Response {
        match self.route(request, now) {
            Ok(response) => response,
            Err(e) => {
                if request.url.starts_with("/sync")
                    && !matches!(e, AppError::Unauthorized | AppError::NotFound(_))
                {
                    self.counters.sync_errors.fetch_add(1, Ordering::Relaxed);
                }
                e.into_response()
            }
        }
    }

    fn route(&self, request: &Request<'_>, now: Millis) -> Result<Response, AppError> {
        let (path, query) = request.url.split_once('?').unwrap_or((request.url, ""));
        let segments: Vec<String> = path.split('/').skip(1).map(percent_decode).collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let method = request.method;
        match segments.as_slice() {
            ["healthz"] => Ok(Response {
                status: 200,
                content_type: "text/plain",
                body: "ok\n".into(),
            }),
            ["sync"] => {
                self.authorize(request, &self.sync_token)?;
                if method != "POST" {
                    return Err(AppError::MethodNotAllowed);
                }
                self.sync(request.body, now)
            }
            ["sync", "sessions", hash] => {
                self.authorize(request, &self.sync_token)?;
                if method != "GET" {
                    return Err(AppError::MethodNotAllowed);
                }
                self.counters.lookups.fetch_add(1, Ordering::Relaxed);
                let hash = SessionHash::from_hex(hash).ok_or(AppError::NotFound("session"))?;
                let session = self
                    .store
                    .session(&hash, now)?
                    .ok_or(AppError::NotFound("session"))?;
                self.counters.restores.fetch_add(1, Ordering::Relaxed);
                Ok(Response::json(
                    200,
                    &session_core::sync::session_json(&session),
                ))
            }
            ["metrics"] => {
                self.authorize(request, &self.admin_token)?;
                Ok(self.metrics(now)?)
            }
            ["admin", rest @ ..] => {
                self.authorize(request, &self.admin_token)?;
                self.admin(method, rest, query, now)
            }
            _ => Err(AppError::NotFound("endpoint")),
        }
    }

    fn sync(&self, body: &[u8], now: Millis) -> Result<Response, AppError> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| AppError::BadRequest(format!("not JSON: {e}")))?;
        let bad = |what: &str| AppError::BadRequest(format!("bad sync request: {what}"));
        if !v.is_object() {
            return Err(bad("not an object"));
        }
        let list = |name: &str| -> Result<Vec<Value>, AppError> {
            match v.get(name) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => Ok(items.clone()),
                Some(_) => Err(bad(name)),
            }
        };
        let request = SyncRequest {
            since: match v.get("since") {
                None | Some(Value::Null) => None,
                Some(n) => Some(n.as_u64().ok_or_else(|| bad("since"))?),
            },
            upsert: list("upsert")?
                .iter()
                .map(|s| session_from_json(s).ok_or_else(|| bad("upsert")))
                .collect::<Result<_, _>>()?,
            end: list("end")?
                .iter()
                .map(|h| {
                    h.as_str()
                        .and_then(SessionHash::from_hex)
                        .ok_or_else(|| bad("end"))
                })
                .collect::<Result<_, _>>()?,
        };
        let answer = self.store.sync(&request, now)?;
        self.counters.sync_batches.fetch_add(1, Ordering::Relaxed);
        self.counters
            .logins
            .fetch_add(answer.new_sessions as u64, Ordering::Relaxed);
        Ok(Response::json(
            200,
            &json!({ "cursor": answer.cursor, "ended": answer.ended }),
        ))
    }

    fn admin(
        &self,
        method: &str,
        rest: &[&str],
        query: &str,
        now: Millis,
    ) -> Result<Response, AppError> {
        match (method, rest) {
            ("GET", ["sessions"]) => {
                let user = query_param(query, "user");
                let sessions = self.store.list_sessions(user.as_deref(), now)?;
                Ok(Response::json(200, &json!({ "sessions": sessions })))
            }
            ("DELETE", ["sessions", id]) => {
                if !self.store.end_session(id, now)? {
                    return Err(AppError::NotFound("live session"));
                }
                self.counters.revocations.fetch_add(1, Ordering::Relaxed);
                Ok(Response::json(200, &json!({ "ended": 1 })))
            }
            ("DELETE", ["users", sub, "sessions"]) => {
                let ended = self.store.end_user_sessions(sub, now)?;
                self.counters
                    .revocations
                    .fetch_add(ended as u64, Ordering::Relaxed);
                Ok(Response::json(200, &json!({ "ended": ended })))
            }
            ("GET", ["users"]) => Ok(Response::json(
                200,
                &json!({ "users": self.store.list_users(now)? }),
            )),
            (_, ["sessions"] | ["sessions", _] | ["users"] | ["users", _, "sessions"]) => {
                Err(AppError::MethodNotAllowed)
            }
            _ => Err(AppError::NotFound("endpoint")),
        }
    }

    fn metrics(&self, now: Millis) -> Result<Response, AppError> {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let rows: [(&str, &str, &str, u64); 7] = [
            (
                "session_sidecar_sessions_live",
                "gauge",
                "Live sessions in the store.",
                self.store.live_sessions(now)?,
            ),
            (
                "session_sidecar_logins_total",
                "counter",
                "New sessions stored.",
                get(&c.logins),
            ),
            (
                "session_sidecar_revocations_total",
                "counter",
                "Sessions ended by an admin.",
                get(&c.revocations),
            ),
            (
                "session_sidecar_sync_batches_total",
                "counter",
                "Sync requests applied.",
                get(&c.sync_batches),
            ),
            (
                "session_sidecar_sync_errors_total",
                "counter",
                "Sync requests refused or failed.",
                get(&c.sync_errors),
            ),
            (
                "session_sidecar_restores_total",
                "counter",
                "Sessions handed back to a filter.",
                get(&c.restores),
            ),
            (
                "session_sidecar_lookups_total",
                "counter",
                "Session lookups by filters, found or not.",
                get(&c.lookups),
            ),
        ];
        let mut body = String::new();
        for (name, kind, help, value) in rows {
            body.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            ));
        }
        Ok(Response {
            status: 200,
            content_type: "text/plain; version=0.0.4",
            body,
        })
    }
}
