//! The HTTP API (docs/ARCHITECTURE.md §7) as one function from a request to a response, so that it is
//! tested without sockets; `server` puts it on a listener.
//!
//! - Filter (bearer `SIDECAR_TOKEN`): `POST /sync`, `GET /sync/sessions/{hash}`, and a
//!   user's own sessions under `/sync/own/{hash}` (see `session_core::own_sessions`).
//! - Admin (bearer `SIDECAR_ADMIN_TOKEN`): `GET /admin/sessions[?user=SUB]`,
//!   `DELETE /admin/sessions/{id}`, `DELETE /admin/users/{sub}/sessions`, `GET /admin/users`,
//!   `GET /metrics` (Prometheus text).
//! - Anyone: `GET /healthz`; `POST /backchannel-logout` (OIDC Back-Channel Logout, with
//!   `--filter-config`: Auth0 calls it, the logout token authenticates it).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use serde_json::{json, Value};
use session_core::metrics::Metric;
use session_core::session::sync::session_from_json;
use session_core::session::{Session, SessionHash};
use session_core::time::Millis;
use session_core::url;

use crate::backchannel::Backchannel;
use crate::store::{SessionStore, StoreError, SyncRequest, KEEP_EXPIRED_MS};

/// The filter's default `session.cookie.max_lifetime` (a month), in milliseconds.
pub const DEFAULT_MAX_LIFETIME_MS: Millis = 30 * 86_400_000;
/// How far ahead of this sidecar's clock a filter's clock may be.
const CLOCK_LEEWAY_MS: Millis = 60_000;

/// Largest request body read.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

pub use crate::http::Response;

/// Largest body read for a path: the unauthenticated back-channel endpoint reads little.
pub fn body_limit(url: &str) -> usize {
    if url.split('?').next() == Some("/backchannel-logout") {
        session_core::login::backchannel::MAX_BODY_BYTES
    } else {
        MAX_BODY_BYTES
    }
}

/// One of core's replies (the back-channel endpoint's): JSON or plain text.
fn from_reply(reply: session_core::reply::Reply) -> Response {
    let mut content_type = "text/plain";
    let mut headers = Vec::new();
    for (name, value) in reply.headers {
        if name.eq_ignore_ascii_case("content-type") {
            if value == "application/json" {
                content_type = "application/json";
            }
        } else {
            headers.push((name, value.into_bytes()));
        }
    }
    let mut response = Response::new(
        u16::try_from(reply.status).unwrap_or(500),
        content_type,
        reply.body,
    );
    response.headers.extend(headers);
    response
}

/// Every failure, with its status and a stable code; the one place errors become responses.
#[derive(Debug)]
pub enum AppError {
    Unauthorized,
    NotFound(&'static str),
    BadRequest(String),
    MethodNotAllowed,
    /// The session a filter asks for its user's sessions on behalf of is not live here.
    NoSession,
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
            AppError::NoSession => (404, "no_session", "no such live session".to_string()),
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
    pub backchannel_logouts: AtomicU64,
    pub backchannel_refused: AtomicU64,
}

pub struct Api {
    pub store: Box<dyn SessionStore>,
    pub sync_token: String,
    pub admin_token: String,
    pub counters: Counters,
    /// The filters' `session.cookie.max_lifetime`: no session stored here outlives it.
    pub max_lifetime: Millis,
    /// `POST /backchannel-logout`, when a filter configuration with `code_flow` was given.
    pub backchannel: Option<Backchannel>,
    /// The auth service's counters (the filter's stats, indexed by [`Metric::index`]), when
    /// `--auth-listen` runs one: `/metrics` lists them beside the store's.
    pub service_stats: OnceLock<Arc<[AtomicI64]>>,
}

/// A session as a sync may store it: the sync token is held by every proxy, so whoever
/// holds it must not be able to mint a session that outlives the configured lifetime (nor
/// one "created" in the future to the same end).
fn bounded(session: &Session, now: Millis, max_lifetime: Millis) -> Session {
    let mut s = session.clone();
    s.created = s.created.min(now.saturating_add(CLOCK_LEEWAY_MS));
    s.max_deadline = s.max_deadline.min(s.created.saturating_add(max_lifetime));
    s.idle_deadline = s.idle_deadline.min(s.max_deadline);
    s
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

impl Api {
    pub fn new(store: Box<dyn SessionStore>, sync_token: String, admin_token: String) -> Api {
        Api {
            store,
            sync_token,
            admin_token,
            counters: Counters::default(),
            max_lifetime: DEFAULT_MAX_LIFETIME_MS,
            backchannel: None,
            service_stats: OnceLock::new(),
        }
    }

    /// How long an ended session's row is kept: while a copy of it anywhere could still be
    /// live (at most `max_lifetime` after its creation), so that no sync revives it.
    pub fn keep_ended(&self) -> Millis {
        self.max_lifetime.max(KEEP_EXPIRED_MS)
    }

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

    /// What to answer from the request line and headers alone, before any body is read
    /// (docs/ARCHITECTURE.md §8 rule 8): a call to a route that needs a token, without the right one, is refused
    /// here, so an unauthenticated client cannot make the sidecar read (or wait for) a body.
    /// `None`: read the body and [`Api::handle`] the request, which checks again.
    pub fn precheck(
        &self,
        method: &str,
        url: &str,
        authorization: Option<&str>,
    ) -> Option<Response> {
        let path = url.split_once('?').map_or(url, |(p, _)| p);
        let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
        let token = if under("/sync") {
            &self.sync_token
        } else if under("/admin") || under("/metrics") {
            &self.admin_token
        } else {
            return None;
        };
        let request = Request {
            method,
            url,
            authorization,
            body: &[],
        };
        self.authorize(&request, token)
            .err()
            .map(AppError::into_response)
    }

    pub fn handle(&self, request: &Request<'_>, now: Millis) -> Response {
        match self.route(request, now) {
            Ok(response) => response,
            Err(e) => {
                if request.url.starts_with("/sync")
                    && !matches!(
                        e,
                        AppError::Unauthorized | AppError::NotFound(_) | AppError::NoSession
                    )
                {
                    self.counters.sync_errors.fetch_add(1, Ordering::Relaxed);
                }
                e.into_response()
            }
        }
    }

    fn route(&self, request: &Request<'_>, now: Millis) -> Result<Response, AppError> {
        let (path, query) = request.url.split_once('?').unwrap_or((request.url, ""));
        // `+` stays a plus in a path segment: a `sub` may hold one.
        let segments: Vec<String> = path
            .split('/')
            .skip(1)
            .map(|s| String::from_utf8_lossy(&url::percent_decode(s.as_bytes())).into_owned())
            .collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let method = request.method;
        match segments.as_slice() {
            ["healthz"] => Ok(Response::new(200, "text/plain", "ok\n")),
            ["backchannel-logout"] => {
                let backchannel = self.backchannel.as_ref().ok_or(AppError::NotFound(
                    "endpoint (back-channel logout needs --filter-config with code_flow)",
                ))?;
                let (reply, outcome) =
                    backchannel.handle(self.store.as_ref(), method, request.body, now);
                let counter = if outcome.accepted {
                    &self.counters.backchannel_logouts
                } else {
                    &self.counters.backchannel_refused
                };
                counter.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .revocations
                    .fetch_add(outcome.ended.len() as u64, Ordering::Relaxed);
                Ok(from_reply(reply))
            }
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
                    &session_core::session::sync::session_json(&session),
                ))
            }
            ["sync", "own", caller, rest @ ..] => {
                self.authorize(request, &self.sync_token)?;
                let caller = SessionHash::from_hex(caller).ok_or(AppError::NoSession)?;
                self.own(method, &caller, rest, now)
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

    /// A user's own sessions, asked by a filter for the session its request presents
    /// (`session_core::own_sessions` documents the calls).
    fn own(
        &self,
        method: &str,
        caller: &SessionHash,
        rest: &[&str],
        now: Millis,
    ) -> Result<Response, AppError> {
        let ended = match (method, rest) {
            ("GET", []) => {
                let sessions = self
                    .store
                    .own_sessions(caller, now)?
                    .ok_or(AppError::NoSession)?;
                let list: Vec<Value> = sessions
                    .iter()
                    .map(|s| {
                        json!({
                            "id": s.id,
                            "created": s.created,
                            "idle_deadline": s.idle_deadline,
                            "max_deadline": s.max_deadline,
                            "user_agent": s.user_agent,
                            "current": s.current,
                        })
                    })
                    .collect();
                return Ok(Response::json(200, &json!({ "sessions": list })));
            }
            ("POST", ["logout-others"]) => self.store.end_other_sessions(caller, now)?,
            ("DELETE", [id]) => self.store.end_own_session(caller, id, now)?,
            (_, [] | [_]) => return Err(AppError::MethodNotAllowed),
            _ => return Err(AppError::NotFound("endpoint")),
        };
        let ended = ended.ok_or(AppError::NoSession)?;
        self.counters
            .revocations
            .fetch_add(ended.len() as u64, Ordering::Relaxed);
        Ok(Response::json(200, &json!({ "ended": ended })))
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
                .map(|s| {
                    session_from_json(s)
                        .map(|s| bounded(&s, now, self.max_lifetime))
                        .ok_or_else(|| bad("upsert"))
                })
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
                let user = url::query_param(query.as_bytes(), "user");
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
        let jwks_fetches = self
            .backchannel
            .as_ref()
            .map_or(0, Backchannel::jwks_fetches);
        let rows: [(&str, &str, &str, u64); 11] = [
            (
                "session_sidecar_sessions_live",
                "gauge",
                "Live sessions in the store.",
                self.store.live_sessions(now)?,
            ),
            (
                "session_sidecar_db_connections",
                "gauge",
                "Database connections open (SQLite: one).",
                self.store.connections() as u64,
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
                "Sessions ended by an admin, a back-channel logout or their user.",
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
            (
                "session_sidecar_backchannel_logouts_total",
                "counter",
                "Back-channel logout tokens accepted.",
                get(&c.backchannel_logouts),
            ),
            (
                "session_sidecar_backchannel_refused_total",
                "counter",
                "Back-channel logout requests refused.",
                get(&c.backchannel_refused),
            ),
            (
                "session_sidecar_jwks_fetches_total",
                "counter",
                "Fetches of the tenant's JWKS.",
                jwks_fetches,
            ),
        ];
        let mut body = String::new();
        for (name, kind, help, value) in rows {
            body.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            ));
        }
        if let Some(stats) = self.service_stats.get() {
            for metric in Metric::ALL {
                let value = stats
                    .get(metric.index())
                    .map_or(0, |v| v.load(Ordering::Relaxed));
                body.push_str(&service_metric(metric, value));
            }
        }
        Ok(Response::new(200, "text/plain; version=0.0.4", body))
    }
}

/// One of the auth service's stats in Prometheus form: `auth0_session.login.ok` is
/// `session_sidecar_auth_login_ok_total`, a gauge keeps its name without `_total`.
fn service_metric(metric: Metric, value: i64) -> String {
    let base = metric.name();
    let short = base.strip_prefix("auth0_session.").unwrap_or(base);
    let (kind, suffix) = if metric.is_gauge() {
        ("gauge", "")
    } else {
        ("counter", "_total")
    };
    let name = format!("session_sidecar_auth_{}{suffix}", short.replace('.', "_"));
    format!(
        "# HELP {name} The auth service's {base} (the filter's stat of that name).\n# TYPE {name} {kind}\n{name} {value}\n"
    )
}
