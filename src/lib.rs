//! envoy-auth0-session: the proxy-wasm glue. It reads what the core needs from Envoy, calls
//! `session_core`, and carries out the decisions and callouts it returns. No logic lives here.

mod host;
mod http;
mod root;

use proxy_wasm::traits::RootContext;
use proxy_wasm::types::LogLevel;

// Events are logged through the `log` facade; the SDK's logger forwards them to Envoy's log
// (never a token, cookie or secret in a line).
proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(root::Root::default()) });
}}
