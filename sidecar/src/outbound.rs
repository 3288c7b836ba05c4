//! The runtime the sidecar's outbound clients run on: PostgreSQL (tokio-postgres through a
//! deadpool pool) and the identity provider (reqwest). The store trait and the IdP client
//! stay synchronous: they are called from blocking threads (the server's `spawn_blocking`
//! pool, the CLI's main thread, tests), which drive the async calls with
//! [`Handle::block_on`]. Never call them from a runtime worker thread: tokio refuses to
//! block on a future there.
//!
//! One small runtime of its own, made on first use, rather than the server's: the store is
//! opened before the server's runtime exists and by CLI commands that have none, and the
//! connections it holds (each a task on this runtime) outlive any one server's shutdown,
//! so the drain's last commits never wait on a runtime being torn down.

use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle, Runtime};

/// Worker threads: they only move bytes between sockets and the blocked callers.
const WORKERS: usize = 2;

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// The outbound runtime's handle, building it on first use.
pub fn handle() -> Result<Handle, String> {
    RUNTIME
        .get_or_init(|| {
            Builder::new_multi_thread()
                .worker_threads(WORKERS)
                .thread_name("sidecar-outbound")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the outbound runtime: {e}"))
        })
        .as_ref()
        .map(Runtime::handle)
        .cloned()
        .map_err(Clone::clone)
}
