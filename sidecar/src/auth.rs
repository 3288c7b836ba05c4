//! The auth service (docs/ARCHITECTURE.md §2, §6): a third host of the core's engine, for
//! NGINX `auth_request` and Envoy `ext_authz`. Like the wasm filter it hands each request to
//! [`Engine::on_request`] and carries out the outcome; it only differs in how it receives the
//! request and how it says "forward with these headers":
//!
//! - `GET /_auth/nginx` (NGINX's `auth_request` subrequest): the original request comes as
//!   `X-Original-Method` / `X-Original-URI` plus the client's headers. Allowed: 200 with the
//!   identity headers, `x-auth-cookie` and `x-auth-authorization` (what to forward instead of
//!   `Cookie` and `Authorization`; absent = send none). Denied: 401 or 403 only, the statuses
//!   `auth_request` passes on; NGINX then asks `/_auth/nginx/deny` for the full answer (the
//!   code-flow redirect with its cookie, the JSON body) and sends that to the client.
//! - `/_auth/ext_authz/<original path>` (Envoy's HTTP ext_authz, `path_prefix: /_auth/ext_authz`,
//!   original method): allowed = 200 with the headers to set and `x-envoy-auth-headers-to-remove`;
//!   denied = the core's reply itself, which Envoy sends to the client.
//! - Any other path: the login, logout, keep-alive, callback and device endpoints, served
//!   directly (the proxy routes those paths here); anything else is 404.
//!
//! Shared data is this process's memory ([`MemoryStore`]); the "sidecar" of the core's calls
//! is this process's own store, called in-process through the same [`Api`] the filters reach
//! over HTTP, so a check costs no database round trip once its session is in memory, and
//! logins, logouts and revocations travel by the same sync protocol as the wasm filter's.

use std::borrow::Cow;
use std::convert::Infallible;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use session_core::config::{Config, Sidecar};
use session_core::engine::driver::{
    self, Dispatch, Port, Received, RequestDriver, Started, TimerDriver,
};
use session_core::engine::timer::Timer;
use session_core::engine::Engine;
use session_core::metrics::Metric;
use session_core::ports::{self, Call, Host, SetError, SharedData, Upstream};
use session_core::reply::Reply;
use session_core::request::filter::{HeaderEdit, HeaderEdits};
use session_core::request::routing::Route;
use session_core::session::memory::MemoryStore;

use crate::api::{self, Api};
use crate::http::{Handler, Limits, Request as HttpRequest, Response};
use crate::idp::IdpClient;
use crate::server::now_millis;

/// Where NGINX's `auth_request` subrequest goes, and where it asks for a denial's answer.
pub const NGINX_CHECK: &str = "/_auth/nginx";
pub const NGINX_DENY: &str = "/_auth/nginx/deny";
/// Envoy's ext_authz `path_prefix`: the original path follows it.
pub const EXT_AUTHZ_PREFIX: &str = "/_auth/ext_authz";
/// Readiness: 200 once the IdP's signing keys have been fetched (a code-flow callback before
/// that is a 503), else 503. For a proxy's health check or an orchestrator's probe.
pub const READY: &str = "/_auth/ready";

/// No endpoint reads a request body (credentials are headers; docs/ARCHITECTURE.md §8, rule
/// 8: bounded cost of unauthenticated traffic): anything larger than this is refused unread.
const MAX_BODY_BYTES: usize = 16 * 1024;
/// Largest request head, exactly: a proxy passes the client's headers on (cookies).
pub const MAX_HEAD_BYTES: usize = 96 * 1024;
/// Connections open at once (503 beyond).
pub const MAX_CONNECTIONS: usize = 16_384;
/// A request head must arrive whole within this of the connection's start or of the
/// previous answer on it; a kept-alive connection idle for this long is closed.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests handled at once (each may wait on the IdP or the store); more wait their turn
/// without holding a thread.
const HANDLERS: usize = 256;

/// The service's host: process memory for shared data, counters, the log, the OS's randomness.
struct NativeHost {
    shared: MemoryStore,
    /// Shared with the store API, whose `/metrics` lists them.
    counters: Arc<[AtomicI64]>,
}

impl SharedData for NativeHost {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        self.shared.get(key)
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SetError> {
        self.shared.set(key, value, cas)
    }
}

impl Host for NativeHost {
    fn count(&self, metric: Metric, delta: i64) {
        if let Some(c) = self.counters.get(metric.index()) {
            c.fetch_add(delta, Ordering::Relaxed);
        }
    }

    fn record(&self, metric: Metric, value: u64) {
        if let Some(c) = self.counters.get(metric.index()) {
            c.store(i64::try_from(value).unwrap_or(i64::MAX), Ordering::Relaxed);
        }
    }

    fn clock(&self) -> u64 {
        now_millis()
    }

    fn random(&self, buf: &mut [u8]) -> bool {
        getrandom::getrandom(buf).is_ok()
    }
}

/// How a request reached the service, which decides how an outcome is written back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    NginxCheck,
    NginxDeny,
    ExtAuthz,
    Direct,
}

/// The original request, as the core reads it (lower-case names; pseudo-headers apart).
pub struct Original {
    method: String,
    path: String,
    authority: String,
    scheme: String,
    headers: Vec<(String, Vec<u8>)>,
}

impl ports::Request for Original {
    fn each_name(&self, each: &mut dyn FnMut(&[u8])) {
        for (k, _) in &self.headers {
            each(k.as_bytes());
        }
    }

    fn header(&self, name: &str) -> Option<Cow<'_, [u8]>> {
        let one = |v: &String| Some(Cow::Owned(v.clone().into_bytes()));
        match name {
            ":method" => one(&self.method),
            ":path" => one(&self.path),
            ":authority" => one(&self.authority),
            ":scheme" => one(&self.scheme),
            _ => {
                let values: Vec<&[u8]> = self
                    .headers
                    .iter()
                    .filter(|(k, _)| k == name)
                    .map(|(_, v)| v.as_slice())
                    .collect();
                // Several Cookie headers are one cookie list (as Envoy joins them); other
                // repeated headers are one comma-separated list.
                let sep: &[u8] = if name == "cookie" { b"; " } else { b", " };
                match values.as_slice() {
                    [] => None,
                    [one] => Some(Cow::Borrowed(*one)),
                    _ => Some(Cow::Owned(values.join(sep))),
                }
            }
        }
    }
}

type Answer = Response;

fn reply(reply: Reply) -> Answer {
    Response {
        status: u16::try_from(reply.status).unwrap_or(500),
        headers: reply
            .headers
            .into_iter()
            .map(|(k, v)| (k, v.into_bytes()))
            .collect(),
        body: reply.body.into_bytes(),
    }
}

fn error(status: u16, code: &str, message: &str) -> Answer {
    reply(Reply::error(u32::from(status), code, message))
}

pub struct AuthService {
    engine: Engine,
    host: NativeHost,
    idp: IdpClient,
    /// One client per identity API (`profile[i].url`), with its own timeout.
    profiles: Vec<IdpClient>,
    api: Arc<Api>,
    timer: Mutex<TimerDriver<Infallible>>,
}

impl AuthService {
    /// The service for `config` (the filter's JSON), storing through `api`. Sessions always
    /// go to this process's store, whatever `sidecar` the JSON names for Envoy.
    pub fn new(mut config: Config, api: Arc<Api>) -> Result<AuthService, String> {
        let timeout = Duration::from_secs(config.auth0.timeout_secs.max(1));
        let idp = IdpClient::new(&config.auth0.issuer, timeout)?;
        let profiles = config
            .profile
            .iter()
            .map(|p| {
                IdpClient::new(&p.origin, Duration::from_millis(p.timeout_ms.max(1)))
                    .map_err(|e| format!("profile {}: {e}", p.name))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let login_requires_store = config
            .sidecar
            .as_ref()
            .is_some_and(|s| s.login_requires_store);
        config.sidecar = Some(Sidecar {
            cluster: "self".into(),
            token: api.sync_token.clone(),
            login_requires_store,
        });
        let counters: Arc<[AtomicI64]> = Metric::ALL.iter().map(|_| AtomicI64::new(0)).collect();
        // One service per process: a second would keep its own counters, unlisted.
        let _ = api.service_stats.set(Arc::clone(&counters));
        let host = NativeHost {
            shared: MemoryStore::default(),
            counters,
        };
        let mut seed = [0u8; 2];
        let _ = getrandom::getrandom(&mut seed);
        Ok(AuthService {
            engine: Engine::new(config),
            host,
            idp,
            profiles,
            api,
            timer: Mutex::new(TimerDriver::new(Timer::new(u16::from_le_bytes(seed)))),
        })
    }

    /// A counter or gauge of the service (the filter's stat names).
    pub fn stat(&self, metric: Metric) -> i64 {
        self.host
            .counters
            .get(metric.index())
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Makes a call of the core: to the IdP over the network, to the store in-process.
    fn perform(&self, call: &Call) -> ports::Response {
        let header = |name: &str| {
            call.headers
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.as_str())
        };
        match call.upstream {
            Upstream::Idp | Upstream::Profile(_) => {
                // The sidecar's IdP client: GETs (JWKS, /userinfo with the token as
                // bearer) and form POSTs (token endpoint, device code); an identity API's
                // client: GETs with its token. No answer, or one larger than the call's
                // cap, is no answer to the core.
                let client = match call.upstream {
                    Upstream::Profile(i) => match self.profiles.get(i) {
                        Some(client) => client,
                        None => return ports::Response::none(),
                    },
                    _ => &self.idp,
                };
                let path = header(":path").unwrap_or("/");
                let answer = if header(":method") == Some("POST") {
                    let body = call.body.as_deref().unwrap_or_default();
                    client.post_form(path, body, call.max_answer)
                } else {
                    let bearer = header("authorization").and_then(|a| a.strip_prefix("Bearer "));
                    client.get(path, bearer, call.max_answer)
                };
                match answer {
                    Ok(a) => driver::read(
                        Received {
                            status: u32::from(a.status),
                            body: a.body,
                        },
                        call.max_answer,
                    ),
                    Err(why) => {
                        log::warn!("auth service: IdP call to {path}: {why}");
                        ports::Response::none()
                    }
                }
            }
            Upstream::Sidecar => {
                let answer = self.api.handle(
                    &api::Request {
                        method: header(":method").unwrap_or("GET"),
                        url: header(":path").unwrap_or("/"),
                        authorization: header("authorization"),
                        body: call.body.as_deref().unwrap_or_default(),
                    },
                    now_millis(),
                );
                let received = Received {
                    status: u32::from(answer.status),
                    body: answer.body,
                };
                driver::read(received, call.max_answer)
            }
        }
    }

    /// One request to the service.
    pub fn handle(&self, incoming: &HttpRequest) -> Answer {
        if incoming.target == READY {
            let ready = self.stat(Metric::JwksFetchOk) > 0;
            return reply(Reply::json(
                if ready { 200 } else { 503 },
                &serde_json::json!({ "ready": ready }),
            ));
        }
        let (mode, original) = match read_original(incoming) {
            Ok(found) => found,
            Err(answer) => return answer,
        };
        let endpoint = mode != Mode::Direct
            && !checkable(self.engine.filter.route(original.path.as_bytes(), || {
                original.method.clone().into_bytes()
            }));
        if endpoint {
            // An endpoint reached through a check would be answered by the app after the
            // login or logout ran here: the proxy must route these paths to the service.
            log::error!(
                "auth service: a check asked about an endpoint path: route the login, logout, keep-alive, callback and device paths to the auth service"
            );
            return error(
                500,
                "misconfigured",
                "this path is served by the auth service, not checked",
            );
        }
        let mut check = Check {
            service: self,
            mode,
            original: &original,
            answer: None,
        };
        RequestDriver::default().on_request(
            &self.engine,
            &self.host,
            &original,
            now_millis(),
            &mut check,
        );
        // Every call is answered at once, so the driver never leaves a request paused.
        check
            .answer
            .unwrap_or_else(|| reply(Reply::store_unavailable()))
    }

    /// One timer tick: JWKS refresh, sync with the store (revocations from other hosts
    /// arrive here), sweeping.
    pub fn tick(&self) {
        // Held while the calls are made: only this one timer thread ticks.
        self.timer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .tick(&self.engine, &self.host, now_millis(), &mut Calls(self));
    }
}

/// The timer's calls: made at once, this thread waiting for them.
struct Calls<'s>(&'s AuthService);

impl Dispatch for Calls<'_> {
    type Id = Infallible;

    fn start(&mut self, call: &Call) -> Started<Infallible> {
        Started::Now(self.0.perform(call))
    }
}

/// One request's outcome, written back as its mode says. Calls are made at once (this worker
/// waits for them; the pool bounds how many do), so a request is never paused.
struct Check<'r> {
    service: &'r AuthService,
    mode: Mode,
    original: &'r Original,
    answer: Option<Answer>,
}

impl Dispatch for Check<'_> {
    type Id = Infallible;

    fn start(&mut self, call: &Call) -> Started<Infallible> {
        Started::Now(self.service.perform(call))
    }
}

impl Port for Check<'_> {
    fn forward(&mut self, edits: HeaderEdits<'_>) {
        self.answer = Some(match self.mode {
            Mode::NginxCheck => nginx_allowed(self.original, edits),
            Mode::ExtAuthz => ext_authz_allowed(edits),
            Mode::Direct => error(404, "not_found", "not an endpoint of the auth service"),
            // Allowed by now (a login landed in between): the client asks again.
            Mode::NginxDeny => reply(Reply::unauthorized()),
        });
    }

    fn reply(&mut self, r: Reply) {
        self.answer = Some(match self.mode {
            Mode::NginxCheck => {
                // `auth_request` turns anything but 2xx, 401 and 403 into a 500: everything
                // else is a 401, and the deny location fetches the real answer.
                let status = if r.status == 403 { 403 } else { 401 };
                Answer {
                    status,
                    headers: Vec::new(),
                    body: Vec::new(),
                }
            }
            Mode::Direct => reply(r),
            Mode::ExtAuthz | Mode::NginxDeny if r.status >= 300 => reply(r),
            // A 2xx that a check cannot pass on as a denial: the client asks again.
            Mode::ExtAuthz | Mode::NginxDeny => reply(Reply::unauthorized()),
        });
    }
}

/// Whether a check may be asked about this route: protected, public and refused paths, never
/// an endpoint.
fn checkable(route: Route) -> bool {
    match route {
        Route::Public | Route::Protected(_) | Route::Refused(_) => true,
        Route::Login
        | Route::Logout
        | Route::KeepAlive
        | Route::Callback
        | Route::DeviceStart
        | Route::DevicePoll
        | Route::Sessions
        | Route::AssertionKeys => false,
    }
}

fn header_value<'h>(headers: &'h [(String, Vec<u8>)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| std::str::from_utf8(v).ok())
}

/// The scheme the client used, as the proxy reports it (the service itself is plain HTTP
/// behind it); https when not said, as the wasm filter assumes.
fn scheme(headers: &[(String, Vec<u8>)]) -> String {
    match header_value(headers, "x-forwarded-proto") {
        Some(p) if p.eq_ignore_ascii_case("http") => "http".into(),
        _ => "https".into(),
    }
}

/// Which kind of request this is, and the original request it is about.
fn read_original(incoming: &HttpRequest) -> Result<(Mode, Original), Answer> {
    let headers = &incoming.headers;
    let path_only = incoming.target.split('?').next().unwrap_or("");
    let authority = header_value(headers, "host").unwrap_or("").to_string();
    let (mode, method, path) = if path_only == NGINX_CHECK || path_only == NGINX_DENY {
        let (Some(method), Some(uri)) = (
            header_value(headers, "x-original-method"),
            header_value(headers, "x-original-uri"),
        ) else {
            return Err(error(
                500,
                "misconfigured",
                "an NGINX check needs X-Original-Method and X-Original-URI (see nginx/nginx.conf)",
            ));
        };
        let mode = if path_only == NGINX_CHECK {
            Mode::NginxCheck
        } else {
            Mode::NginxDeny
        };
        (mode, method.to_string(), uri.to_string())
    } else if let Some(rest) = incoming.target.strip_prefix(EXT_AUTHZ_PREFIX) {
        if !(rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')) {
            return Err(error(404, "not_found", "no such check"));
        }
        let path = if rest.starts_with('/') {
            rest.to_string()
        } else {
            format!("/{rest}")
        };
        (Mode::ExtAuthz, incoming.method.to_string(), path)
    } else {
        (
            Mode::Direct,
            incoming.method.to_string(),
            incoming.target.to_string(),
        )
    };
    let original = Original {
        method,
        path,
        authority,
        scheme: scheme(headers),
        headers: incoming.headers.clone(),
    };
    Ok((mode, original))
}

/// NGINX may only set headers from variables: every identity header gets its value (or is
/// absent), and the Cookie and Authorization headers to forward come back as `x-auth-cookie`
/// and `x-auth-authorization`, the request's own values when the core left them alone.
fn nginx_allowed(original: &Original, edits: HeaderEdits<'_>) -> Answer {
    use ports::Request;
    let mut cookie = original.header("cookie").map(Cow::into_owned);
    let mut authorization = original.header("authorization").map(Cow::into_owned);
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    for edit in edits {
        match edit {
            HeaderEdit::Set("cookie", v) => cookie = Some(v.into_vec()),
            HeaderEdit::Remove("cookie") => cookie = None,
            HeaderEdit::Set("authorization", v) => authorization = Some(v.into_vec()),
            HeaderEdit::Remove("authorization") => authorization = None,
            HeaderEdit::Set(name, v) => headers.push((name.to_string(), v.into_vec())),
            // NGINX replaces every copy of an identity header with the value set here (or
            // sends none), and drops names with `_` (`underscores_in_headers off`).
            HeaderEdit::Remove(_) | HeaderEdit::RemoveName(_) => {}
        }
    }
    if let Some(c) = cookie {
        headers.push(("x-auth-cookie".into(), c));
    }
    if let Some(a) = authorization {
        headers.push(("x-auth-authorization".into(), a));
    }
    Answer {
        status: 200,
        headers,
        body: Vec::new(),
    }
}

/// Envoy sets the headers of an allowed check on the request (`allowed_upstream_headers`) and
/// removes those named in `x-envoy-auth-headers-to-remove`.
fn ext_authz_allowed(edits: HeaderEdits<'_>) -> Answer {
    let mut headers = Vec::new();
    let mut remove: Vec<String> = Vec::new();
    for edit in edits {
        match edit {
            HeaderEdit::Set(name, v) => headers.push((name.to_string(), v.into_vec())),
            HeaderEdit::Remove(name) => remove.push(name.to_string()),
            HeaderEdit::RemoveName(name) => remove.push(name),
        }
    }
    // A header removed then set (a relayed token replacing an `Authorization: Session`
    // credential) is set: Envoy would apply the removal after it.
    remove.retain(|name| !headers.iter().any(|(set, _)| set == name));
    if !remove.is_empty() {
        headers.push((
            "x-envoy-auth-headers-to-remove".into(),
            remove.join(",").into_bytes(),
        ));
    }
    Answer {
        status: 200,
        headers,
        body: Vec::new(),
    }
}

/// The service's limits on its listener (README: "NGINX and Envoy ext_authz").
pub fn limits() -> Limits {
    Limits {
        connections: MAX_CONNECTIONS,
        head_bytes: MAX_HEAD_BYTES,
        headers: 128,
        head_timeout: HEAD_TIMEOUT,
        body_timeout: HEAD_TIMEOUT,
        keep_alive: true,
        handlers: HANDLERS,
    }
}

/// The service on the sidecar's HTTP stack (`http.rs`): every request may call the store or
/// the IdP, so each runs on the blocking pool; a body (none is used) is read and dropped,
/// so that the connection stays open for the next check.
impl Handler for AuthService {
    fn body_limit(&self, _head: &HttpRequest) -> usize {
        MAX_BODY_BYTES
    }

    fn respond(&self, head: &HttpRequest, _body: &[u8]) -> Response {
        self.handle(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    fn service(extra: &str) -> AuthService {
        let config = format!(
            r#"{{"auth0": {{"domain": "idp.test", "api": {{"identifier": "https://api/"}},
                "cluster": "auth0", "issuer": "http://127.0.0.1:9/"}},
               "public": ["/static/"]{extra}}}"#
        );
        let api = Api::new(
            Box::new(SqliteStore::open(":memory:").unwrap()),
            "sync".into(),
            "admin".into(),
        );
        AuthService::new(Config::parse(config.as_bytes()).unwrap(), Arc::new(api)).unwrap()
    }

    fn request(target: &str, headers: &[(&str, &str)]) -> HttpRequest {
        let method = if target == "/logout" { "POST" } else { "GET" };
        HttpRequest {
            method: method.into(),
            target: target.into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
        }
    }

    fn header<'a>(answer: &'a Answer, name: &str) -> Option<&'a [u8]> {
        answer
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }

    const NGINX: [(&str, &str); 2] = [("x-original-method", "GET"), ("x-original-uri", "/app")];

    #[test]
    fn an_nginx_check_without_a_session_is_a_bare_401_and_the_deny_call_has_the_body() {
        let s = service("");
        let check = s.handle(&request(NGINX_CHECK, &NGINX));
        assert_eq!((check.status, check.body.len()), (401, 0));
        let deny = s.handle(&request(NGINX_DENY, &NGINX));
        assert_eq!(deny.status, 401);
        assert!(String::from_utf8_lossy(&deny.body).contains("unauthorized"));
    }

    #[test]
    fn a_code_flow_redirect_is_a_401_to_auth_request_and_a_302_to_the_deny_call() {
        let s = service(r#", "code_flow": {"client_id": "web"}"#);
        let mut headers = NGINX.to_vec();
        headers.push(("accept", "text/html"));
        headers.push(("host", "app.test"));
        assert_eq!(s.handle(&request(NGINX_CHECK, &headers)).status, 401);
        let deny = s.handle(&request(NGINX_DENY, &headers));
        assert_eq!(deny.status, 302);
        let location = header(&deny, "location").unwrap_or_default();
        assert!(location.starts_with(b"http://127.0.0.1:9/authorize?"));
        assert!(
            header(&deny, "set-cookie").is_some(),
            "the per-login cookie"
        );
    }

    #[test]
    fn a_public_path_passes_without_the_session_cookie() {
        let s = service("");
        let nginx = s.handle(&request(
            NGINX_CHECK,
            &[
                ("x-original-method", "GET"),
                ("x-original-uri", "/static/a.js"),
                ("cookie", "session=abc; theme=dark"),
            ],
        ));
        assert_eq!(nginx.status, 200);
        assert_eq!(header(&nginx, "x-auth-cookie"), Some(&b"theme=dark"[..]));
        assert_eq!(header(&nginx, "x-auth-user"), None);
        let envoy = s.handle(&request(
            "/_auth/ext_authz/static/a.js",
            &[("cookie", "session=abc")],
        ));
        assert_eq!(envoy.status, 200);
        let removed = header(&envoy, "x-envoy-auth-headers-to-remove").unwrap_or_default();
        let removed = String::from_utf8_lossy(removed);
        for name in ["cookie", "x-auth-user", "x-auth-email"] {
            assert!(removed.split(',').any(|n| n == name), "{removed}");
        }
    }

    #[test]
    fn a_check_about_an_endpoint_is_refused_and_never_run() {
        let s = service("");
        let answer = s.handle(&request(
            NGINX_CHECK,
            &[("x-original-method", "POST"), ("x-original-uri", "/logout")],
        ));
        assert_eq!(answer.status, 500);
        assert_eq!(s.stat(Metric::Logout), 0);
        let answer = s.handle(&request("/_auth/ext_authz/authorize", &[]));
        assert_eq!(answer.status, 500);
        let answer = s.handle(&request(NGINX_CHECK, &[("x-original-uri", "/x")]));
        assert_eq!(answer.status, 500, "no X-Original-Method");
    }

    #[test]
    fn endpoints_are_served_directly_and_other_paths_are_404() {
        let s = service("");
        assert_eq!(s.handle(&request("/logout", &[])).status, 200);
        assert_eq!(s.stat(Metric::Logout), 1);
        assert_eq!(s.handle(&request("/static/x", &[])).status, 404);
        assert_eq!(s.handle(&request(READY, &[])).status, 503, "no keys yet");
    }
}
