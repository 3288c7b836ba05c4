//! The one place the filter's logic meets Envoy's shared data and stats.

use proxy_wasm::hostcalls;
use proxy_wasm::types::{MetricType, Status};
use session_core::filter::Host;
use session_core::metrics::Metric;
use session_core::store::{SetError, SharedData};

/// Stat ids, defined once per VM. Envoy hands every VM the same stat for the same name, so
/// counts from all workers add up.
#[derive(Debug, Default)]
pub struct Stats {
    ids: Vec<Option<u32>>,
}

impl Stats {
    pub fn define() -> Stats {
        let ids = Metric::ALL
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
        Stats { ids }
    }
}

pub struct EnvoyHost<'a> {
    pub stats: &'a Stats,
}

impl SharedData for EnvoyHost<'_> {
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

impl Host for EnvoyHost<'_> {
    fn count(&self, metric: Metric, delta: i64) {
        if delta == 0 {
            return;
        }
        if let Some(Some(id)) = self.stats.ids.get(metric.index()) {
            // A stat that cannot be updated is not worth failing a request for.
            let _ = hostcalls::increment_metric(*id, delta);
        }
    }

    fn record(&self, metric: Metric, value: u64) {
        if let Some(Some(id)) = self.stats.ids.get(metric.index()) {
            let _ = hostcalls::record_metric(*id, value);
        }
    }
}

/// Milliseconds since the epoch, read once per callback and passed down.
pub fn now_millis() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as u64)
}

/// The `:status` of a callout answer, or `None` when there was no answer (timeout, reset,
/// connection refused: Envoy then reports zero headers).
pub fn callout_status(num_headers: usize) -> Option<u32> {
    if num_headers == 0 {
        return None;
    }
    hostcalls::get_map_value_bytes(
        proxy_wasm::types::MapType::HttpCallResponseHeaders,
        ":status",
    )
    .ok()
    .flatten()
    .and_then(|v| std::str::from_utf8(&v).ok().and_then(|s| s.parse().ok()))
}

/// The body of a callout answer, if it is no larger than `max` bytes.
pub fn callout_body(body_size: usize, max: usize) -> Option<Vec<u8>> {
    if body_size > max {
        return None;
    }
    if body_size == 0 {
        return Some(Vec::new());
    }
    hostcalls::get_buffer(
        proxy_wasm::types::BufferType::HttpCallResponseBody,
        0,
        body_size,
    )
    .ok()
    .flatten()
}
