//! Issue 22's proof that the module's authenticated path allocates nothing: a counting global
//! allocator in this test binary, Envoy's callbacks faked over a request held in memory, and
//! an authenticated request driven through the module's own hooks (the ones Envoy calls).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_void};

use session_core::identity::Identity;
use session_core::session::store;
use session_core::session::{new_secret, Session};

use crate::abi::*;

/// Counts the allocations of the thread that turned counting on.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    /// The request Envoy would hold: (name, value) pairs.
    static REQUEST: RefCell<Vec<(&'static [u8], Vec<u8>)>> = const { RefCell::new(Vec::new()) };
    /// Header edits the module made: (name, value); counted, not kept, while counting.
    static EDITS: Cell<usize> = const { Cell::new(0) };
    static REPLIES: Cell<u32> = const { Cell::new(0) };
}

fn counted() {
    // try_with: the allocator runs during thread teardown too.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted();
        // SAFETY: forwarded as given.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        counted();
        // SAFETY: forwarded as given.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        counted();
        // SAFETY: forwarded as given.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as given.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    ALLOCATIONS.with(Cell::get)
}

// Envoy's side of the ABI, over the request above. Only what a request's headers hook and
// a config's creation call do anything; the rest answer as Envoy would when there is nothing.

#[no_mangle]
extern "C" fn envoy_dynamic_module_callback_log(_: u32, _: ModuleBuffer) {}

#[no_mangle]
extern "C" fn envoy_dynamic_module_callback_http_get_headers_size(_: *mut c_void, _: u32) -> usize {
    REQUEST.with(|r| r.borrow().len())
}

#[no_mangle]
unsafe extern "C" fn envoy_dynamic_module_callback_http_get_headers(
    _: *mut c_void,
    _: u32,
    result: *mut EnvoyHeader,
) -> bool {
    REQUEST.with(|r| {
        for (i, (k, v)) in r.borrow().iter().enumerate() {
            // SAFETY: the module gave room for get_headers_size entries.
            unsafe {
                result.add(i).write(EnvoyHeader {
                    key_ptr: k.as_ptr().cast::<c_char>(),
                    key_len: k.len(),
                    value_ptr: v.as_ptr().cast::<c_char>(),
                    value_len: v.len(),
                })
            };
        }
    });
    true
}

#[no_mangle]
extern "C" fn envoy_dynamic_module_callback_http_set_header(
    _: *mut c_void,
    _: u32,
    _: ModuleBuffer,
    _: ModuleBuffer,
) -> bool {
    EDITS.with(|n| n.set(n.get() + 1));
    true
}

#[no_mangle]
extern "C" fn envoy_dynamic_module_callback_http_send_response(
    _: *mut c_void,
    status: u32,
    _: *const ModuleHeader,
    _: usize,
    _: ModuleBuffer,
    _: ModuleBuffer,
) {
    REPLIES.with(|r| r.set(status));
}

#[no_mangle]
extern "C" fn envoy_dynamic_module_callback_http_filter_continue_decoding(_: *mut c_void) {}

#[no_mangle]
extern "C" fn envoy_dynamic_module_callback_http_filter_http_callout(
    _: *mut c_void,
    _: *mut u64,
    _: ModuleBuffer,
    _: *const ModuleHeader,
    _: usize,
    _: ModuleBuffer,
    _: u64,
) -> u32 {
    1
}

#[no_mangle]
extern "C" fn envoy_dynamic_module_callback_http_filter_config_http_callout(
    _: *mut c_void,
    _: *mut u64,
    _: ModuleBuffer,
    _: *const ModuleHeader,
    _: usize,
    _: ModuleBuffer,
    _: u64,
) -> u32 {
    1
}

#[no_mangle]
extern "C" fn envoy_dynamic_module_callback_http_filter_config_scheduler_new(
    _: *mut c_void,
) -> *mut c_void {
    // No scheduler: no timer thread in this test.
    std::ptr::null_mut()
}

#[no_mangle]
extern "C" fn envoy_dynamic_module_callback_http_filter_config_scheduler_commit(
    _: *mut c_void,
    _: u64,
) {
}

#[no_mangle]
extern "C" fn envoy_dynamic_module_callback_http_filter_config_scheduler_delete(_: *mut c_void) {}

macro_rules! metric_callbacks {
    ($($name:ident($first:ty, $second:ty);)*) => {$(
        #[no_mangle]
        extern "C" fn $name(_: *mut c_void, _: $first, _: *const ModuleBuffer, _: usize, _: $second) -> u32 {
            METRICS_SUCCESS
        }
    )*};
}

metric_callbacks! {
    envoy_dynamic_module_callback_http_filter_config_define_counter(ModuleBuffer, *mut usize);
    envoy_dynamic_module_callback_http_filter_config_define_gauge(ModuleBuffer, *mut usize);
    envoy_dynamic_module_callback_http_filter_increment_counter(usize, u64);
    envoy_dynamic_module_callback_http_filter_increment_gauge(usize, u64);
    envoy_dynamic_module_callback_http_filter_decrement_gauge(usize, u64);
    envoy_dynamic_module_callback_http_filter_config_increment_counter(usize, u64);
    envoy_dynamic_module_callback_http_filter_config_increment_gauge(usize, u64);
    envoy_dynamic_module_callback_http_filter_config_decrement_gauge(usize, u64);
    envoy_dynamic_module_callback_http_filter_config_set_gauge(usize, u64);
}

const CONFIG: &[u8] = br#"{"auth0": {"domain": "tenant.example.com", "api": {"identifier": "https://api.example.com"}, "cluster": "auth0"}, "session": {"cookie": {"secure": false}}}"#;

/// A live session in the module's store, and its cookie value.
fn live_session(seed: u8) -> String {
    let (secret, hash) = new_secret(&[seed; 32]);
    let identity = Identity {
        sub: "auth0|0123456789abcdef01234567".into(),
        email: Some("alice.example@example.com".into()),
        name: Some("Alice Example".into()),
        permissions: (0..10).map(|i| format!("read:report{i}")).collect(),
        ..Identity::default()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let session = Session::new(hash, identity, now, 3_600_000, 86_400_000);
    store::insert(crate::host::store(), &session, 0, now).unwrap();
    secret
}

/// Runs one request through the hooks Envoy calls (filter_new, request_headers,
/// filter_destroy); its allocations, the status it answered (0: forwarded) and the edits.
fn request(config: *const c_void, headers: Vec<(&'static [u8], Vec<u8>)>) -> (usize, usize, u32) {
    REQUEST.with(|r| *r.borrow_mut() = headers);
    EDITS.with(|n| n.set(0));
    REPLIES.with(|r| r.set(0));
    let envoy = std::ptr::NonNull::<u8>::dangling()
        .as_ptr()
        .cast::<c_void>();
    let mut status = u32::MAX;
    let n = allocations(|| {
        let filter = crate::envoy_dynamic_module_on_http_filter_new(config, envoy);
        status = crate::envoy_dynamic_module_on_http_filter_request_headers(envoy, filter, true);
        // SAFETY: the pointer filter_new returned, given back once.
        unsafe { crate::envoy_dynamic_module_on_http_filter_destroy(filter) };
    });
    assert_eq!(REPLIES.with(Cell::get), 0, "answered locally");
    assert_eq!(status, HEADERS_CONTINUE);
    (n, EDITS.with(Cell::get), status)
}

fn minimal(cookie: &str) -> Vec<(&'static [u8], Vec<u8>)> {
    vec![
        (b":authority", b"app.example.com".to_vec()),
        (b":path", b"/".to_vec()),
        (b":method", b"GET".to_vec()),
        (b":scheme", b"http".to_vec()),
        (b"user-agent", b"wrk".to_vec()),
        (b"cookie", format!("session={cookie}").into_bytes()),
    ]
}

/// What bench.py's browser row sends: some 20 headers, ~1.5 KB, several cookies.
fn browser(cookie: &str) -> Vec<(&'static [u8], Vec<u8>)> {
    let mut h = minimal(cookie);
    h.truncate(5);
    h.extend([
        (&b"accept"[..], b"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8".to_vec()),
        (b"accept-language", b"en-GB,en;q=0.9,fr;q=0.8".to_vec()),
        (b"accept-encoding", b"gzip, deflate, br, zstd".to_vec()),
        (b"referer", b"https://app.example.com/reports/2024/overview?tab=summary".to_vec()),
        (b"sec-ch-ua", b"\"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"".to_vec()),
        (b"sec-ch-ua-mobile", b"?0".to_vec()),
        (b"sec-ch-ua-platform", b"\"Linux\"".to_vec()),
        (b"sec-fetch-dest", b"document".to_vec()),
        (b"sec-fetch-mode", b"navigate".to_vec()),
        (b"sec-fetch-site", b"same-origin".to_vec()),
        (b"sec-fetch-user", b"?1".to_vec()),
        (b"upgrade-insecure-requests", b"1".to_vec()),
        (b"cache-control", b"max-age=0".to_vec()),
        (b"priority", b"u=0, i".to_vec()),
        (b"cookie", format!("_ga=GA1.1.1234567890.1700000000; _ga_ABCDEF=GS1.1.1700000000.1.1.1700000100.0.0.0; theme=dark; lang=en-GB; csrftoken=Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFy; session={cookie}; consent=analytics%3Dno%26ads%3Dno").into_bytes()),
    ]);
    h
}

#[test]
fn an_authenticated_request_allocates_nothing_in_the_module() {
    let config = crate::envoy_dynamic_module_on_http_filter_config_new(
        std::ptr::null_mut(),
        EnvoyBuffer {
            ptr: std::ptr::null(),
            len: 0,
        },
        EnvoyBuffer {
            ptr: CONFIG.as_ptr().cast(),
            len: CONFIG.len(),
        },
    );
    assert!(!config.is_null());
    let cookie = live_session(7);
    // The first request of a worker thread sets up what lives as long as the thread.
    request(config, minimal(&cookie));
    let (minimal_allocations, edits, _) = request(config, minimal(&cookie));
    assert_eq!(
        edits, 3,
        "x-auth-user, x-auth-email set; the cookie removed"
    );
    let (browser_allocations, edits, _) = request(config, browser(&cookie));
    assert_eq!(
        edits, 3,
        "x-auth-user, x-auth-email set; the other cookies kept"
    );
    println!(
        "allocations per authenticated request: minimal {minimal_allocations}, browser {browser_allocations}"
    );
    assert_eq!(minimal_allocations, 0, "a minimal authenticated request");
    // A browser's other cookies are forwarded without ours: that one header value is built
    // (on the heap past 64 bytes); nothing else is allocated.
    assert!(browser_allocations <= 1, "{browser_allocations}");
    // SAFETY: the pointer config_new returned, given back once.
    unsafe { crate::envoy_dynamic_module_on_http_filter_config_destroy(config) };
}
