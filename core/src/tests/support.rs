//! Test helpers: an in-memory shared data with Envoy's CAS semantics, and token minting.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::login::jwks::KeySet;
use crate::metrics::Metric;
use crate::ports::Request;
use crate::request::filter::Host;
use crate::session::store::{SetError, SharedData};

thread_local! {
    static LOGGED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// The `log` facade's lines, kept per thread: the core logs on the caller's thread, so each
/// test sees only its own lines although tests run in parallel.
struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        LOGGED.with(|l| l.borrow_mut().push(record.args().to_string()));
    }
    fn flush(&self) {}
}

/// Starts capturing this thread's log lines (dropping any captured before).
pub fn capture_logs() {
    static CAPTURE: Capture = Capture;
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let _ = log::set_logger(&CAPTURE);
        log::set_max_level(log::LevelFilter::Trace);
    });
    LOGGED.with(|l| l.borrow_mut().clear());
}

/// The lines this thread logged since [`capture_logs`].
pub fn logged() -> Vec<String> {
    LOGGED.with(|l| l.borrow().clone())
}

/// Shared data as Envoy implements it: a missing key always inserts, CAS 0 overwrites,
/// any other CAS must match. `fail_next_sets` simulates other workers winning races.
#[derive(Default)]
pub struct MemHost {
    pub data: RefCell<HashMap<String, (Vec<u8>, u32)>>,
    next_cas: Cell<u32>,
    pub fail_next_sets: Cell<usize>,
    pub counts: RefCell<HashMap<&'static str, i64>>,
    randoms: Cell<u32>,
    pub no_randomness: Cell<bool>,
    /// Milliseconds past NOW_SECS that [`Host::clock`] reports.
    pub elapsed: Cell<u64>,
}

impl MemHost {
    pub fn count_of(&self, metric: Metric) -> i64 {
        self.counts
            .borrow()
            .get(metric.name())
            .copied()
            .unwrap_or(0)
    }
}

impl SharedData for MemHost {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        match self.data.borrow().get(key) {
            Some((v, cas)) => (Some(v.clone()), Some(*cas)),
            None => (None, None),
        }
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SetError> {
        if self.fail_next_sets.get() > 0 {
            self.fail_next_sets.set(self.fail_next_sets.get() - 1);
            return Err(SetError::CasMismatch);
        }
        let mut data = self.data.borrow_mut();
        if let Some((_, current)) = data.get(key) {
            if let Some(c) = cas.filter(|c| *c != 0) {
                if c != *current {
                    return Err(SetError::CasMismatch);
                }
            }
        }
        self.next_cas.set(self.next_cas.get() + 1);
        data.insert(key.to_string(), (value.to_vec(), self.next_cas.get()));
        Ok(())
    }
}

impl Host for MemHost {
    fn count(&self, metric: Metric, delta: i64) {
        *self.counts.borrow_mut().entry(metric.name()).or_default() += delta;
    }

    fn record(&self, metric: Metric, value: u64) {
        self.counts.borrow_mut().insert(metric.name(), value as i64);
    }

    fn clock(&self) -> u64 {
        NOW_SECS * 1_000 + self.elapsed.get()
    }

    fn random(&self, buf: &mut [u8]) -> bool {
        // A different stream per call, so that two logins never share a secret.
        self.randoms.set(self.randoms.get() + 1);
        let mut x = u64::from(self.randoms.get()).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        for b in buf.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        !self.no_randomness.get()
    }
}

pub const ISSUER: &str = "https://tenant.test/";
pub const AUDIENCE: &str = "https://api.example.com/";
pub const NOW_SECS: u64 = 1_795_426_200;

pub fn key(index: usize) -> &'static RsaPrivateKey {
    static KEYS: OnceLock<Vec<RsaPrivateKey>> = OnceLock::new();
    &KEYS.get_or_init(|| {
        let mut rng = rand::thread_rng();
        (0..2)
            .map(|_| RsaPrivateKey::new(&mut rng, 2048).unwrap())
            .collect()
    })[index]
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn jwk(kid: &str, index: usize) -> Value {
    let public = key(index).to_public_key();
    json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
           "n": b64(&public.n().to_bytes_be()), "e": b64(&public.e().to_bytes_be())})
}

pub fn jwks_json() -> Vec<u8> {
    json!({"keys": [jwk("k1", 0)]}).to_string().into_bytes()
}

pub fn keyset() -> KeySet {
    KeySet::parse(&jwks_json()).unwrap()
}

pub fn claims() -> Value {
    json!({"iss": ISSUER, "sub": "auth0|alice", "aud": [AUDIENCE], "exp": NOW_SECS + 600,
           "iat": NOW_SECS, "scope": "openid read:data", "email": "alice@example.com"})
}

/// Signs `header.claims` with test key `index` (RS256, whatever the header says).
pub fn sign(header: &Value, claims: &Value, index: usize) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let digest = Sha256::digest(input.as_bytes());
    let sig = key(index)
        .sign(Pkcs1v15Sign::new::<Sha256>(), &digest)
        .unwrap();
    format!("{input}.{}", b64(&sig))
}

pub fn jwt(claims: &Value) -> String {
    sign(
        &json!({"alg": "RS256", "typ": "JWT", "kid": "k1"}),
        claims,
        0,
    )
}

pub fn config() -> Config {
    Config::parse(
        format!(
            r#"{{"auth0": {{"domain": "tenant.test", "api": {{"identifier": "{AUDIENCE}"}},
                 "cluster": "auth0", "scope": "read:data"}},
                "public": ["/healthz", "/static/"]}}"#
        )
        .as_bytes(),
    )
    .unwrap()
}

/// A sidecar on the cluster the tests' configurations name, with token `t`.
pub fn sidecar() -> crate::config::Sidecar {
    crate::config::Sidecar {
        cluster: "session_sidecar".into(),
        token: "t".into(),
        login_requires_store: false,
    }
}

/// `obj` with `key` set to `value`, or removed when `value` is null.
pub fn with_key(mut obj: Value, key: &str, value: Value) -> Value {
    if value.is_null() {
        obj.as_object_mut().unwrap().remove(key);
    } else {
        obj[key] = value;
    }
    obj
}

/// A request's headers, for driving the engine as a host would.
#[derive(Default)]
pub struct Req(pub HashMap<&'static str, Vec<u8>>);

impl Req {
    pub fn new(method: &str, path: &str) -> Req {
        Req::default().with(":method", method).with(":path", path)
    }

    pub fn with(mut self, name: &'static str, value: &str) -> Req {
        self.0.insert(name, value.as_bytes().to_vec());
        self
    }
}

impl Request for Req {
    fn header(&self, name: &str) -> Option<std::borrow::Cow<'_, [u8]>> {
        self.0
            .get(name)
            .map(|v| std::borrow::Cow::Borrowed(v.as_slice()))
    }

    fn each_name(&self, each: &mut dyn FnMut(&[u8])) {
        for k in self.0.keys() {
            each(k.as_bytes());
        }
    }
}
