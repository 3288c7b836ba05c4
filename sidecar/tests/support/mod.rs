//! Helpers shared by the sidecar test crates.

pub mod pg;
