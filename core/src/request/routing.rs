//! Which of the filter's routes a request belongs to (docs/ARCHITECTURE.md §4). Every
//! decision is taken on the normalized path ([`crate::policy::path`]), the query string
//! ignored: the endpoints first (exact paths), then the rules in order (`public` included); a
//! path the normalizer cannot settle is refused outright, never guessed.

use crate::config::Config;
use crate::policy::path::{normalize, PathError};
use crate::policy::{first_match, Allow};
use crate::reply::Reply;

pub use crate::policy::path::path_only;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Login,
    Logout,
    KeepAlive,
    /// The code flow's callback (only when `code_flow` is configured).
    Callback,
    /// Device login: start and poll (only when `device` is configured).
    DeviceStart,
    DevicePoll,
    /// A user's own sessions: `endpoints.sessions` and the paths under it (only with a
    /// sidecar, which holds every proxy's sessions).
    Sessions,
    /// The identity assertion's public keys, a JWKS (only when `assertion` is configured).
    AssertionKeys,
    Public,
    /// Needs a live session, and what the rule asks of it.
    Protected(Access),
    /// Answered 400 or 403 without any session lookup ([`Refusal::reply`]).
    Refused(Refusal),
}

/// What a protected request's session must hold: the index of the matching rule in
/// `config.rules` (`None`: no rule matched, any session will do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Access(pub Option<u16>);

impl Access {
    /// Any live session.
    pub const SESSION: Access = Access(None);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The path has a spelling the normalizer does not settle.
    Path(PathError),
    /// A `deny` rule (its index in `config.rules`).
    Denied(u16),
}

impl Refusal {
    pub fn reply(self) -> Reply {
        match self {
            Refusal::Path(e) => Reply::error(400, "invalid_path", e.as_str()),
            Refusal::Denied(_) => Reply::error(403, "forbidden", "access to this path is denied"),
        }
    }
}

/// Routes a request. `method` is called only when a rule naming methods matches the path, so
/// hosts read `:method` only for policies that need it.
pub fn route(config: &Config, raw_path: &[u8], method: impl FnOnce() -> Vec<u8>) -> Route {
    let path = match normalize(raw_path) {
        Ok(path) => path,
        Err(e) => return Route::Refused(Refusal::Path(e)),
    };
    let e = &config.endpoints;
    if path.is(e.login.as_bytes()) {
        return Route::Login;
    }
    if path.is(e.logout.as_bytes()) {
        return Route::Logout;
    }
    if path.is(e.keep_alive.as_bytes()) {
        return Route::KeepAlive;
    }
    if config
        .code_flow
        .as_ref()
        .is_some_and(|cf| path.is(cf.callback.as_bytes()))
    {
        return Route::Callback;
    }
    if let Some(d) = &config.device {
        if path.is(d.start.as_bytes()) {
            return Route::DeviceStart;
        }
        if path.is(d.poll.as_bytes()) {
            return Route::DevicePoll;
        }
    }
    if config
        .assertion
        .as_ref()
        .is_some_and(|a| path.is(a.jwks_path.as_bytes()))
    {
        return Route::AssertionKeys;
    }
    if config.sidecar.is_some() && path.starts_with(e.sessions.as_bytes()) {
        let under = format!("{}/", e.sessions);
        if path.is(e.sessions.as_bytes()) || path.starts_with(under.as_bytes()) {
            return Route::Sessions;
        }
    }
    let Some(index) = first_match(&config.rules, &path, method) else {
        return Route::Protected(Access::SESSION);
    };
    // Config parsing keeps rules few; an index beyond u16 cannot occur, and would only lose
    // the rule's requirement, so it is refused instead.
    let Ok(at) = u16::try_from(index) else {
        return Route::Refused(Refusal::Denied(u16::MAX));
    };
    let rule = &config.rules[index];
    match rule.allow {
        Allow::Public => Route::Public,
        Allow::Deny => Route::Refused(Refusal::Denied(at)),
        // A relaying rule is named, so that the protected flow can find its `relay`.
        Allow::Session if rule.relay.is_some() => Route::Protected(Access(Some(at))),
        Allow::Session => Route::Protected(Access::SESSION),
        Allow::Permissions(_) | Allow::Roles(_) | Allow::Groups(_) => {
            Route::Protected(Access(Some(at)))
        }
    }
}

#[cfg(test)]
#[path = "../tests/request/routing.rs"]
mod tests;
