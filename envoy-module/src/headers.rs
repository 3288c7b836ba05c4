//! The request's headers as the core reads them: views into Envoy's header map, read with
//! two native calls onto the stack, lent without a copy (the authenticated path allocates
//! nothing: src/alloc_test.rs).

use std::borrow::Cow;
use std::cell::OnceCell;
use std::ffi::c_void;

use session_core::ports::Request;

use crate::abi::*;

/// Headers read onto the stack: a browser's request has some 20-30 (pseudo-headers
/// included); more go to the heap.
const INLINE_HEADERS: usize = 48;

const NO_HEADER: EnvoyHeader = EnvoyHeader {
    key_ptr: std::ptr::null(),
    key_len: 0,
    value_ptr: std::ptr::null(),
    value_len: 0,
};

/// Where the views of the request's headers are kept (on the stack: the point).
#[allow(clippy::large_enum_variant)]
enum Views {
    Inline([EnvoyHeader; INLINE_HEADERS], usize),
    Heap(Vec<EnvoyHeader>),
}

impl Views {
    fn all(&self) -> &[EnvoyHeader] {
        match self {
            Views::Inline(raw, n) => raw.get(..*n).unwrap_or_default(),
            Views::Heap(raw) => raw,
        }
    }
}

/// The request's headers, all read (two native calls) the first time the core asks; views
/// into Envoy's header map, valid during the hook, lent to the core without a copy.
pub struct Headers<'a> {
    filter: *mut c_void,
    all: OnceCell<Views>,
    envoy: std::marker::PhantomData<&'a [u8]>,
}

impl Headers<'_> {
    pub fn new(filter: *mut c_void) -> Self {
        Headers {
            filter,
            all: OnceCell::new(),
            envoy: std::marker::PhantomData,
        }
    }

    fn all(&self) -> &[EnvoyHeader] {
        self.all
            .get_or_init(|| {
                // SAFETY: the filter pointer is the current request's, on its thread; the
                // views stay valid while this hook runs and no header is changed (edits
                // come after). Envoy writes `n` headers into a buffer of `n`.
                unsafe {
                    let n = envoy_dynamic_module_callback_http_get_headers_size(
                        self.filter,
                        REQUEST_HEADER,
                    );
                    let mut views = if n <= INLINE_HEADERS {
                        Views::Inline([NO_HEADER; INLINE_HEADERS], n)
                    } else {
                        Views::Heap((0..n).map(|_| NO_HEADER).collect())
                    };
                    let raw = match &mut views {
                        Views::Inline(raw, _) => raw.as_mut_ptr(),
                        Views::Heap(raw) => raw.as_mut_ptr(),
                    };
                    if n == 0
                        || !envoy_dynamic_module_callback_http_get_headers(
                            self.filter,
                            REQUEST_HEADER,
                            raw,
                        )
                    {
                        return Views::Inline([NO_HEADER; INLINE_HEADERS], 0);
                    }
                    views
                }
            })
            .all()
    }
}

impl Request for Headers<'_> {
    fn header(&self, name: &str) -> Option<Cow<'_, [u8]>> {
        self.all()
            .iter()
            .find(|h| crate::bytes(h.key_ptr, h.key_len) == name.as_bytes())
            .map(|h| Cow::Borrowed(crate::bytes(h.value_ptr, h.value_len)))
    }

    fn each_name(&self, each: &mut dyn FnMut(&[u8])) {
        for h in self.all() {
            each(crate::bytes(h.key_ptr, h.key_len));
        }
    }
}
