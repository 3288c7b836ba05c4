//! The engine every host drives (docs/ARCHITECTURE.md §2, "core drives, hosts carry out"): a
//! host hands a request's headers to [`Engine::on_request`] ([`crate::engine::dispatch`])
//! and carries out the [`Outcome`]: forward with header edits, send a local reply, or make a
//! [`Call`] and, once it is answered, hand the answer and the [`Pending`] continuation to
//! [`Engine::on_response`] ([`crate::engine::continuation`]). This module holds the types
//! they share; each decision is made in its flow's module.

pub mod continuation;
pub mod dispatch;
pub mod driver;
pub mod timer;

use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::config::Config;
use crate::idp::Callout;
use crate::login::flow::Flow;
use crate::login::key_cache::KeyCache;
use crate::login::profile::Enrichment;
use crate::own_sessions::PendingOwnSessions;
use crate::ports::Call;
use crate::protected::PendingRestore;
use crate::reply::Reply;
use crate::request::filter::{Filter, HeaderEdit};
use crate::session::create::WriteThrough;
use crate::session::sync::RecentMisses;
use crate::session::SessionHash;

/// What the host does with a request (or with a paused request once a call is answered).
#[derive(Debug)]
pub enum Outcome<'a> {
    /// Let the request go upstream after applying these edits (resuming it if paused).
    Forward(Vec<HeaderEdit<'a>>),
    /// Answer locally.
    Reply(Reply),
    /// Pause the request, make this call, and hand its answer and the continuation back to
    /// [`Engine::on_response`] (or to [`Engine::on_dispatch_failed`] if it cannot be made).
    Call(Call, Pending),
}

/// What a paused request waits for. Opaque to hosts: they keep it and give it back.
#[derive(Debug)]
pub struct Pending {
    // Boxed: a login in flight is large, and an outcome is moved around on every request.
    pub(crate) waiting: Box<Waiting>,
    pub(crate) max_answer: usize,
    /// Client-sent identity headers under other spellings, removed whenever the request is
    /// finally forwarded.
    pub(crate) strip: Vec<HeaderEdit<'static>>,
}

impl Pending {
    /// The most of the answer's body the host need read (see [`Call::max_answer`]).
    pub fn max_answer(&self) -> usize {
        self.max_answer
    }
}

pub(crate) enum Waiting {
    Login { callout: Callout, flow: Box<Flow> },
    Profile(Box<Enrichment>),
    DeviceStart([u8; 32]),
    DevicePoll(SessionHash),
    Restore(PendingRestore),
    WriteThrough(WriteThrough),
    OwnSessions(PendingOwnSessions),
}

impl std::fmt::Debug for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the flow's contents: they hold tokens.
        let name = match self {
            Waiting::Login { .. } => "Login",
            Waiting::Profile(_) => "Profile",
            Waiting::DeviceStart(_) => "DeviceStart",
            Waiting::DevicePoll(_) => "DevicePoll",
            Waiting::Restore(_) => "Restore",
            Waiting::WriteThrough(_) => "WriteThrough",
            Waiting::OwnSessions(_) => "OwnSessions",
        };
        f.write_str(name)
    }
}

/// Adds the removal of other spellings of the identity headers to whatever forwards the
/// request, now or once its call is answered.
pub(crate) fn with_stripped<'a>(
    outcome: Outcome<'a>,
    strip: Vec<HeaderEdit<'static>>,
) -> Outcome<'a> {
    if strip.is_empty() {
        return outcome;
    }
    match outcome {
        Outcome::Forward(mut edits) => {
            edits.extend(strip);
            Outcome::Forward(edits)
        }
        Outcome::Call(call, mut pending) => {
            pending.strip = strip;
            Outcome::Call(call, pending)
        }
        reply => reply,
    }
}

/// The 503 of a host that could not load its configuration: it fails closed.
pub fn unconfigured() -> Reply {
    Reply::error(
        503,
        "not_configured",
        "the auth filter has no configuration",
    )
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means another thread panicked while holding it (a host catches
    // that at its boundary); the data is plain caches, still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The configured filter plus the caches a host instance keeps (parsed keys, recent sidecar
/// misses). `Send + Sync`: a native host shares one across its worker threads.
#[derive(Debug)]
pub struct Engine {
    pub filter: Filter,
    pub(crate) keys: Mutex<KeyCache>,
    pub(crate) misses: Mutex<RecentMisses>,
}

impl Engine {
    pub fn new(config: Config) -> Engine {
        Engine {
            filter: Filter::new(config),
            keys: Mutex::new(KeyCache::default()),
            misses: Mutex::new(RecentMisses::default()),
        }
    }

    pub fn config(&self) -> &Config {
        &self.filter.config
    }
}

#[cfg(test)]
#[path = "../tests/engine/engine.rs"]
mod tests;
