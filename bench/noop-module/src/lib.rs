//! A dynamic-module HTTP filter that does nothing (ABI v0.2.0, Envoy 1.40): what `make bench`
//! compares the native module with, as `bench/noop` is for the wasm filter. Every hook Envoy
//! requires is exported; a request passes every one untouched. No hook reads its arguments,
//! so none declares them: under the C calling convention a callee may ignore what it is given.

use std::ffi::{c_char, c_void};

/// Any non-null pointer: Envoy only hands it back.
static TOKEN: u8 = 0;

fn token() -> *const c_void {
    std::ptr::from_ref(&TOKEN).cast()
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_program_init() -> *const c_char {
    c"v0.2.0".as_ptr()
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_new() -> *const c_void {
    token()
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_new() -> *const c_void {
    token()
}

/// The status every header, body and trailer hook answers: continue.
macro_rules! pass {
    ($($name:ident),*) => {$(
        #[no_mangle]
        pub extern "C" fn $name() -> u32 {
            0
        }
    )*};
}

/// The hooks with nothing to answer.
macro_rules! nothing {
    ($($name:ident),*) => {$(
        #[no_mangle]
        pub extern "C" fn $name() {}
    )*};
}

pass!(
    envoy_dynamic_module_on_http_filter_request_headers,
    envoy_dynamic_module_on_http_filter_request_body,
    envoy_dynamic_module_on_http_filter_request_trailers,
    envoy_dynamic_module_on_http_filter_response_headers,
    envoy_dynamic_module_on_http_filter_response_body,
    envoy_dynamic_module_on_http_filter_response_trailers
);

nothing!(
    envoy_dynamic_module_on_http_filter_config_destroy,
    envoy_dynamic_module_on_http_filter_config_scheduled,
    envoy_dynamic_module_on_http_filter_config_http_callout_done,
    envoy_dynamic_module_on_http_filter_destroy,
    envoy_dynamic_module_on_http_filter_http_callout_done,
    envoy_dynamic_module_on_http_filter_stream_complete,
    envoy_dynamic_module_on_http_filter_scheduled,
    envoy_dynamic_module_on_http_filter_http_stream_headers,
    envoy_dynamic_module_on_http_filter_http_stream_data,
    envoy_dynamic_module_on_http_filter_http_stream_trailers,
    envoy_dynamic_module_on_http_filter_http_stream_complete,
    envoy_dynamic_module_on_http_filter_http_stream_reset,
    envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark,
    envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark
);
