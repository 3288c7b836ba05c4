//! The configured filter: the state every flow reads (configuration, the cookie codec, the
//! session lifetimes), the header edits a flow hands back, and the request-reading helpers
//! the flows share. The flows themselves live one to a module (docs/ARCHITECTURE.md §2):
//! [`crate::protected`], [`crate::keep_alive`], [`crate::logout`], [`crate::own_sessions`],
//! [`crate::session::create`] and the logins in [`crate::login`].

use crate::assertion::Assertions;
use crate::config::Config;
use crate::login::code_flow;
use crate::metrics::Metric;
use crate::ports::{Call, Request, Upstream};
use crate::reply::Reply;
use crate::request::routing::{route, Refusal, Route};
use crate::session::cookie::{take_session_cookies, CookieEdit};
use crate::session::cookie_mac::CookieCodec;
use crate::session::create::Sessions;
use crate::session::dirty;
use crate::session::store;
use crate::session::sync::{MAX_ANSWER_BYTES, SIDECAR_TIMEOUT_MS};
use crate::session::SessionHash;
use crate::time::Millis;

pub use crate::ports::Host;

/// A change to the request before it is forwarded.
#[derive(Debug, PartialEq, Eq)]
pub enum HeaderEdit<'a> {
    Set(&'a str, Vec<u8>),
    Remove(&'a str),
    /// A header the client sent under a name of its own choosing (see
    /// [`Filter::identity_spellings`]).
    RemoveName(String),
}

/// What a request presents as its session: the `Cookie` header, and `Authorization` (used
/// when it is `Session <secret>`); and the `:authority` it is addressed to, the identity
/// assertion's audience when none is configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Presented<'a> {
    pub cookie: Option<&'a [u8]>,
    pub authorization: Option<&'a [u8]>,
    pub authority: Option<&'a [u8]>,
}

impl<'a> From<Option<&'a [u8]>> for Presented<'a> {
    /// A `Cookie` header alone.
    fn from(cookie: Option<&'a [u8]>) -> Self {
        Presented {
            cookie,
            ..Presented::default()
        }
    }
}

impl<'a> Presented<'a> {
    /// The secret of an `Authorization: Session <secret>` header.
    pub fn session_authorization(&self) -> Option<&'a [u8]> {
        let value = self.authorization?;
        let scheme = value.get(..8)?;
        scheme
            .eq_ignore_ascii_case(b"Session ")
            .then(|| value[8..].trim_ascii())
    }
}

/// The configured filter, shared by every request of a VM.
#[derive(Debug)]
pub struct Filter {
    pub config: Config,
    pub(crate) codec: CookieCodec,
    pub(crate) inactive_ms: u64,
    pub(crate) max_ms: u64,
    /// Signed assertions kept for reuse (see [`crate::assertion::cache`] for why here).
    pub(crate) assertions: Assertions,
}

/// Shared-data key of the IdP-call budget (see [`Filter::admit_idp_call`]).
const IDP_BUDGET_KEY: &str = "auth0_session/idp_budget";

pub(crate) fn push_cookie_edit(edits: &mut Vec<HeaderEdit<'_>>, edit: CookieEdit) {
    match edit {
        CookieEdit::Unchanged => {}
        CookieEdit::Remove => edits.push(HeaderEdit::Remove("cookie")),
        CookieEdit::Replace(rest) => edits.push(HeaderEdit::Set("cookie", rest)),
    }
}

fn millis(secs: u64) -> u64 {
    secs.saturating_mul(1_000)
}

impl Filter {
    /// Session creation and write-through ([`crate::session::create`]) with this filter's
    /// settings.
    pub fn sessions(&self) -> Sessions<'_> {
        Sessions {
            config: &self.config,
            codec: &self.codec,
            inactive_ms: self.inactive_ms,
            max_ms: self.max_ms,
        }
    }

    pub fn new(config: Config) -> Filter {
        Filter {
            codec: CookieCodec::new(&config.cookie.signing_keys),
            inactive_ms: millis(config.cookie.inactive_lifetime),
            max_ms: millis(config.cookie.max_lifetime),
            assertions: Assertions::default(),
            config,
        }
    }

    /// The route of a request; `method` is called only if a rule naming methods matches.
    pub fn route(&self, path: &[u8], method: impl FnOnce() -> Vec<u8>) -> Route {
        route(&self.config, path, method)
    }

    /// The answer to a refused route (400 for a path the normalizer cannot settle, 403 for a
    /// `deny` rule).
    pub fn refuse(&self, host: &dyn Host, refusal: Refusal) -> Reply {
        if let Refusal::Denied(_) = refusal {
            host.count(Metric::Forbidden, 1);
        }
        refusal.reply()
    }

    /// Spends one IdP call of the process-wide budget for calls unauthenticated requests
    /// cause (docs/ARCHITECTURE.md §8): without it, every garbage opaque token, device start or
    /// callback would be one call to the tenant (and its rate limits are the tenant's, for
    /// every application). `Some`: the 429 to answer instead.
    pub fn admit_idp_call(&self, host: &dyn Host, now: Millis) -> Option<Reply> {
        let rate = self.config.limits.idp_calls_per_second;
        match crate::limiter::take(host, IDP_BUDGET_KEY, now, rate, rate.saturating_mul(2)) {
            Ok(()) => None,
            Err(retry_after) => {
                host.count(Metric::RateLimited, 1);
                Some(
                    Reply::error(
                        429,
                        "rate_limited",
                        "too many logins right now; try again shortly",
                    )
                    .with_header("retry-after", retry_after.to_string()),
                )
            }
        }
    }

    /// Login, logout and keep-alive accept GET and POST (mo-auth's clients use GET).
    pub fn endpoint_method_allowed(method: &[u8]) -> bool {
        method == b"GET" || method == b"POST"
    }

    /// The first live session among the request's session cookies; or else, when a sidecar
    /// is configured, the first well-formed cookie it has not recently denied, to restore.
    /// The session secrets a request presents: its session cookies, then an
    /// `Authorization: Session <secret>` (for clients without a cookie jar), decoded.
    pub(crate) fn presented(&self, presented: &Presented<'_>) -> (Vec<SessionHash>, CookieEdit) {
        let (candidates, edit) = match presented.cookie {
            Some(header) => take_session_cookies(header, &self.config.cookie.name),
            None => (Vec::new(), CookieEdit::Unchanged),
        };
        let mut hashes: Vec<SessionHash> = candidates
            .iter()
            .filter_map(|value| self.codec.decode(value))
            .collect();
        if let Some(secret) = presented.session_authorization() {
            hashes.extend(self.codec.decode(secret));
        }
        (hashes, edit)
    }

    pub(crate) fn syncs(&self) -> bool {
        self.config.sidecar.is_some()
    }

    /// The request headers of a sidecar call.
    pub fn sidecar_headers(
        &self,
        method: &'static str,
        path: String,
    ) -> Vec<(&'static str, String)> {
        let token = self
            .config
            .sidecar
            .as_ref()
            .map_or("", |s| s.token.as_str());
        vec![
            (":method", method.to_string()),
            (":path", path),
            (":authority", "session-sidecar".to_string()),
            ("authorization", format!("Bearer {token}")),
            ("content-type", "application/json".to_string()),
        ]
    }

    /// Drops expired sessions from one bucket (the timer walks all of them in turn), and
    /// re-marks it dirty if it holds records the sidecar lacks (see [`dirty`]).
    /// Returns the bucket's size after the sweep (`None`: no such key), for the store gauges.
    pub fn sweep(&self, host: &dyn Host, bucket: usize, now: Millis) -> Option<usize> {
        let written = store::sweep(host, bucket, now).ok()?;
        host.count(Metric::SessionsLive, written.live_delta);
        if written.dirty_left && self.syncs() {
            dirty::mark(host, bucket);
        }
        written.size
    }
}

/// A call to the session sidecar (none when no sidecar is configured).
pub(crate) fn sidecar_call(
    filter: &Filter,
    method: &'static str,
    path: String,
    body: Option<Vec<u8>>,
) -> Option<Call> {
    let sidecar = filter.config.sidecar.as_ref()?;
    Some(Call {
        upstream: Upstream::Sidecar,
        cluster: sidecar.cluster.clone(),
        headers: filter.sidecar_headers(method, path),
        body,
        timeout_ms: SIDECAR_TIMEOUT_MS,
        max_answer: MAX_ANSWER_BYTES,
    })
}

/// The headers a request may present its session in.
pub(crate) struct Credentials {
    pub(crate) cookie: Option<Vec<u8>>,
    pub(crate) authorization: Option<Vec<u8>>,
    pub(crate) authority: Option<Vec<u8>>,
}

impl Credentials {
    pub(crate) fn read(req: &dyn Request) -> Credentials {
        Credentials {
            cookie: req.header("cookie"),
            authorization: req.header("authorization"),
            authority: None,
        }
    }

    /// With the `:authority` too, when the filter's assertion takes its audience from it.
    pub(crate) fn read_for(filter: &Filter, req: &dyn Request) -> Credentials {
        let mut credentials = Credentials::read(req);
        if filter
            .config
            .assertion
            .as_ref()
            .is_some_and(|a| a.audience.is_none())
        {
            credentials.authority = req.header(":authority");
        }
        credentials
    }

    pub(crate) fn presented(&self) -> Presented<'_> {
        Presented {
            cookie: self.cookie.as_deref(),
            authorization: self.authorization.as_deref(),
            authority: self.authority.as_deref(),
        }
    }
}

pub(crate) fn text_header(req: &dyn Request, name: &str, fallback: &str) -> String {
    req.header(name)
        .and_then(|v| String::from_utf8(v).ok())
        .unwrap_or_else(|| fallback.to_string())
}

/// Whether the request is a browser navigating to a page.
pub(crate) fn is_navigation(req: &dyn Request) -> bool {
    code_flow::is_navigation(
        &req.header(":method").unwrap_or_default(),
        req.header("accept").as_deref(),
        req.header("sec-fetch-mode").as_deref(),
        req.header("x-requested-with").as_deref(),
    )
}

#[cfg(test)]
#[path = "../tests/request/filter.rs"]
mod tests;
