//! The logic of the envoy-auth0-session filter, free of any proxy-wasm import so that it is
//! unit-tested natively. The wasm glue (`src/`) reads headers, calls [`filter::Filter`] and
//! [`login::Login`], and carries out the [`filter::Decision`]s and callouts they return.

pub mod code_flow;
pub mod config;
pub mod cookie;
pub mod cookie_mac;
pub mod device;
pub mod dirty;
pub mod duration;
pub mod filter;
pub mod flow;
pub mod jwks;
pub mod key_cache;
pub mod limiter;
pub mod login;
pub mod metrics;
pub mod policy;
pub mod reply;
pub mod routing;
pub mod session;
pub mod store;
pub mod sync;
pub mod time;
pub mod token;

#[cfg(test)]
#[path = "tests/support.rs"]
mod testing;
