//! The core's ports over Envoy's dynamic-module callbacks, and the two objects Envoy holds:
//! a filter config (one per filter in the Envoy config, shared by all workers) and a filter
//! (one per request, on its worker's thread).

use std::cell::RefCell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use session_core::config::Config;
use session_core::engine::driver::{
    self, Dispatch, Done, Port, RequestDriver, Started, TimerDriver,
};
use session_core::engine::timer::{Timer, TICK_MS};
use session_core::engine::Engine;
use session_core::metrics::Metric;
use session_core::ports::{Call, Host, Request, Response, SetError, SharedData};
use session_core::reply::Reply;
use session_core::request::filter::HeaderEdit;
use session_core::session::memory::MemoryStore;
use session_core::time::Millis;

use crate::abi::*;

/// Sessions and every other piece of shared state: all workers are threads of this process.
fn store() -> &'static MemoryStore {
    static STORE: OnceLock<MemoryStore> = OnceLock::new();
    STORE.get_or_init(MemoryStore::default)
}

/// An Envoy-owned pointer, used only on the threads Envoy allows for it.
#[derive(Clone, Copy)]
struct EnvoyPtr(*mut c_void);
// SAFETY: the config pointer and the scheduler are documented by Envoy as usable from any
// thread for stats and scheduler commits; everything else is called on the hook's thread.
unsafe impl Send for EnvoyPtr {}
unsafe impl Sync for EnvoyPtr {}

/// The `log` facade's events (the core's and this host's) go to Envoy's own log through the
/// ABI's log callback, as the wasm filter's go through proxy-wasm's.
struct EnvoyLog;

impl log::Log for EnvoyLog {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            log::Level::Error => LOG_ERROR,
            log::Level::Warn => LOG_WARN,
            log::Level::Info => LOG_INFO,
            log::Level::Debug | log::Level::Trace => LOG_DEBUG,
        };
        let message = record.args().to_string();
        // SAFETY: the message outlives the call; Envoy's logger may be called from any thread.
        unsafe { envoy_dynamic_module_callback_log(level, ModuleBuffer::of(message.as_bytes())) }
    }

    fn flush(&self) {}
}

/// Installs the Envoy logger at `info` (once per process: the module is loaded once).
pub fn init_log() {
    static LOGGER: EnvoyLog = EnvoyLog;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}

struct Ticker {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
    scheduler: EnvoyPtr,
}

pub struct ModuleConfig {
    engine: Engine,
    envoy: EnvoyPtr,
    stats: Vec<Option<usize>>,
    timer: Mutex<TimerDriver<u64>>,
    /// An answer to a timer call given from inside its dispatch.
    inline: Inline,
    ticker: Mutex<Option<Ticker>>,
}

fn define(config: *mut c_void, metric: Metric) -> Option<usize> {
    let mut id = 0usize;
    let name = ModuleBuffer::of(metric.name().as_bytes());
    // SAFETY: called from config_new on the main thread with Envoy's config pointer.
    let result = unsafe {
        if metric.is_gauge() {
            envoy_dynamic_module_callback_http_filter_config_define_gauge(
                config,
                name,
                std::ptr::null(),
                0,
                &mut id,
            )
        } else {
            envoy_dynamic_module_callback_http_filter_config_define_counter(
                config,
                name,
                std::ptr::null(),
                0,
                &mut id,
            )
        }
    };
    (result == METRICS_SUCCESS).then_some(id)
}

impl ModuleConfig {
    pub fn new(envoy: *mut c_void, json: &[u8]) -> Option<Arc<ModuleConfig>> {
        let config = match Config::parse(json) {
            Ok(config) => config,
            Err(e) => {
                log::error!("refusing the configuration: {e}");
                return None;
            }
        };
        let stats = Metric::ALL.iter().map(|m| define(envoy, *m)).collect();
        let mut seed = [0u8; 2];
        let _ = getrandom::getrandom(&mut seed);
        let config = Arc::new(ModuleConfig {
            engine: Engine::new(config),
            envoy: EnvoyPtr(envoy),
            stats,
            timer: Mutex::new(TimerDriver::new(Timer::new(u16::from_le_bytes(seed)))),
            inline: Inline::default(),
            ticker: Mutex::new(None),
        });
        config.start_ticker();
        Some(config)
    }

    /// The timer: a thread that asks Envoy's main thread to run [`ModuleConfig::tick`]
    /// every TICK_MS (Envoy has no periodic timer for a filter config; its scheduler is a
    /// one-shot post to the main thread).
    fn start_ticker(&self) {
        // SAFETY: main thread, Envoy's config pointer.
        let scheduler =
            unsafe { envoy_dynamic_module_callback_http_filter_config_scheduler_new(self.envoy.0) };
        if scheduler.is_null() {
            log::error!("no scheduler: sessions will not be swept");
            return;
        }
        let scheduler = EnvoyPtr(scheduler);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let spawned = std::thread::Builder::new()
            .name("auth0-session-tick".into())
            .spawn(move || {
                let scheduler = scheduler;
                while !flag.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(TICK_MS));
                    if flag.load(Ordering::Acquire) {
                        break;
                    }
                    // SAFETY: the scheduler lives until stop() joined this thread.
                    unsafe {
                        envoy_dynamic_module_callback_http_filter_config_scheduler_commit(
                            scheduler.0,
                            0,
                        )
                    };
                }
            });
        match spawned {
            Ok(thread) => {
                *self.ticker.lock().unwrap_or_else(PoisonError::into_inner) = Some(Ticker {
                    stop,
                    thread,
                    scheduler,
                })
            }
            Err(e) => log::error!("no timer thread: {e}"),
        }
    }

    /// Stops the timer before Envoy frees the config.
    pub fn stop(&self) {
        let ticker = self
            .ticker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(t) = ticker {
            t.stop.store(true, Ordering::Release);
            let _ = t.thread.join();
            // SAFETY: no commit can follow: the only committer has exited.
            unsafe {
                envoy_dynamic_module_callback_http_filter_config_scheduler_delete(t.scheduler.0)
            };
        }
    }

    fn host(&self, filter: *mut c_void) -> ModuleHost<'_> {
        ModuleHost {
            config: self,
            filter,
        }
    }

    /// One timer tick, on the main thread.
    pub fn tick(&self) {
        self.with_timer(|timer, host, now, port| timer.tick(&self.engine, host, now, port));
    }

    /// A timer call was answered, on the main thread.
    pub fn timer_answered(&self, id: u64, answer: Answer<'_>) {
        // From inside the dispatch, the timer is locked by the tick: the dispatch takes it.
        if self.inline.catch(&answer) {
            return;
        }
        self.with_timer(|timer, host, now, port| {
            timer.on_response(&self.engine, host, id, &answer, now, port);
        });
    }

    /// Runs `f` on the timer, locked, with the main thread's host, clock and call port.
    fn with_timer(
        &self,
        f: impl FnOnce(&mut TimerDriver<u64>, &ModuleHost<'_>, Millis, &mut TimerPort<'_>),
    ) {
        let host = self.host(std::ptr::null_mut());
        let now = host.clock();
        let mut port = TimerPort { config: self };
        let mut timer = self.timer.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut timer, &host, now, &mut port);
    }
}

/// How the timer's calls are made: from the filter config, on the main thread.
struct TimerPort<'a> {
    config: &'a ModuleConfig,
}

impl Dispatch for TimerPort<'_> {
    type Id = u64;

    fn start(&mut self, call: &Call) -> Started<u64> {
        let envoy = self.config.envoy.0;
        self.config
            .inline
            .dispatch(call, |cluster, headers, n, body, timeout, id| {
                // SAFETY: main thread (scheduled event or callout answer); buffers outlive
                // the call.
                unsafe {
                    envoy_dynamic_module_callback_http_filter_config_http_callout(
                        envoy, id, cluster, headers, n, body, timeout,
                    )
                }
            })
    }
}

/// Envoy may answer a call from inside its dispatch (one that fails at once is answered
/// before the dispatch returns). That answer is caught here and handed to the driver as
/// [`Started::Now`], rather than run into the driver while it is mid-loop (and, for the
/// timer, holds its lock).
#[derive(Default)]
struct Inline(Mutex<Option<Caught>>);

/// A dispatch under way: the cap of its call, and its answer if one came.
struct Caught {
    max: usize,
    answer: Option<Response>,
}

impl Inline {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Caught>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes a callout through `start`, which is handed the call's parts as Envoy wants
    /// them, catching an answer given during it.
    fn dispatch(
        &self,
        call: &Call,
        start: impl FnOnce(ModuleBuffer, *const ModuleHeader, usize, ModuleBuffer, u64, *mut u64) -> u32,
    ) -> Started<u64> {
        let headers: Vec<ModuleHeader> = call
            .headers
            .iter()
            .map(|(k, v)| ModuleHeader::of(k, v.as_bytes()))
            .collect();
        let body = ModuleBuffer::of(call.body.as_deref().unwrap_or_default());
        let mut id = 0u64;
        *self.slot() = Some(Caught {
            max: call.max_answer,
            answer: None,
        });
        let result = start(
            ModuleBuffer::of(call.cluster.as_bytes()),
            headers.as_ptr(),
            headers.len(),
            body,
            call.timeout_ms,
            &mut id,
        );
        let caught = self.slot().take().and_then(|c| c.answer);
        match caught {
            Some(response) => Started::Now(response),
            None if result == CALLOUT_INIT_SUCCESS => Started::Pending(id),
            None => {
                log::warn!(
                    "call to cluster {:?} failed to start: {result}",
                    call.cluster
                );
                Started::Failed
            }
        }
    }

    /// Keeps `answer` when it came from inside a dispatch; false when none is under way.
    fn catch(&self, answer: &Answer<'_>) -> bool {
        match self.slot().as_mut() {
            Some(caught) => {
                caught.answer = Some(driver::read(answer, caught.max));
                true
            }
            None => false,
        }
    }
}

/// The host of one call into the core: shared state, stats (through the request's filter
/// when there is one, else through the config), log, randomness, clock.
struct ModuleHost<'a> {
    config: &'a ModuleConfig,
    filter: *mut c_void,
}

impl SharedData for ModuleHost<'_> {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        store().get(key)
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SetError> {
        store().set(key, value, cas)
    }
}

impl Host for ModuleHost<'_> {
    fn count(&self, metric: Metric, delta: i64) {
        let Some(Some(id)) = self.config.stats.get(metric.index()).copied() else {
            return;
        };
        if delta == 0 {
            return;
        }
        let value = delta.unsigned_abs();
        let (f, c) = (self.filter, self.config.envoy.0);
        let none = std::ptr::null();
        // SAFETY: ids from define_*; the filter pointer is the current request's, on its
        // thread; the config pointer is valid while any filter or the config lives.
        unsafe {
            match (metric.is_gauge(), delta > 0, f.is_null()) {
                (false, _, false) => envoy_dynamic_module_callback_http_filter_increment_counter(
                    f, id, none, 0, value,
                ),
                (false, _, true) => {
                    envoy_dynamic_module_callback_http_filter_config_increment_counter(
                        c, id, none, 0, value,
                    )
                }
                (true, true, false) => {
                    envoy_dynamic_module_callback_http_filter_increment_gauge(f, id, none, 0, value)
                }
                (true, false, false) => {
                    envoy_dynamic_module_callback_http_filter_decrement_gauge(f, id, none, 0, value)
                }
                (true, true, true) => {
                    envoy_dynamic_module_callback_http_filter_config_increment_gauge(
                        c, id, none, 0, value,
                    )
                }
                (true, false, true) => {
                    envoy_dynamic_module_callback_http_filter_config_decrement_gauge(
                        c, id, none, 0, value,
                    )
                }
            };
        }
    }

    fn record(&self, metric: Metric, value: u64) {
        if let Some(Some(id)) = self.config.stats.get(metric.index()).copied() {
            // SAFETY: as in count.
            unsafe {
                envoy_dynamic_module_callback_http_filter_config_set_gauge(
                    self.config.envoy.0,
                    id,
                    std::ptr::null(),
                    0,
                    value,
                );
            }
        }
    }

    fn random(&self, buf: &mut [u8]) -> bool {
        getrandom::getrandom(buf).is_ok()
    }
}

/// The request's headers, all read (two native calls) the first time the core asks; views
/// into Envoy's header map, valid during the hook.
struct Headers<'a> {
    filter: *mut c_void,
    all: std::cell::OnceCell<Vec<(&'a [u8], &'a [u8])>>,
}

impl Headers<'_> {
    fn new(filter: *mut c_void) -> Self {
        Headers {
            filter,
            all: std::cell::OnceCell::new(),
        }
    }

    fn all(&self) -> &[(&[u8], &[u8])] {
        self.all.get_or_init(|| {
            // SAFETY: the filter pointer is the current request's, on its thread; the views
            // stay valid while this hook runs and no header is changed (edits come after).
            unsafe {
                let n = envoy_dynamic_module_callback_http_get_headers_size(
                    self.filter,
                    REQUEST_HEADER,
                );
                let mut raw: Vec<EnvoyHeader> = (0..n)
                    .map(|_| EnvoyHeader {
                        key_ptr: std::ptr::null(),
                        key_len: 0,
                        value_ptr: std::ptr::null(),
                        value_len: 0,
                    })
                    .collect();
                if n == 0
                    || !envoy_dynamic_module_callback_http_get_headers(
                        self.filter,
                        REQUEST_HEADER,
                        raw.as_mut_ptr(),
                    )
                {
                    return Vec::new();
                }
                raw.iter()
                    .map(|h| {
                        (
                            crate::bytes(h.key_ptr, h.key_len),
                            crate::bytes(h.value_ptr, h.value_len),
                        )
                    })
                    .collect()
            }
        })
    }
}

impl Request for Headers<'_> {
    fn header(&self, name: &str) -> Option<Vec<u8>> {
        self.all()
            .iter()
            .find(|(k, _)| *k == name.as_bytes())
            .map(|(_, v)| v.to_vec())
    }

    fn names(&self) -> Vec<&[u8]> {
        self.all().iter().map(|(k, _)| *k).collect()
    }
}

/// A callout's answer as Envoy hands it over, valid for the duration of the hook.
pub struct Answer<'a> {
    result: u32,
    headers: &'a [EnvoyHeader],
    chunks: &'a [EnvoyBuffer],
}

impl<'a> Answer<'a> {
    pub fn new(
        result: u32,
        headers: *const EnvoyHeader,
        headers_len: usize,
        chunks: *const EnvoyBuffer,
        chunks_len: usize,
    ) -> Answer<'a> {
        // SAFETY: Envoy's arrays, valid during the hook; null or empty means none.
        let headers = if headers.is_null() {
            &[][..]
        } else {
            unsafe { std::slice::from_raw_parts(headers, headers_len) }
        };
        let chunks = if chunks.is_null() {
            &[][..]
        } else {
            unsafe { std::slice::from_raw_parts(chunks, chunks_len) }
        };
        Answer {
            result,
            headers,
            chunks,
        }
    }
}

/// Read through the driver's cap: a failed callout is no answer; the body is the chunks
/// joined, copied only when it fits.
impl driver::Answer for &Answer<'_> {
    fn arrived(&self) -> bool {
        self.result == CALLOUT_SUCCESS
    }

    fn status(&self) -> Option<u32> {
        self.headers
            .iter()
            .find(|h| crate::bytes(h.key_ptr, h.key_len) == b":status")
            .and_then(|h| std::str::from_utf8(crate::bytes(h.value_ptr, h.value_len)).ok())
            .and_then(|s| s.parse().ok())
    }

    fn size(&self) -> usize {
        self.chunks.iter().map(|c| c.len).sum()
    }

    fn body(self) -> Option<Vec<u8>> {
        let mut body = Vec::with_capacity(self.size());
        for c in self.chunks {
            body.extend_from_slice(crate::bytes(c.ptr, c.len));
        }
        Some(body)
    }
}

fn send(filter: *mut c_void, reply: &Reply) -> u32 {
    let headers: Vec<ModuleHeader> = reply
        .headers
        .iter()
        .map(|(k, v)| ModuleHeader::of(k, v.as_bytes()))
        .collect();
    // SAFETY: the filter pointer is the current request's; buffers outlive the call.
    unsafe {
        envoy_dynamic_module_callback_http_send_response(
            filter,
            reply.status,
            headers.as_ptr(),
            headers.len(),
            ModuleBuffer::of(reply.body.as_bytes()),
            ModuleBuffer::of(b"auth0_session"),
        )
    };
    HEADERS_STOP_ITERATION
}

/// The answer when the module itself failed (a caught panic): 503, never a pass.
pub fn fail_closed(filter: *mut c_void) -> u32 {
    crate::guard(HEADERS_STOP_ITERATION, || {
        send(
            filter,
            &Reply::error(503, "internal_error", "the auth filter failed; try again"),
        )
    })
}

fn forward(filter: *mut c_void, edits: Vec<HeaderEdit<'_>>) {
    for edit in edits {
        let (name, value) = match &edit {
            HeaderEdit::Set(name, value) => (*name, value.as_slice()),
            HeaderEdit::Remove(name) => (*name, &[][..]),
            HeaderEdit::RemoveName(name) => (name.as_str(), &[][..]),
        };
        // SAFETY: as in send. An empty value removes the header.
        unsafe {
            envoy_dynamic_module_callback_http_set_header(
                filter,
                REQUEST_HEADER,
                ModuleBuffer::of(name.as_bytes()),
                ModuleBuffer::of(value),
            )
        };
    }
}

/// One request. At most one call is in flight for it.
pub struct Filter {
    config: Arc<ModuleConfig>,
    driver: RefCell<RequestDriver<u64>>,
    /// An answer given from inside the dispatch of this request's call.
    inline: Inline,
}

/// How the driver carries out a request's outcome on this filter.
struct FilterPort<'a> {
    envoy: *mut c_void,
    inline: &'a Inline,
}

impl Dispatch for FilterPort<'_> {
    type Id = u64;

    fn start(&mut self, call: &Call) -> Started<u64> {
        let envoy = self.envoy;
        self.inline
            .dispatch(call, |cluster, headers, n, body, timeout, id| {
                // SAFETY: the filter pointer is the current request's.
                unsafe {
                    envoy_dynamic_module_callback_http_filter_http_callout(
                        envoy, id, cluster, headers, n, body, timeout,
                    )
                }
            })
    }
}

impl Port for FilterPort<'_> {
    fn forward(&mut self, edits: Vec<HeaderEdit<'_>>) {
        forward(self.envoy, edits);
    }

    fn reply(&mut self, reply: Reply) {
        send(self.envoy, &reply);
    }
}

impl Filter {
    pub fn new(config: Arc<ModuleConfig>, _envoy: *mut c_void) -> Filter {
        Filter {
            config,
            driver: RefCell::new(RequestDriver::default()),
            inline: Inline::default(),
        }
    }

    fn port(&self, envoy: *mut c_void) -> FilterPort<'_> {
        FilterPort {
            envoy,
            inline: &self.inline,
        }
    }

    pub fn on_request_headers(&self, envoy: *mut c_void) -> u32 {
        let host = self.config.host(envoy);
        let done = self.driver.borrow_mut().on_request(
            &self.config.engine,
            &host,
            &Headers::new(envoy),
            host.clock(),
            &mut self.port(envoy),
        );
        match done {
            Done::Forwarded => HEADERS_CONTINUE,
            Done::Replied => HEADERS_STOP_ITERATION,
            Done::Paused => HEADERS_STOP_ALL_AND_BUFFER,
        }
    }

    pub fn on_callout_done(&self, envoy: *mut c_void, id: u64, answer: Answer<'_>) {
        // From inside the dispatch, the driver is mid-loop: the dispatch takes the answer.
        if self.inline.catch(&answer) {
            return;
        }
        let host = self.config.host(envoy);
        let done = self.driver.borrow_mut().on_response(
            &self.config.engine,
            &host,
            &Headers::new(envoy),
            id,
            &answer,
            &mut self.port(envoy),
        );
        if done == Some(Done::Forwarded) {
            // SAFETY: the request is ours and stopped.
            unsafe { envoy_dynamic_module_callback_http_filter_continue_decoding(envoy) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_core::engine::driver::read;

    fn header(k: &'static [u8], v: &'static [u8]) -> EnvoyHeader {
        EnvoyHeader {
            key_ptr: k.as_ptr().cast(),
            key_len: k.len(),
            value_ptr: v.as_ptr().cast(),
            value_len: v.len(),
        }
    }

    fn chunk(b: &'static [u8]) -> EnvoyBuffer {
        EnvoyBuffer {
            ptr: b.as_ptr().cast(),
            len: b.len(),
        }
    }

    #[test]
    fn an_answer_is_read_up_to_its_limit() {
        let headers = [header(b"content-type", b"x"), header(b":status", b"200")];
        let chunks = [chunk(b"{\"a\""), chunk(b":1}")];
        let a = Answer::new(CALLOUT_SUCCESS, headers.as_ptr(), 2, chunks.as_ptr(), 2);
        assert_eq!(
            read(&a, 100),
            Response {
                status: Some(200),
                body: Some(b"{\"a\":1}".to_vec())
            }
        );
        assert_eq!(read(&a, 6).body, None, "larger than the limit: no body");
        assert_eq!(read(&a, 6).status, Some(200));
    }

    #[test]
    fn a_reset_or_missing_answer_is_no_answer() {
        let a = Answer::new(1, std::ptr::null(), 0, std::ptr::null(), 0);
        assert_eq!(read(&a, 100), Response::none());
        let a = Answer::new(CALLOUT_SUCCESS, std::ptr::null(), 0, std::ptr::null(), 0);
        assert_eq!(read(&a, 100).status, None);
        assert_eq!(read(&a, 100).body, Some(Vec::new()));
    }
}
