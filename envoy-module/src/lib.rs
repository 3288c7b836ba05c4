//! envoy-auth0-session as a native Envoy dynamic module: the same core as the wasm filter,
//! driven through Envoy's dynamic-module C ABI instead of proxy-wasm. Like `src/`, this is
//! host calls only: it implements the core's ports (docs/ARCHITECTURE.md §2) and carries out
//! what `session_core` returns.
//!
//! Every exported function catches panics: a bug must fail one request closed, never unwind
//! into Envoy (which would abort the whole proxy).

mod abi;
#[cfg(test)]
mod alloc_test;
mod headers;
mod host;

use std::cell::RefCell;
use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use abi::*;
use host::{Filter, ModuleConfig};

/// Runs `f`, turning a panic into `fallback`.
fn guard<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

fn bytes<'a>(ptr: *const c_char, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: Envoy hands us a buffer it owns for the duration of the call.
    unsafe { std::slice::from_raw_parts(ptr.cast(), len) }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_program_init() -> *const c_char {
    guard((), host::init_log);
    ABI_VERSION.as_ptr()
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_new(
    config_envoy: *mut c_void,
    _name: EnvoyBuffer,
    config: EnvoyBuffer,
) -> *const c_void {
    guard(std::ptr::null(), || {
        match ModuleConfig::new(config_envoy, bytes(config.ptr, config.len)) {
            Some(config) => Arc::into_raw(config).cast(),
            // Null: Envoy refuses the configuration (the reason was logged).
            None => std::ptr::null(),
        }
    })
}

/// # Safety
/// `config` is a pointer this module returned from `config_new`, given back once.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_config_destroy(config: *const c_void) {
    guard((), || {
        if config.is_null() {
            return;
        }
        // SAFETY: created by Arc::into_raw in config_new; Envoy destroys it once, after
        // every filter created from it (each holds its own Arc).
        let config = unsafe { Arc::from_raw(config.cast::<ModuleConfig>()) };
        config.stop();
    })
}

fn config_ref<'a>(config: *const c_void) -> Option<&'a ModuleConfig> {
    // SAFETY: Envoy passes back the pointer config_new returned, alive until config_destroy.
    unsafe { config.cast::<ModuleConfig>().as_ref() }
}

/// A request's filter, in a box that outlives it: freed boxes go back to their worker's spare
/// list and carry the next request's filter, so that a request costs no allocation for it.
type Slot = Option<Filter>;

/// Spare boxes kept per worker: more than the requests a worker has in flight at once is
/// never needed; past it, a box is freed.
const SPARE_SLOTS: usize = 1_024;

thread_local! {
    // Boxes, not filters: each one's address is what Envoy holds for a request.
    #[allow(clippy::vec_box)]
    static SPARE: RefCell<Vec<Box<Slot>>> = const { RefCell::new(Vec::new()) };
}

fn filter_mut<'a>(filter: *const c_void) -> Option<&'a mut Filter> {
    // SAFETY: Envoy passes back the pointer filter_new returned, on the filter's own worker
    // thread, alive until filter_destroy.
    unsafe { filter.cast_mut().cast::<Slot>().as_mut() }.and_then(Option::as_mut)
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_scheduled(
    _config_envoy: *mut c_void,
    config: *const c_void,
    _event_id: u64,
) {
    guard((), || {
        if let Some(config) = config_ref(config) {
            config.tick();
        }
    })
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_http_callout_done(
    _config_envoy: *mut c_void,
    config: *const c_void,
    callout_id: u64,
    result: u32,
    headers: *const EnvoyHeader,
    headers_len: usize,
    chunks: *const EnvoyBuffer,
    chunks_len: usize,
) {
    guard((), || {
        if let Some(config) = config_ref(config) {
            let answer = host::Answer::new(result, headers, headers_len, chunks, chunks_len);
            config.timer_answered(callout_id, answer);
        }
    })
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_new(
    config: *const c_void,
    filter_envoy: *mut c_void,
) -> *const c_void {
    guard(std::ptr::null(), || {
        let Some(config) = config_ref(config) else {
            return std::ptr::null();
        };
        // SAFETY: `config` came from Arc::into_raw and is alive; take one more reference.
        let config = unsafe {
            Arc::increment_strong_count(std::ptr::from_ref(config));
            Arc::from_raw(std::ptr::from_ref(config))
        };
        let filter = Filter::new(config, filter_envoy);
        let spare = SPARE
            .try_with(|spare| spare.borrow_mut().pop())
            .ok()
            .flatten();
        let slot = match spare {
            Some(mut slot) => {
                *slot = Some(filter);
                slot
            }
            None => Box::new(Some(filter)),
        };
        Box::into_raw(slot).cast()
    })
}

/// # Safety
/// `filter` is a pointer this module returned from `filter_new`, given back once.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_destroy(filter: *const c_void) {
    guard((), || {
        if !filter.is_null() {
            // SAFETY: created by Box::into_raw in filter_new; destroyed once, on the thread
            // that created it (Envoy runs a stream's hooks on its worker).
            let mut slot = unsafe { Box::from_raw(filter.cast_mut().cast::<Slot>()) };
            // The filter goes now (its hold on the config with it); the box is kept.
            *slot = None;
            let _ = SPARE.try_with(|spare| {
                let mut spare = spare.borrow_mut();
                if spare.len() < SPARE_SLOTS {
                    spare.push(slot);
                }
            });
        }
    })
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_headers(
    filter_envoy: *mut c_void,
    filter: *const c_void,
    _end_of_stream: bool,
) -> u32 {
    let status = guard(None, || {
        filter_mut(filter).map(|f| f.on_request_headers(filter_envoy))
    });
    status.unwrap_or_else(|| host::fail_closed(filter_envoy))
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_callout_done(
    filter_envoy: *mut c_void,
    filter: *const c_void,
    callout_id: u64,
    result: u32,
    headers: *const EnvoyHeader,
    headers_len: usize,
    chunks: *const EnvoyBuffer,
    chunks_len: usize,
) {
    let done = guard(false, || {
        let Some(f) = filter_mut(filter) else {
            return false;
        };
        let answer = host::Answer::new(result, headers, headers_len, chunks, chunks_len);
        f.on_callout_done(filter_envoy, callout_id, answer);
        true
    });
    if !done {
        host::fail_closed(filter_envoy);
    }
}

// The hooks Envoy 1.40 requires that this filter has nothing to do in, with the ABI's
// parameter types (envoy/abi.h), so that a change of signature in a later ABI shows here.

/// Hooks that answer "continue" and do nothing else.
macro_rules! continue_hooks {
    ($($name:ident($($param:ty),*);)*) => {$(
        #[no_mangle]
        pub extern "C" fn $name($(_: $param),*) -> u32 {
            CONTINUE
        }
    )*};
}

/// Hooks with nothing to answer.
macro_rules! empty_hooks {
    ($($name:ident($($param:ty),*);)*) => {$(
        #[no_mangle]
        pub extern "C" fn $name($(_: $param),*) {}
    )*};
}

continue_hooks! {
    envoy_dynamic_module_on_http_filter_request_body(*mut c_void, *const c_void, bool);
    envoy_dynamic_module_on_http_filter_request_trailers(*mut c_void, *const c_void);
    envoy_dynamic_module_on_http_filter_response_headers(*mut c_void, *const c_void, bool);
    envoy_dynamic_module_on_http_filter_response_body(*mut c_void, *const c_void, bool);
    envoy_dynamic_module_on_http_filter_response_trailers(*mut c_void, *const c_void);
}

empty_hooks! {
    envoy_dynamic_module_on_http_filter_stream_complete(*mut c_void, *const c_void);
    envoy_dynamic_module_on_http_filter_scheduled(*mut c_void, *const c_void, u64);
    envoy_dynamic_module_on_http_filter_http_stream_headers(
        *mut c_void, *const c_void, u64, *const EnvoyHeader, usize, bool
    );
    envoy_dynamic_module_on_http_filter_http_stream_data(
        *mut c_void, *const c_void, u64, *const EnvoyBuffer, usize, bool
    );
    envoy_dynamic_module_on_http_filter_http_stream_trailers(
        *mut c_void, *const c_void, u64, *const EnvoyHeader, usize
    );
    envoy_dynamic_module_on_http_filter_http_stream_complete(*mut c_void, *const c_void, u64);
    envoy_dynamic_module_on_http_filter_http_stream_reset(*mut c_void, *const c_void, u64, u32);
    envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(
        *mut c_void, *const c_void
    );
    envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark(
        *mut c_void, *const c_void
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_the_fallback() {
        assert_eq!(guard(7, || -> u32 { panic!("a bug") }), 7);
        assert_eq!(guard(7, || 3), 3);
    }

    #[test]
    fn a_missing_buffer_is_empty() {
        assert!(bytes(std::ptr::null(), 5).is_empty());
        let data = b"abc";
        assert_eq!(bytes(data.as_ptr().cast(), 3), b"abc");
    }
}
