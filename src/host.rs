//! The core's host ports over proxy-wasm: each port call is exactly one host call, so the
//! core's call counts (core/src/tests/engine/engine.rs) are the wasm filter's.

use std::cell::{Cell, OnceCell};
use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::types::{Action, BufferType, MapType, MetricType, Status};
use session_core::engine::driver::{Answer, Dispatch, Port, Started};
use session_core::engine::Engine;
use session_core::metrics::Metric;
use session_core::ports::{Call, Host, Request, SetError, SharedData};
use session_core::reply::Reply;
use session_core::request::filter::HeaderEdit;

/// What every context of a VM shares: the engine, stat ids, and the clock of the last tick.
pub struct Shared {
    pub engine: Engine,
    stats: Vec<Option<u32>>,
    clock: Cell<u64>,
}

impl Shared {
    /// Defines the stats once per VM. Envoy hands every VM the same stat for the same name,
    /// so counts from all workers add up.
    pub fn new(engine: Engine) -> Shared {
        let stats = Metric::ALL
            .iter()
            .map(|m| {
                let kind = if m.is_gauge() {
                    MetricType::Gauge
                } else {
                    MetricType::Counter
                };
                hostcalls::define_metric(kind, m.name()).ok()
            })
            .collect();
        Shared {
            engine,
            stats,
            clock: Cell::new(0),
        }
    }

    /// Reads the host's clock; the timer does this once per tick for every request.
    pub fn tick_clock(&self) -> u64 {
        let now = read_clock();
        self.clock.set(now);
        now
    }

    /// The time of the last tick; before the first tick, the host's clock.
    pub fn now(&self) -> u64 {
        match self.clock.get() {
            0 => self.tick_clock(),
            now => now,
        }
    }
}

fn read_clock() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as u64)
}

impl SharedData for Shared {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        hostcalls::get_shared_data(key).unwrap_or((None, None))
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SetError> {
        match hostcalls::set_shared_data(key, Some(value), cas) {
            Ok(()) => Ok(()),
            Err(Status::CasMismatch) => Err(SetError::CasMismatch),
            Err(_) => Err(SetError::Host),
        }
    }
}

impl Host for Shared {
    fn count(&self, metric: Metric, delta: i64) {
        if delta == 0 {
            return;
        }
        if let Some(Some(id)) = self.stats.get(metric.index()) {
            // A stat that cannot be updated is not worth failing a request for.
            let _ = hostcalls::increment_metric(*id, delta);
        }
    }

    fn record(&self, metric: Metric, value: u64) {
        if let Some(Some(id)) = self.stats.get(metric.index()) {
            let _ = hostcalls::record_metric(*id, value);
        }
    }

    fn clock(&self) -> u64 {
        read_clock()
    }

    fn random(&self, buf: &mut [u8]) -> bool {
        getrandom::getrandom(buf).is_ok()
    }
}

/// The current request's headers, all read in one host call the first time the core asks.
#[derive(Default)]
pub struct Headers(OnceCell<Vec<(String, Vec<u8>)>>);

impl Headers {
    fn all(&self) -> &[(String, Vec<u8>)] {
        self.0.get_or_init(|| {
            hostcalls::get_map_bytes(MapType::HttpRequestHeaders)
                .map(|map| map.into_iter().map(|(k, v)| (k, v.to_vec())).collect())
                .unwrap_or_default()
        })
    }
}

impl Request for Headers {
    fn header(&self, name: &str) -> Option<Vec<u8>> {
        self.all()
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    fn names(&self) -> Vec<&[u8]> {
        self.all().iter().map(|(k, _)| k.as_bytes()).collect()
    }
}

pub fn send(reply: &Reply) -> Action {
    let headers: Vec<(&str, &str)> = reply
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if let Err(status) =
        hostcalls::send_http_response(reply.status, headers, Some(reply.body.as_bytes()))
    {
        log::error!("could not send a reply: {status:?}");
    }
    Action::Pause
}

/// How the core's driver makes calls and carries out outcomes here. Calls are answered to
/// the context that made them, through `on_http_call_response`; never from inside the
/// dispatch.
pub struct Proxy;

impl Dispatch for Proxy {
    type Id = u32;

    fn start(&mut self, call: &Call) -> Started<u32> {
        let headers: Vec<(&str, &str)> =
            call.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let timeout = Duration::from_millis(call.timeout_ms);
        match hostcalls::dispatch_http_call(
            &call.cluster,
            headers,
            call.body.as_deref(),
            vec![],
            timeout,
        ) {
            Ok(id) => Started::Pending(id),
            Err(status) => {
                log::warn!(
                    "call to cluster {:?} failed to start: {status:?}",
                    call.cluster
                );
                Started::Failed
            }
        }
    }
}

impl Port for Proxy {
    fn forward(&mut self, edits: Vec<HeaderEdit<'_>>) {
        for edit in edits {
            let _ = match edit {
                HeaderEdit::Set(name, value) => {
                    hostcalls::set_map_value_bytes(MapType::HttpRequestHeaders, name, Some(&value))
                }
                HeaderEdit::Remove(name) => {
                    hostcalls::set_map_value_bytes(MapType::HttpRequestHeaders, name, None)
                }
                HeaderEdit::RemoveName(name) => {
                    hostcalls::set_map_value_bytes(MapType::HttpRequestHeaders, &name, None)
                }
            };
        }
    }

    fn reply(&mut self, reply: Reply) {
        send(&reply);
    }
}

/// A callout's answer as `on_http_call_response` reports it; read through the driver's cap.
pub struct CallAnswer {
    pub num_headers: usize,
    pub body_size: usize,
}

impl CallAnswer {
    /// The sizes Envoy reports with `on_http_call_response`.
    pub fn new(num_headers: usize, body_size: usize) -> CallAnswer {
        CallAnswer {
            num_headers,
            body_size,
        }
    }
}

impl Answer for CallAnswer {
    /// Envoy reports zero headers when there was none (timeout, reset, connection refused).
    fn arrived(&self) -> bool {
        self.num_headers != 0
    }

    fn status(&self) -> Option<u32> {
        hostcalls::get_map_value_bytes(MapType::HttpCallResponseHeaders, ":status")
            .ok()
            .flatten()
            .and_then(|v| std::str::from_utf8(&v).ok().and_then(|s| s.parse().ok()))
    }

    fn size(&self) -> usize {
        self.body_size
    }

    fn body(self) -> Option<Vec<u8>> {
        hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, self.body_size)
            .ok()
            .flatten()
    }
}
