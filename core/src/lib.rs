//! The logic of the envoy-auth0-session filter, free of any host import so that it is
//! unit-tested natively. Every host (the proxy-wasm glue in `src/`, the Envoy dynamic module
//! in `envoy-module/`) implements the [`ports`], hands requests to [`request::engine::Engine`] and
//! ticks to [`timer::Timer`], and carries out the values they return.

pub mod assertion;
pub mod config;
pub mod duration;
pub mod engine;
pub mod identity;
pub mod idp;
pub mod keep_alive;
pub mod limiter;
pub mod login;
pub mod logout;
pub mod metrics;
pub mod own_sessions;
pub mod policy;
pub mod ports;
pub mod protected;
pub mod relay;
pub mod reply;
pub mod request;
pub mod session;
pub mod shared_data;
mod syntax;
pub mod time;
pub mod url;

#[cfg(test)]
#[path = "tests/support.rs"]
mod testing;
