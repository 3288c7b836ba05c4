//! The host ports (docs/ARCHITECTURE.md §2): everything the core needs from whatever runs it.
//! A host (the proxy-wasm glue, the Envoy dynamic module, a native server) implements these
//! over its own calls and carries out the values the core returns; the core never imports a
//! host. A new host is one implementation of [`Host`] and [`Request`] plus the driver's
//! ports ([`crate::engine::driver`]), which make its [`Call`]s and read their answers.

use crate::metrics::Metric;

/// Process-wide shared state with Envoy's shared-data semantics: every get returns a copy and
/// a CAS; a set with a stale CAS fails; a set of a missing key always inserts; no delete
/// (fixed bucket keys keep memory bounded).
pub trait SharedData {
    /// The value and its CAS, or `(None, None)` when the key does not exist.
    fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>);
    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SetError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetError {
    CasMismatch,
    Host,
}

/// What the core needs from its host besides a request's headers: shared state, stats,
/// randomness and the clock. Events go through the `log` facade instead, which each host
/// routes to its own log (the core never logs a token, cookie or secret). On the hot path
/// (public and protected requests) a host passes `now` in, read however is cheapest for it (the wasm host serves the time of the
/// last timer tick, at most [`crate::engine::timer::TICK_MS`] stale); everything else (logins,
/// device polls, callout answers) reads [`Host::clock`], where 200 ms would matter.
pub trait Host: SharedData {
    fn count(&self, metric: Metric, delta: i64);
    /// Sets a gauge to a value measured (rather than counted by deltas).
    fn record(&self, metric: Metric, value: u64);
    /// Milliseconds since the epoch, read now.
    fn clock(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
    /// Fills `buf` from a cryptographic source; false when none is available, and then the
    /// core fails closed (no session, no login start). Every real host overrides this.
    fn random(&self, buf: &mut [u8]) -> bool {
        let _ = buf;
        false
    }
}

/// One request's headers, as the host received them (pseudo-headers `:path`, `:method`,
/// `:scheme`, `:authority` included). A host may read them all at once (the wasm host does:
/// one host call) and answer these from memory.
pub trait Request {
    /// The first value of a header; `name` is lower case.
    fn header(&self, name: &str) -> Option<Vec<u8>>;
    /// Every header name as received, for the identity headers' other spellings.
    fn names(&self) -> Vec<&[u8]>;
}

/// Where a [`Call`] goes. An Envoy host names the configured cluster ([`Call::cluster`]); a
/// host without clusters reaches the IdP at `auth0.issuer`, the sidecar at its URL, and
/// identity API `i` at `profile[i].url`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    Idp,
    Sidecar,
    Profile(usize),
}

/// An HTTP callout the host makes on the core's behalf; its answer goes back to the core as
/// a [`Response`] together with whatever continuation came with the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub upstream: Upstream,
    pub cluster: String,
    /// Pseudo-headers (`:method`, `:path`, `:authority`) first, then the others.
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Vec<u8>>,
    pub timeout_ms: u64,
    /// The host reads at most this many bytes of the answer's body; a larger body is
    /// reported as `Response::body == None`.
    pub max_answer: usize,
}

/// A callout's answer: `status` is `None` when none came (timeout, reset, refused);
/// `body` is `None` when it was larger than the call's `max_answer`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    pub status: Option<u32>,
    pub body: Option<Vec<u8>>,
}

impl Response {
    /// No answer at all.
    pub fn none() -> Response {
        Response::default()
    }
}
