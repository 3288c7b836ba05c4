//! The root context: configuration, stats, and the timer that refreshes the JWKS and sweeps
//! expired sessions out of shared data.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, LogLevel};
use session_core::config::Config;
use session_core::filter::{Filter, Host};
use session_core::jwks::MAX_JWKS_BYTES;
use session_core::key_cache::{self, KeyCache};
use session_core::limiter;
use session_core::login::Callout;
use session_core::metrics::Metric;
use session_core::store::BUCKETS;
use session_core::sync::{
    self, Batch, RecentMisses, MAX_ANSWER_BYTES, SIDECAR_TIMEOUT_MS, SYNC_INTERVAL_MS,
};

use crate::host::{callout_body, callout_status, log, now_millis, EnvoyHost, Stats};
use crate::http::Http;

/// What every HTTP context of this VM shares.
pub struct Shared {
    pub filter: Filter,
    pub stats: Stats,
    pub keys: RefCell<KeyCache>,
    pub misses: RefCell<RecentMisses>,
}

impl Shared {
    pub fn host(&self) -> EnvoyHost<'_> {
        EnvoyHost { stats: &self.stats }
    }

    /// Dispatches an IdP callout; the answer comes to the context that called this.
    pub fn dispatch_idp(&self, callout: &Callout, token: &str, body: Option<&[u8]>) -> Option<u32> {
        let a = &self.filter.config.auth0;
        let headers = self.filter.callout_headers(callout, token);
        dispatch(
            &a.cluster,
            &headers,
            body,
            Duration::from_secs(a.timeout_secs),
        )
    }

    /// Dispatches a call to the session sidecar (none when no sidecar is configured).
    pub fn dispatch_sidecar(
        &self,
        method: &'static str,
        path: String,
        body: Option<&[u8]>,
    ) -> Option<u32> {
        let sidecar = self.filter.config.sidecar.as_ref()?;
        let headers = self.filter.sidecar_headers(method, path);
        dispatch(
            &sidecar.cluster,
            &headers,
            body,
            Duration::from_millis(SIDECAR_TIMEOUT_MS),
        )
    }

    /// Stores a JWKS callout answer for every worker. True when a usable JWKS was stored.
    pub fn receive_jwks(&self, now: u64, num_headers: usize, body_size: usize) -> bool {
        let host = self.host();
        let result = match callout_status(num_headers) {
            None => Err("no answer".to_string()),
            Some(200) => callout_body(body_size, MAX_JWKS_BYTES)
                .ok_or_else(|| "answer too large".to_string())
                .and_then(|body| key_cache::store(&host, now, &body)),
            Some(status) => Err(format!("status {status}")),
        };
        match result {
            Ok(keys) => {
                host.count(Metric::JwksFetchOk, 1);
                log(
                    LogLevel::Info,
                    &format!("JWKS fetched, {keys} signing key(s)"),
                );
                true
            }
            Err(why) => {
                host.count(Metric::JwksFetchFailed, 1);
                log(LogLevel::Warn, &format!("JWKS fetch failed: {why}"));
                false
            }
        }
    }
}

fn dispatch(
    cluster: &str,
    headers: &[(&'static str, String)],
    body: Option<&[u8]>,
    timeout: Duration,
) -> Option<u32> {
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    match hostcalls::dispatch_http_call(cluster, headers, body, vec![], timeout) {
        Ok(id) => Some(id),
        Err(status) => {
            log(
                LogLevel::Warn,
                &format!("call to cluster {cluster:?} failed to start: {status:?}"),
            );
            None
        }
    }
}

/// The timer: fast enough that a first JWKS fetch that failed is retried promptly (the
/// retry itself is limited to one per 5 s process-wide); sweeping and syncing run once a second.
const TICK_MS: u64 = 200;
const TICKS_PER_SECOND: u64 = 1_000 / TICK_MS;

/// Buckets swept per second per VM: a full pass takes BUCKETS / SWEEP_PER_TICK seconds.
const SWEEP_PER_TICK: usize = 512;

/// What one full sweep pass saw, published as the store gauges when the pass ends.
#[derive(Default)]
struct Pass {
    swept: usize,
    keys: u64,
    bytes: u64,
}

#[derive(Default)]
pub struct Root {
    shared: Option<Rc<Shared>>,
    jwks_call: Option<u32>,
    sync_call: Option<(u32, Batch)>,
    sweep_cursor: usize,
    pass: Pass,
    ticks: u64,
}

impl Root {
    /// Fetches the JWKS if it is due (none yet, or older than the refresh interval) and no
    /// other VM claimed the fetch.
    fn refresh_jwks(&mut self, now: u64) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        let host = shared.host();
        if self.jwks_call.is_none() && key_cache::claim_refresh(&host, now) {
            self.jwks_call = shared.dispatch_idp(&Callout::Jwks, "", None);
            if self.jwks_call.is_none() {
                host.count(Metric::JwksFetchFailed, 1);
            }
        }
    }
}

impl Root {
    fn send_sync(&mut self, shared: &Shared) {
        let host = shared.host();
        let batch = sync::build_batch(&host, now_millis());
        match shared.dispatch_sidecar("POST", "/sync".to_string(), Some(&batch.body)) {
            Some(id) => self.sync_call = Some((id, batch)),
            None => host.count(Metric::SyncErrors, 1),
        }
    }
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _: usize,
    ) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        if self.jwks_call == Some(token_id) {
            self.jwks_call = None;
            shared.receive_jwks(now_millis(), num_headers, body_size);
        } else if self
            .sync_call
            .as_ref()
            .is_some_and(|(id, _)| *id == token_id)
        {
            if let Some((_, batch)) = self.sync_call.take() {
                if receive_sync(&shared, &batch, num_headers, body_size) {
                    self.send_sync(&shared);
                }
            }
        }
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _: usize) -> bool {
        let bytes = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        let config = match Config::parse(&bytes) {
            Ok(config) => config,
            Err(e) => {
                log(
                    LogLevel::Critical,
                    &format!("refusing the configuration: {e}"),
                );
                return false;
            }
        };
        self.shared = Some(Rc::new(Shared {
            filter: Filter::new(config),
            stats: Stats::define(),
            keys: RefCell::new(KeyCache::default()),
            misses: RefCell::new(RecentMisses::default()),
        }));
        // Start the sweep at a different place in each VM so that workers share the work.
        let mut seed = [0u8; 2];
        if getrandom::getrandom(&mut seed).is_ok() {
            self.sweep_cursor = usize::from(u16::from_le_bytes(seed)) % BUCKETS;
        }
        // The first tick (TICK_MS from now) fetches the signing keys. A call dispatched from
        // here, during Envoy's bootstrap, is never answered: do not try.
        hostcalls::set_tick_period(Duration::from_millis(TICK_MS)).is_ok()
    }

    fn on_tick(&mut self) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        let now = now_millis();
        let host = shared.host();
        self.refresh_jwks(now);
        self.ticks += 1;
        if self.ticks % TICKS_PER_SECOND != 0 {
            return;
        }
        if self.sync_call.is_none()
            && shared.filter.config.sidecar.is_some()
            && limiter::claim(&host, sync::LOCK_KEY, now, SYNC_INTERVAL_MS)
        {
            self.send_sync(&shared);
        }
        for _ in 0..SWEEP_PER_TICK {
            if let Some(size) = shared.filter.sweep(&host, self.sweep_cursor, now) {
                self.pass.keys += 1;
                self.pass.bytes += size as u64;
            }
            self.sweep_cursor = (self.sweep_cursor + 1) % BUCKETS;
            self.pass.swept += 1;
            if self.pass.swept == BUCKETS {
                host.record(Metric::StoreKeys, self.pass.keys);
                host.record(Metric::StoreBytes, self.pass.bytes);
                self.pass = Pass::default();
            }
        }
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        // Never None: the SDK panics on it. An unconfigured context fails closed instead.
        Some(Box::new(Http::new(self.shared.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// Applies the sidecar's answer to a sync batch; a failed batch is simply built again.
/// True when the next batch should go out at once (a backlog is draining).
fn receive_sync(shared: &Shared, batch: &Batch, num_headers: usize, body_size: usize) -> bool {
    let host = shared.host();
    let now = now_millis();
    let answer = match callout_status(num_headers) {
        Some(200) => callout_body(body_size, MAX_ANSWER_BYTES),
        _ => None,
    };
    match answer.and_then(|body| sync::apply_answer(&host, batch, &body, now)) {
        Some(applied) => {
            host.count(Metric::SyncBatches, 1);
            host.count(Metric::SessionsLive, applied.live_delta);
            if applied.revoked > 0 {
                log(
                    LogLevel::Info,
                    &format!("{} session(s) revoked by the sidecar", applied.revoked),
                );
            }
            sync::drain_next(&host, &applied, now)
        }
        None => {
            host.count(Metric::SyncErrors, 1);
            false
        }
    }
}
