//! The timer's work (docs/ARCHITECTURE.md §2): every [`TICK_MS`] a host calls
//! [`Timer::tick`] and dispatches the calls it returns (JWKS refresh, sidecar sync); once a
//! second the tick also sweeps a slice of the session buckets and publishes the store gauges
//! when a full pass ends. Each host instance (a wasm VM per worker, the module's main thread)
//! keeps one `Timer`; process-wide claims in shared data make sure that of all of them only
//! one fetches or syncs at a time.

use crate::engine::Engine;
use crate::idp::{self, Callout, Purpose};
use crate::limiter;
use crate::login::key_cache;
use crate::login::profile;
use crate::login::profile::token::{self, Cached};
use crate::metrics::Metric;
use crate::ports::{Call, Host, Response};
use crate::request::filter::sidecar_call;
use crate::session::store::BUCKETS;
use crate::session::sync::{self, Batch, SYNC_INTERVAL_MS};
use crate::time::Millis;

/// Fast enough that a first JWKS fetch that failed is retried promptly (the retry itself is
/// limited to one per 5 s process-wide), and that a host may serve the tick's time as the
/// clock of every request (at most this stale).
pub const TICK_MS: u64 = 200;
const TICKS_PER_SECOND: u64 = 1_000 / TICK_MS;

/// Buckets swept per second per timer: a full pass takes BUCKETS / SWEEP_PER_TICK seconds.
pub const SWEEP_PER_TICK: usize = 512;

/// What one full sweep pass saw, published as the store gauges when the pass ends.
#[derive(Debug, Default)]
struct Pass {
    swept: usize,
    keys: u64,
    bytes: u64,
}

/// A timer call in flight; the host gives it back with the answer.
#[derive(Debug)]
pub enum TimerCall {
    Jwks,
    Sync(Batch),
    /// The client-credentials token of identity API `i`, fetched ahead of need.
    ProfileToken(usize),
}

#[derive(Debug, Default)]
pub struct Timer {
    jwks_in_flight: bool,
    sync_in_flight: bool,
    sweep_cursor: usize,
    pass: Pass,
    ticks: u64,
}

impl Timer {
    /// `seed` spreads the sweep: each instance starts at a different bucket, so workers
    /// share the work.
    pub fn new(seed: u16) -> Timer {
        Timer {
            sweep_cursor: usize::from(seed) % BUCKETS,
            ..Timer::default()
        }
    }

    /// One tick: the calls to make now. Sweeping happens here, in shared data.
    pub fn tick(
        &mut self,
        engine: &Engine,
        host: &dyn Host,
        now: Millis,
    ) -> Vec<(Call, TimerCall)> {
        let mut calls = Vec::new();
        let config = engine.config();
        if !self.jwks_in_flight && key_cache::claim_refresh(host, now) {
            self.jwks_in_flight = true;
            let call = idp::call(config, &Callout::Jwks, Purpose::Login, "", None);
            calls.push((call, TimerCall::Jwks));
        }
        calls.extend(profile_tokens_due(engine, host, now));
        self.ticks += 1;
        if !self.ticks.is_multiple_of(TICKS_PER_SECOND) {
            return calls;
        }
        if !self.sync_in_flight
            && config.sidecar.is_some()
            && limiter::claim(host, sync::LOCK_KEY, now, SYNC_INTERVAL_MS)
        {
            let mut batch = sync::build_batch(host, now);
            let body = Some(std::mem::take(&mut batch.body));
            if let Some(call) = sidecar_call(&engine.filter, "POST", "/sync".to_string(), body) {
                self.sync_in_flight = true;
                calls.push((call, TimerCall::Sync(batch)));
            }
        }
        for _ in 0..SWEEP_PER_TICK {
            if let Some(size) = engine.filter.sweep(host, self.sweep_cursor, now) {
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
        calls
    }

    /// A timer call was answered. Returns the calls to make at once: the next sync batch
    /// while a backlog drains (see [`sync::drain_next`]).
    pub fn on_response(
        &mut self,
        engine: &Engine,
        host: &dyn Host,
        call: TimerCall,
        response: Response,
        now: Millis,
    ) -> Vec<(Call, TimerCall)> {
        match call {
            TimerCall::Jwks => {
                self.jwks_in_flight = false;
                engine.receive_jwks(host, &response, now);
                Vec::new()
            }
            TimerCall::ProfileToken(i) => {
                let Some(api) = engine.config().profile.get(i) else {
                    return Vec::new();
                };
                let body = response.body.unwrap_or_default();
                match token::store(host, &api.name, now, response.status, &body) {
                    Ok(_) => {
                        host.count(Metric::ProfileTokenFetched, 1);
                        log::info!("identity API {}: token fetched", api.name);
                    }
                    Err(why) => log::warn!("identity API {}: token fetch failed: {why}", api.name),
                }
                Vec::new()
            }
            TimerCall::Sync(batch) => {
                self.sync_in_flight = false;
                if !receive_sync(host, &batch, response, now) {
                    return Vec::new();
                }
                let mut batch = sync::build_batch(host, now);
                let body = Some(std::mem::take(&mut batch.body));
                match sidecar_call(&engine.filter, "POST", "/sync".to_string(), body) {
                    Some(call) => {
                        self.sync_in_flight = true;
                        vec![(call, TimerCall::Sync(batch))]
                    }
                    None => Vec::new(),
                }
            }
        }
    }

    /// A timer call could not be made; it is tried again on a later tick.
    pub fn on_dispatch_failed(&mut self, host: &dyn Host, call: TimerCall) {
        match call {
            TimerCall::Jwks => {
                self.jwks_in_flight = false;
                host.count(Metric::JwksFetchFailed, 1);
            }
            TimerCall::Sync(_) => {
                self.sync_in_flight = false;
                host.count(Metric::SyncErrors, 1);
            }
            // Its claim lapses after the fetch's timeout; a later tick tries again.
            TimerCall::ProfileToken(_) => {}
        }
    }
}

/// The identity APIs' tokens to fetch now: missing or due, and claimed by this timer (one
/// fetch per API at a time across every worker), so that logins find one ready.
fn profile_tokens_due(engine: &Engine, host: &dyn Host, now: Millis) -> Vec<(Call, TimerCall)> {
    let config = engine.config();
    let hold = profile::fetch_hold_ms(config);
    config
        .profile
        .iter()
        .enumerate()
        .filter(|(_, api)| api.token.is_some())
        .filter(|(_, api)| !matches!(token::cached(host, &api.name, now), Cached::Fresh(_)))
        .filter(|(_, api)| token::claim_fetch(host, &api.name, now, hold))
        .filter_map(|(i, _)| {
            Some((
                idp::client_credentials(config, i)?,
                TimerCall::ProfileToken(i),
            ))
        })
        .collect()
}

/// Applies the sidecar's answer to a sync batch; a failed batch is simply built again.
/// True when the next batch should go out at once (a backlog is draining).
fn receive_sync(host: &dyn Host, batch: &Batch, response: Response, now: Millis) -> bool {
    let answer = match response.status {
        Some(200) => response.body,
        _ => None,
    };
    match answer.and_then(|body| sync::apply_answer(host, batch, &body, now)) {
        Some(applied) => {
            host.count(Metric::SyncBatches, 1);
            host.count(Metric::SessionsLive, applied.live_delta);
            if applied.revoked > 0 {
                log::info!("{} session(s) revoked by the sidecar", applied.revoked);
            }
            sync::drain_next(host, &applied, now)
        }
        None => {
            host.count(Metric::SyncErrors, 1);
            false
        }
    }
}

#[cfg(test)]
#[path = "../tests/engine/timer.rs"]
mod tests;
