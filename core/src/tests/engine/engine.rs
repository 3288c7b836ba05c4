use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use super::*;
use crate::login::key_cache;
use crate::metrics::Metric;
use crate::ports::{Host, Request, Response, Upstream};
use crate::ports::{SetError, SharedData};
use crate::testing::*;
use crate::time::Millis;

const NOW: Millis = NOW_SECS * 1_000;

/// A request's headers; counts the reads (the wasm glue reads them all in one host call and
/// serves these from memory).
#[derive(Default)]
struct Req {
    headers: HashMap<&'static str, Vec<u8>>,
    reads: Cell<usize>,
}

impl Req {
    fn new(method: &str, path: &str) -> Req {
        let mut r = Req::default();
        r.headers.insert(":method", method.as_bytes().to_vec());
        r.headers.insert(":path", path.as_bytes().to_vec());
        r
    }

    fn with(mut self, name: &'static str, value: &str) -> Req {
        self.headers.insert(name, value.as_bytes().to_vec());
        self
    }
}

impl Request for Req {
    fn header(&self, name: &str) -> Option<Vec<u8>> {
        self.reads.set(self.reads.get() + 1);
        self.headers.get(name).cloned()
    }

    fn names(&self) -> Vec<&[u8]> {
        self.headers.keys().map(|k| k.as_bytes()).collect()
    }
}

/// The wasm host's calls, counted: shared-data gets and sets, stats updates that reach the
/// host (a zero delta does not) and randomness. (Logs go through the `log` facade, and the
/// hot path logs nothing.)
#[derive(Default)]
struct Counting {
    inner: MemHost,
    calls: RefCell<Vec<&'static str>>,
}

impl SharedData for Counting {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        self.calls.borrow_mut().push("get_shared_data");
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SetError> {
        self.calls.borrow_mut().push("set_shared_data");
        self.inner.set(key, value, cas)
    }
}

impl Host for Counting {
    fn count(&self, metric: Metric, delta: i64) {
        if delta != 0 {
            self.calls.borrow_mut().push("increment_metric");
        }
        self.inner.count(metric, delta)
    }
    fn record(&self, metric: Metric, value: u64) {
        self.calls.borrow_mut().push("record_metric");
        self.inner.record(metric, value)
    }
    fn clock(&self) -> u64 {
        self.calls.borrow_mut().push("get_current_time");
        self.inner.clock()
    }
    fn random(&self, buf: &mut [u8]) -> bool {
        self.calls.borrow_mut().push("random");
        self.inner.random(buf)
    }
}

fn engine() -> Engine {
    Engine::new(config())
}

fn sidecar_engine() -> Engine {
    let mut c = config();
    c.sidecar = Some(crate::config::Sidecar {
        cluster: "sidecar".into(),
        token: "t".into(),
        login_requires_store: false,
    });
    c.cookie.signing_keys = vec!["a-signing-key-of-at-least-32-chars!".into()];
    Engine::new(c)
}

fn reply(outcome: Outcome<'_>) -> Reply {
    match outcome {
        Outcome::Reply(reply) => reply,
        other => panic!("expected a reply: {other:?}"),
    }
}

fn call(outcome: Outcome<'_>) -> (Call, Pending) {
    match outcome {
        Outcome::Call(call, pending) => (call, pending),
        other => panic!("expected a call: {other:?}"),
    }
}

fn set_cookie(reply: &Reply) -> String {
    let header = reply
        .headers
        .iter()
        .find(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.clone())
        .unwrap();
    header.split(';').next().unwrap().to_string()
}

/// Logs in with a JWT, the keys already cached: the session cookie.
fn login(e: &Engine, host: &dyn Host) -> String {
    key_cache::store(host, NOW, &jwks_json()).unwrap();
    let req =
        Req::new("POST", "/authorize").with("authorization", &format!("Bearer {}", jwt(&claims())));
    let r = reply(e.on_request(host, &req, NOW));
    assert_eq!(r.status, 200, "{}", r.body);
    set_cookie(&r)
}

#[test]
fn an_authenticated_request_makes_at_most_six_host_calls() {
    let e = engine();
    let host = Counting::default();
    let cookie = login(&e, &host);
    host.calls.borrow_mut().clear();
    capture_logs();
    let req = Req::new("GET", "/api/data").with("cookie", &format!("a=1; {cookie}"));
    let Outcome::Forward(edits) = e.on_request(&host, &req, NOW + 10) else {
        panic!("expected the request to be forwarded");
    };
    // The wasm host: one call reads every header; then each shared-data access, stats update
    // and header edit is one host call. The clock is not read per request (the host serves
    // the timer's tick).
    let calls = 1 + host.calls.borrow().len() + edits.len();
    assert_eq!(*host.calls.borrow(), vec!["get_shared_data"]);
    // A log line would be one more host call.
    assert_eq!(logged(), Vec::<String>::new());
    assert!(
        calls <= 6,
        "{calls} host calls: {:?} {edits:?}",
        host.calls.borrow()
    );
    assert!(edits.contains(&HeaderEdit::Set("x-auth-user", b"auth0|alice".to_vec())));
    assert!(edits.contains(&HeaderEdit::Set("cookie", b"a=1".to_vec())));
}

#[test]
fn other_spellings_of_identity_headers_are_removed_even_after_a_call() {
    let e = sidecar_engine();
    let host = MemHost::default();
    let req = Req::new("GET", "/api").with("x_auth_user", "mallory").with(
        "cookie",
        "session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    );
    // Unsigned cookie with signing keys configured: refused without a call.
    assert!(matches!(e.on_request(&host, &req, NOW), Outcome::Reply(_)));
    let req = Req::new("GET", "/static/x").with("x_auth_user", "mallory");
    let Outcome::Forward(edits) = e.on_request(&host, &req, NOW) else {
        panic!("public paths are forwarded");
    };
    assert!(edits.contains(&HeaderEdit::RemoveName("x_auth_user".into())));
}

#[test]
fn a_public_path_touches_no_shared_data_and_no_clock() {
    let e = engine();
    let host = Counting::default();
    let req = Req::new("GET", "/static/app.js");
    assert!(matches!(
        e.on_request(&host, &req, NOW),
        Outcome::Forward(_)
    ));
    assert!(host.calls.borrow().is_empty());
}

#[test]
fn methods_are_checked_in_the_core() {
    let e = engine();
    let host = MemHost::default();
    let r = reply(e.on_request(&host, &Req::new("PUT", "/authorize"), NOW));
    assert_eq!(r.status, 405);
    assert!(r.headers.contains(&("allow".into(), "GET, POST".into())));
    let r = reply(e.on_request(&host, &Req::new("DELETE", "/ping"), NOW));
    assert_eq!(r.status, 405);
}

#[test]
fn no_session_is_401() {
    let e = engine();
    let host = MemHost::default();
    let r = reply(e.on_request(&host, &Req::new("GET", "/api"), NOW));
    assert_eq!(r.status, 401);
    assert_eq!(host.count_of(Metric::Rejected), 1);
}

#[test]
fn a_login_without_keys_fetches_them_then_creates_the_session() {
    let e = engine();
    let host = MemHost::default();
    let req =
        Req::new("POST", "/authorize").with("authorization", &format!("Bearer {}", jwt(&claims())));
    let (c, pending) = call(e.on_request(&host, &req, NOW));
    assert_eq!(c.cluster, "auth0");
    assert!(c
        .headers
        .contains(&(":path", "/.well-known/jwks.json".to_string())));
    assert_eq!(pending.max_answer(), crate::login::jwks::MAX_JWKS_BYTES);
    let answer = Response {
        status: Some(200),
        body: Some(jwks_json()),
    };
    let r = reply(e.on_response(&host, &req, pending, answer));
    assert_eq!(r.status, 200);
    assert_eq!(host.count_of(Metric::JwksFetchOk), 1);
    assert_eq!(host.count_of(Metric::LoginOk), 1);
    let cookie = set_cookie(&r);
    let req = Req::new("GET", "/api").with("cookie", &cookie);
    assert!(matches!(
        e.on_request(&host, &req, NOW),
        Outcome::Forward(_)
    ));
}

#[test]
fn an_oversized_jwks_answer_is_refused() {
    capture_logs();
    let e = engine();
    let host = MemHost::default();
    let req =
        Req::new("POST", "/authorize").with("authorization", &format!("Bearer {}", jwt(&claims())));
    let (_, pending) = call(e.on_request(&host, &req, NOW));
    let answer = Response {
        status: Some(200),
        body: None,
    };
    let r = reply(e.on_response(&host, &req, pending, answer));
    assert_eq!(r.status, 503);
    assert_eq!(host.count_of(Metric::JwksFetchFailed), 1);
    assert!(logged().iter().any(|l| l.contains("too large")));
}

#[test]
fn a_call_that_cannot_be_made_fails_the_login_closed() {
    let e = engine();
    let host = MemHost::default();
    let req =
        Req::new("POST", "/authorize").with("authorization", &format!("Bearer {}", jwt(&claims())));
    let (_, pending) = call(e.on_request(&host, &req, NOW));
    let r = reply(e.on_dispatch_failed(&host, pending));
    assert_eq!(r.status, 503);
    assert_eq!(host.count_of(Metric::LoginIdpUnavailable), 1);
}

#[test]
fn no_randomness_no_session() {
    let e = engine();
    let host = MemHost::default();
    key_cache::store(&host, NOW, &jwks_json()).unwrap();
    host.no_randomness.set(true);
    let req =
        Req::new("POST", "/authorize").with("authorization", &format!("Bearer {}", jwt(&claims())));
    assert_eq!(reply(e.on_request(&host, &req, NOW)).status, 503);
    assert_eq!(host.count_of(Metric::LoginOk), 0);
}

#[test]
fn with_a_sidecar_a_login_is_written_through_before_the_answer() {
    let e = sidecar_engine();
    let host = MemHost::default();
    key_cache::store(&host, NOW, &jwks_json()).unwrap();
    let req =
        Req::new("POST", "/authorize").with("authorization", &format!("Bearer {}", jwt(&claims())));
    let (c, pending) = call(e.on_request(&host, &req, NOW));
    assert_eq!(c.cluster, "sidecar");
    assert_eq!(c.upstream, Upstream::Sidecar);
    assert!(c.headers.contains(&(":path", "/sync".to_string())));
    assert!(c.body.as_ref().is_some_and(|b| !b.is_empty()));
    let answer = Response {
        status: Some(200),
        body: Some(b"{}".to_vec()),
    };
    let r = reply(e.on_response(&host, &req, pending, answer));
    assert_eq!(r.status, 200);
}

#[test]
fn with_a_sidecar_an_unknown_session_is_restored_or_refused() {
    let e = sidecar_engine();
    let host = MemHost::default();
    // A well-formed signed cookie for a session this host has never seen.
    let other = sidecar_engine();
    let other_host = MemHost::default();
    key_cache::store(&other_host, NOW, &jwks_json()).unwrap();
    let req =
        Req::new("POST", "/authorize").with("authorization", &format!("Bearer {}", jwt(&claims())));
    let (_, pending) = call(other.on_request(&other_host, &req, NOW));
    let login = reply(other.on_response(&other_host, &req, pending, Response::none()));
    let cookie = set_cookie(&login);
    let req = Req::new("GET", "/api").with("cookie", &cookie);
    let (c, pending) = call(e.on_request(&host, &req, NOW));
    assert!(c
        .headers
        .iter()
        .any(|(k, v)| *k == ":path" && v.starts_with("/sync/sessions/")));
    let r = reply(e.on_response(
        &host,
        &req,
        pending,
        Response {
            status: Some(404),
            body: Some(Vec::new()),
        },
    ));
    assert_eq!(r.status, 401);
    // Remembered: the next request is refused without asking again.
    assert!(matches!(e.on_request(&host, &req, NOW), Outcome::Reply(_)));
    // A sidecar that cannot be reached fails closed.
    let req2 = Req::new("GET", "/api").with("cookie", &cookie);
    let e2 = sidecar_engine();
    let (_, pending) = call(e2.on_request(&host, &req2, NOW));
    assert_eq!(reply(e2.on_dispatch_failed(&host, pending)).status, 503);
}

#[test]
fn device_calls_read_at_most_the_device_limit() {
    let mut c = config();
    c.device = Some(crate::config::Device {
        start: "/device/start".into(),
        poll: "/device/poll".into(),
        client_id: "dev".into(),
        scope: "openid".into(),
        audience: String::new(),
    });
    let e = Engine::new(c);
    let host = MemHost::default();
    let path = e.config().device.as_ref().unwrap().start.clone();
    let r = reply(e.on_request(&host, &Req::new("GET", &path), NOW));
    assert_eq!(r.status, 405);
    let (c, pending) = call(e.on_request(&host, &Req::new("POST", &path), NOW));
    assert!(c
        .headers
        .contains(&(":path", crate::idp::DEVICE_CODE_PATH.to_string())));
    assert_eq!(pending.max_answer(), crate::idp::MAX_DEVICE_ANSWER);
    let r = reply(e.on_dispatch_failed(&host, pending));
    assert_eq!(r.status, 503);
}
