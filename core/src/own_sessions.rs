//! A user's own sessions (`endpoints.sessions`; docs/logins.md: "Sessions: where am I logged in?"):
//! the caller lists their live sessions, ends one of them, or ends all but the current one. The sidecar holds
//! every proxy's sessions, so the filter asks it, over the sync channel, on behalf of the
//! session the request presents; the sidecar checks that session is live and acts only on
//! its user's sessions. The sessions it ends are dropped here at once; other proxies drop
//! them at their next sync (the revocation bound).
//!
//! Sidecar calls (bearer `sidecar.token`), `{caller}` the caller's session hash:
//! - `GET /sync/own/{caller}` → `{"sessions": [{"id", "created", "idle_deadline",
//!   "max_deadline", "user_agent"?, "current"}]}` (instants in ms);
//! - `DELETE /sync/own/{caller}/{id}` and `POST /sync/own/{caller}/logout-others` →
//!   `{"ended": [hash…]}`;
//! - 404 `{"error": "no_session"}` when the caller's session is not live there.

use serde_json::{json, Value};

use crate::metrics::Metric;
use crate::ports::Request;
use crate::protected::Lookup;
use crate::reply::Reply;
use crate::request::filter::{text_header, Credentials, Filter, Host, Presented};
use crate::session::cookie::clear_cookie;
use crate::session::store;
use crate::session::sync::RecentMisses;
use crate::session::SessionHash;
use crate::time::{rfc3339, Millis};

/// What the caller asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    List,
    /// End the session with this public id (if it is the caller's).
    End(String),
    LogoutOthers,
}

/// Public ids are hex; anything else names no session (and is not sent to the sidecar).
const MAX_ID_BYTES: usize = 64;

/// The request at `path` (already known to be `base` or under it) with `method`: what it
/// asks, or the answer for a path or method that asks nothing.
pub fn ask(base: &str, path: &[u8], method: &[u8]) -> Result<Ask, Reply> {
    let rest = &path[base.len().min(path.len())..];
    let rest = rest.strip_prefix(b"/").unwrap_or(rest);
    let (ask, allowed) = match rest {
        b"" => (Ask::List, "GET"),
        b"logout-others" => (Ask::LogoutOthers, "POST"),
        id if !id.is_empty()
            && id.len() <= MAX_ID_BYTES
            && id.iter().all(|b| b.is_ascii_hexdigit()) =>
        {
            (Ask::End(String::from_utf8_lossy(id).into_owned()), "DELETE")
        }
        _ => return Err(not_found()),
    };
    if method != allowed.as_bytes() {
        return Err(
            Reply::error(405, "method_not_allowed", &format!("use {allowed}"))
                .with_header("allow", allowed),
        );
    }
    Ok(ask)
}

fn not_found() -> Reply {
    Reply::error(404, "not_found", "no such session of yours")
}

/// Whether a request may change sessions: a browser's cross-site request never may. With
/// `Sec-Fetch-Site` (every current browser) only `same-origin` or `none` (typed, bookmarked)
/// pass; without it, an `Origin` must be this very origin; a request with neither is not a
/// browser's cross-site request (browsers send one of them on every DELETE and POST).
pub fn same_origin(
    sec_fetch_site: Option<&[u8]>,
    origin: Option<&[u8]>,
    scheme: &str,
    authority: &str,
) -> bool {
    if let Some(site) = sec_fetch_site {
        let site = site.trim_ascii();
        return site.eq_ignore_ascii_case(b"same-origin") || site.eq_ignore_ascii_case(b"none");
    }
    match origin {
        None => true,
        Some(origin) => {
            let expected = format!("{scheme}://{authority}");
            origin
                .trim_ascii()
                .eq_ignore_ascii_case(expected.as_bytes())
        }
    }
}

/// The answer to a cross-site attempt.
pub fn cross_site() -> Reply {
    Reply::error(
        403,
        "cross_site_request",
        "sessions can only be ended from this site",
    )
}

/// The sidecar call for an ask: method and path.
pub fn sidecar_call(ask: &Ask, caller: &SessionHash) -> (&'static str, String) {
    let base = format!("/sync/own/{}", caller.hex());
    match ask {
        Ask::List => ("GET", base),
        Ask::End(id) => ("DELETE", format!("{base}/{id}")),
        Ask::LogoutOthers => ("POST", format!("{base}/logout-others")),
    }
}

/// What the sidecar's answer means for the caller.
#[derive(Debug, PartialEq, Eq)]
pub struct Answered {
    pub reply: Reply,
    /// Sessions the sidecar ended: drop them from shared data now.
    pub ended: Vec<SessionHash>,
    /// The caller's own session was among them (it ended itself): clear its cookie.
    pub ended_caller: bool,
}

fn answered(reply: Reply) -> Answered {
    Answered {
        reply,
        ended: Vec::new(),
        ended_caller: false,
    }
}

/// Turns the sidecar's answer into the caller's. `last_seen` is derived from the idle
/// deadline (`idle_deadline - inactive_lifetime`, never before `created`): as precise as the
/// sidecar's copy of it, which keep-alive batching keeps within a few seconds.
pub fn on_answer(
    ask: &Ask,
    caller: &SessionHash,
    status: Option<u32>,
    body: &[u8],
    inactive_ms: u64,
) -> Answered {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    match status {
        Some(200) => {}
        Some(404)
            if parsed
                .as_ref()
                .and_then(|v| v.get("error"))
                .and_then(Value::as_str)
                == Some("no_session") =>
        {
            return answered(Reply::unauthorized());
        }
        _ => return answered(Reply::store_unavailable()),
    }
    let Some(parsed) = parsed else {
        return answered(Reply::store_unavailable());
    };
    if *ask == Ask::List {
        let Some(items) = parsed.get("sessions").and_then(Value::as_array) else {
            return answered(Reply::store_unavailable());
        };
        let list: Vec<Value> = items
            .iter()
            .filter_map(|s| listed(s, inactive_ms))
            .collect();
        return answered(Reply::json(200, &Value::Array(list)));
    }
    let Some(ended) = parsed.get("ended").and_then(Value::as_array) else {
        return answered(Reply::store_unavailable());
    };
    let ended: Vec<SessionHash> = ended
        .iter()
        .filter_map(|h| h.as_str().and_then(SessionHash::from_hex))
        .collect();
    if matches!(ask, Ask::End(_)) && ended.is_empty() {
        // Not the caller's, or no such session: the same answer, so ids cannot be probed.
        return answered(not_found());
    }
    Answered {
        reply: Reply::json(200, &json!({ "ended": ended.len() })),
        ended_caller: ended.contains(caller),
        ended,
    }
}

fn listed(s: &Value, inactive_ms: u64) -> Option<Value> {
    let ms = |name: &str| s.get(name).and_then(Value::as_u64);
    let created: Millis = ms("created")?;
    let idle = ms("idle_deadline")?;
    let mut out = json!({
        "id": s.get("id")?.as_str()?,
        "created": rfc3339(created),
        "last_seen": rfc3339(idle.saturating_sub(inactive_ms).max(created)),
        "expires": rfc3339(ms("max_deadline")?),
        "current": s.get("current").and_then(Value::as_bool).unwrap_or(false),
    });
    if let Some(ua) = s.get("user_agent").and_then(Value::as_str) {
        out["user_agent"] = json!(ua);
    }
    Some(out)
}

/// What a request to the sessions endpoint presents.
pub struct OwnSessionsRequest<'a> {
    pub method: &'a [u8],
    pub path: &'a [u8],
    pub presented: Presented<'a>,
    pub sec_fetch_site: Option<&'a [u8]>,
    pub origin: Option<&'a [u8]>,
    pub scheme: &'a str,
    pub authority: &'a str,
}
/// The sidecar call a sessions request makes; its answer goes to
/// [`Filter::own_sessions_answered`] with `pending`.
#[derive(Debug, PartialEq, Eq)]
pub struct OwnSessionsCall {
    pub method: &'static str,
    pub path: String,
    pub pending: PendingOwnSessions,
}
#[derive(Debug, PartialEq, Eq)]
pub struct PendingOwnSessions {
    ask: Ask,
    caller: SessionHash,
}
impl Filter {
    /// A request to `endpoints.sessions` (a user's own sessions): the sidecar call to make on
    /// behalf of the session the request presents, or the answer now (no session, a
    /// cross-site attempt to end sessions, a path or method that asks nothing).
    pub fn own_sessions<'p>(
        &self,
        host: &dyn Host,
        request: &OwnSessionsRequest<'p>,
        now: Millis,
        misses: &RecentMisses,
    ) -> Result<OwnSessionsCall, Reply> {
        // The canonical form the route was chosen by (escapes of unreserved characters
        // decoded, slashes merged).
        let path: Vec<u8> = crate::policy::path::normalize(request.path)
            .map(|p| p.canonical().collect())
            .unwrap_or_default();
        let ask = ask(&self.config.endpoints.sessions, &path, request.method)?;
        if ask != Ask::List
            && !same_origin(
                request.sec_fetch_site,
                request.origin,
                request.scheme,
                request.authority,
            )
        {
            return Err(cross_site());
        }
        // A session this proxy does not hold may still be live at the sidecar (after a
        // restart): the sidecar decides, from its own copy.
        let caller = match self.find_session(host, &request.presented, now, misses) {
            (Lookup::Live(hash, _) | Lookup::Restorable(hash), _) => hash,
            (Lookup::None, _) => {
                host.count(Metric::Rejected, 1);
                return Err(Reply::unauthorized());
            }
        };
        let (method, path) = sidecar_call(&ask, &caller);
        Ok(OwnSessionsCall {
            method,
            path,
            pending: PendingOwnSessions { ask, caller },
        })
    }

    /// A request to the sessions endpoint, read from its headers.
    pub(crate) fn own_sessions_request(
        &self,
        host: &dyn Host,
        req: &dyn Request,
        now: Millis,
        misses: &RecentMisses,
    ) -> Result<OwnSessionsCall, Reply> {
        let credentials = Credentials::read(req);
        let method = req.header(":method").unwrap_or_default();
        let path = req.header(":path").unwrap_or_default();
        let site = req.header("sec-fetch-site");
        let origin = req.header("origin");
        let scheme = text_header(req, ":scheme", "https");
        let authority = text_header(req, ":authority", "");
        let request = OwnSessionsRequest {
            method: &method,
            path: &path,
            presented: credentials.presented(),
            sec_fetch_site: site.as_deref(),
            origin: origin.as_deref(),
            scheme: &scheme,
            authority: &authority,
        };
        self.own_sessions(host, &request, now, misses)
    }

    /// The sidecar answered a sessions request: sessions it ended are dropped here at once
    /// (the other proxies drop them at their next sync); a caller that ended its own session
    /// gets its cookie cleared.
    pub fn own_sessions_answered(
        &self,
        host: &dyn Host,
        pending: PendingOwnSessions,
        status: Option<u32>,
        body: &[u8],
        now: Millis,
    ) -> Reply {
        let answered = on_answer(
            &pending.ask,
            &pending.caller,
            status,
            body,
            self.inactive_ms,
        );
        for hash in &answered.ended {
            if let Ok(written) = store::end(host, hash, now, &store::Ending::Told) {
                host.count(Metric::SessionsLive, written.live_delta);
            }
        }
        if answered.ended_caller {
            return answered
                .reply
                .with_header("set-cookie", clear_cookie(&self.config.cookie));
        }
        answered.reply
    }
}

#[cfg(test)]
#[path = "tests/own_sessions.rs"]
mod tests;
