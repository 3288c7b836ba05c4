//! The logic of the envoy-auth0-session filter, free of any host import so that it is
//! unit-tested natively. Every host (the proxy-wasm glue in `src/`, the Envoy dynamic module
//! in `envoy-module/`) implements the [`ports`], hands requests to [`engine::Engine`] and
//! ticks to [`timer::Timer`], and carries out the values they return.

pub mod backchannel;
pub mod code_flow;
pub mod config;
pub mod cookie;
pub mod cookie_mac;
pub mod device;
pub mod dirty;
pub mod duration;
pub mod engine;
pub mod filter;
pub mod flow;
pub mod idp;
pub mod jwks;
pub mod key_cache;
pub mod limiter;
pub mod login;
pub mod memory;
pub mod metrics;
pub mod own_sessions;
pub mod policy;
pub mod ports;
pub mod reply;
pub mod routing;
#[cfg(any(target_arch = "wasm32", test))]
pub mod rs256_provider;
pub mod session;
pub mod store;
pub mod sync;
pub mod time;
pub mod timer;
pub mod token;
pub mod user_agent;
pub mod users;

#[cfg(test)]
#[path = "tests/support.rs"]
mod testing;
