//! Any bytes as the plugin configuration: a clear error or a configuration, never a panic;
//! every error names a key (or says the whole document is wrong).
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_core::config::Config;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = Config::parse(data) {
        assert!(!e.reason.is_empty());
        let _ = e.to_string();
    }
});
