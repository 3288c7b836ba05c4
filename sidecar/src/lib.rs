//! session-sidecar: the durable copy of envoy-auth0-session's sessions. The filter syncs
//! every session here (batched, idempotent, authenticated); after an Envoy restart it asks
//! here for sessions it no longer has; admins list and revoke sessions here.

pub mod api;
pub mod auth;
pub mod backchannel;
pub mod http;
pub mod idp;
pub mod logging;
pub mod migrations;
pub mod outbound;
pub mod policy;
pub mod server;
pub mod store;
pub mod token_crypt;
