//! Which of the filter's routes a request path belongs to (docs/ARCHITECTURE.md §4): endpoint paths match
//! exactly, the query string ignored; public paths match exactly or by a `/`-ended prefix.

use crate::config::{Config, PublicPath};

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
    Public,
    Protected,
}

/// The path without its query string or fragment.
pub fn path_only(path: &[u8]) -> &[u8] {
    let end = path
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(path.len());
    &path[..end]
}

/// A path that could name something outside the public prefix once the app decodes or
/// normalises it (`/static/../admin`, `/static/%2e%2e/admin`, `\`) never counts as public:
/// it needs a session like any other path. Envoy's `normalize_path` makes such paths rare.
fn could_escape_prefix(path: &[u8]) -> bool {
    path.windows(3).any(|w| {
        w.eq_ignore_ascii_case(b"%2e")
            || w.eq_ignore_ascii_case(b"%2f")
            || w.eq_ignore_ascii_case(b"%5c")
    }) || path.contains(&b'\\')
        || path
            .split(|&b| b == b'/')
            .any(|seg| seg == b".." || seg == b".")
}

pub fn route(config: &Config, raw_path: &[u8]) -> Route {
    let path = path_only(raw_path);
    let e = &config.endpoints;
    if path == e.login.as_bytes() {
        return Route::Login;
    }
    if path == e.logout.as_bytes() {
        return Route::Logout;
    }
    if path == e.keep_alive.as_bytes() {
        return Route::KeepAlive;
    }
    if config
        .code_flow
        .as_ref()
        .is_some_and(|cf| path == cf.callback.as_bytes())
    {
        return Route::Callback;
    }
    if let Some(d) = &config.device {
        if path == d.start.as_bytes() {
            return Route::DeviceStart;
        }
        if path == d.poll.as_bytes() {
            return Route::DevicePoll;
        }
    }
    let public = config.public.iter().any(|p| match p {
        PublicPath::Exact(exact) => path == exact.as_bytes(),
        PublicPath::Prefix(prefix) => path.starts_with(prefix.as_bytes()),
    });
    if public && !could_escape_prefix(path) {
        Route::Public
    } else {
        Route::Protected
    }
}

#[cfg(test)]
#[path = "tests/routing.rs"]
mod tests;
