//! What the filter does with each request (docs/ARCHITECTURE.md §4), as values the glue carries out: a
//! local reply, or forwarding with header edits. All host access goes through [`Host`].

use serde_json::json;

use crate::config::{Claim, Config};
use crate::login::code_flow;
use crate::login::token::Identity;
use crate::metrics::Metric;
use crate::request::reply::Reply;
use crate::request::routing::{route, Access, Refusal, Route};
use crate::session::cookie::{clear_cookie, set_cookie, take_session_cookies, CookieEdit};
use crate::session::cookie_mac::CookieCodec;
use crate::session::dirty;
use crate::session::own_sessions;
#[cfg(test)]
use crate::session::store::SharedData;
use crate::session::store::{self, DirtyRecord};
use crate::session::sync::{self, RecentMisses, Restored};
use crate::session::users;
use crate::session::{new_secret, RecordView, Session, SessionHash, DIRTY, SECRET_BYTES};
use crate::time::{rfc3339, Millis};

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

#[derive(Debug, PartialEq, Eq)]
pub enum Decision<'a> {
    Forward(Vec<HeaderEdit<'a>>),
    Reply(Reply),
    /// Not in shared data, but the sidecar may have it (after an Envoy restart): ask it with
    /// `GET` [`Filter::restore_path`], then call [`Filter::restored`].
    Restore(PendingRestore),
    /// No session: 401 JSON, or for a browser navigation with the code flow configured, a
    /// redirect to the login page ([`Filter::unauthenticated`]).
    Unauthenticated,
}

/// A request waiting for the sidecar to say whether its session exists.
#[derive(Debug, PartialEq, Eq)]
pub struct PendingRestore {
    pub hash: SessionHash,
    keep_alive: bool,
    access: Access,
    cookie_edit: CookieEdit,
    strip_authorization: bool,
}

/// What a request presents as its session: the `Cookie` header, and `Authorization` (used
/// when it is `Session <secret>`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Presented<'a> {
    pub cookie: Option<&'a [u8]>,
    pub authorization: Option<&'a [u8]>,
}

impl<'a> From<Option<&'a [u8]>> for Presented<'a> {
    /// A `Cookie` header alone.
    fn from(cookie: Option<&'a [u8]>) -> Self {
        Presented {
            cookie,
            authorization: None,
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

/// An answer that goes out once the sidecar has been told (or could not be).
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    Now(Reply),
    /// `POST /sync` with `body`, then call [`Filter::written_through`].
    AfterSync(WriteThrough),
}

/// A browser navigation that may be sent to the login page.
pub struct Navigation<'a> {
    pub scheme: &'a str,
    pub authority: &'a str,
    pub path: &'a [u8],
    pub random: &'a [u8; code_flow::START_RANDOM_BYTES],
}

#[derive(Debug, PartialEq, Eq)]
pub struct WriteThrough {
    pub body: Vec<u8>,
    reply: Reply,
    records: Vec<DirtyRecord>,
}

#[cfg(test)]
impl WriteThrough {
    pub(crate) fn clone_for_tests(&self) -> WriteThrough {
        WriteThrough {
            body: self.body.clone(),
            reply: self.reply.clone(),
            records: self.records.clone(),
        }
    }

    pub(crate) fn records_for_tests(&self) -> &[DirtyRecord] {
        &self.records
    }
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
    ask: own_sessions::Ask,
    caller: SessionHash,
}

/// The configured filter, shared by every request of a VM.
#[derive(Debug)]
pub struct Filter {
    pub config: Config,
    codec: CookieCodec,
    inactive_ms: u64,
    max_ms: u64,
}

/// Shared-data key of the IdP-call budget (see [`Filter::admit_idp_call`]).
const IDP_BUDGET_KEY: &str = "auth0_session/idp_budget";

/// Where a successful login leaves the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Landing {
    /// The token login: the session body as JSON.
    Json,
    /// The code flow: back to the page first asked for, the login cookie cleared.
    Redirect {
        location: String,
        clear_login_cookie: String,
    },
}

/// Where a request's session is.
enum Lookup {
    Live(SessionHash, store::Found),
    Restorable(SessionHash),
    None,
}

fn push_cookie_edit(edits: &mut Vec<HeaderEdit<'_>>, edit: CookieEdit) {
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
    pub fn new(config: Config) -> Filter {
        Filter {
            codec: CookieCodec::new(&config.cookie.signing_keys),
            inactive_ms: millis(config.cookie.inactive_lifetime),
            max_ms: millis(config.cookie.max_lifetime),
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

    /// Whether a live session holds what the matched rule asks; otherwise the 403 naming
    /// what it lacks. Reads the record in place: no allocation when it passes.
    fn authorize(
        &self,
        host: &dyn Host,
        record: &RecordView<'_>,
        access: Access,
    ) -> Result<(), Reply> {
        let Some(index) = access.0 else {
            return Ok(());
        };
        let verdict = match self.config.rules.get(usize::from(index)) {
            Some(rule) => rule
                .allow
                .check(record.permissions(), record.roles())
                .map_err(|missing| missing.reply()),
            // Fail closed: an index from another configuration never lets anyone in.
            None => Err(Refusal::Denied(index).reply()),
        };
        if verdict.is_err() {
            host.count(Metric::Forbidden, 1);
        }
        verdict
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

    /// A public path: forwarded without a session; client-sent identity headers and our
    /// cookie are removed, so the app never sees a session secret on any path.
    pub fn public(
        &self,
        cookie_header: Option<&[u8]>,
        authorization: Option<&[u8]>,
    ) -> Vec<HeaderEdit<'_>> {
        let mut edits: Vec<HeaderEdit<'_>> = self
            .config
            .headers
            .iter()
            .map(|h| HeaderEdit::Remove(h.name.as_str()))
            .collect();
        if let Some(header) = cookie_header {
            push_cookie_edit(
                &mut edits,
                take_session_cookies(header, &self.config.cookie.name).1,
            );
        }
        let presented = Presented {
            cookie: None,
            authorization,
        };
        if presented.session_authorization().is_some() {
            edits.push(HeaderEdit::Remove("authorization"));
        }
        edits
    }

    /// Client-sent headers that are an identity header under another spelling: Envoy
    /// lowercases names, but `X_Auth_User` stays, and WSGI, PHP and Rack read it as
    /// `HTTP_X_AUTH_USER`, exactly as they read `x-auth-user` (docs/ARCHITECTURE.md §8 rule 5). Every such
    /// name the request carries is removed, on every path. `names` are the request's header
    /// names; the configured spellings themselves are handled by [`Filter::public`] and the
    /// identity edits.
    pub fn identity_spellings<'n>(
        &self,
        names: impl IntoIterator<Item = &'n [u8]>,
    ) -> Vec<HeaderEdit<'static>> {
        let mut edits: Vec<HeaderEdit<'static>> = Vec::new();
        for name in names {
            if !name.contains(&b'_') {
                continue;
            }
            let same = |configured: &str| {
                configured.len() == name.len()
                    && configured.bytes().zip(name).all(|(c, n)| {
                        let n = if *n == b'_' {
                            b'-'
                        } else {
                            n.to_ascii_lowercase()
                        };
                        c == n
                    })
            };
            if self.config.headers.iter().any(|h| same(&h.name)) {
                let name = String::from_utf8_lossy(name).into_owned();
                if !edits.contains(&HeaderEdit::RemoveName(name.clone())) {
                    edits.push(HeaderEdit::RemoveName(name));
                }
            }
        }
        edits
    }

    /// Logout must not work from another site (docs/ARCHITECTURE.md §4): a cross-site link or image makes
    /// a GET that carries a SameSite=Lax cookie, and with `logout_redirect` it would end the
    /// IdP session too. POST is accepted (Lax cookies are not sent with a cross-site POST);
    /// GET only when the browser says it is its own navigation (`Sec-Fetch-Site:
    /// same-origin` or `none`, a typed URL or bookmark). `None`: go ahead.
    pub fn logout_refusal(method: &[u8], sec_fetch_site: Option<&[u8]>) -> Option<Reply> {
        if method == b"POST" {
            return None;
        }
        match sec_fetch_site.map(<[u8]>::trim_ascii) {
            Some(site)
                if site.eq_ignore_ascii_case(b"same-origin")
                    || site.eq_ignore_ascii_case(b"none") =>
            {
                None
            }
            Some(_) => Some(Reply::error(
                403,
                "cross_site_request",
                "logout from another site is refused; log out from this site, or with POST",
            )),
            None => Some(
                Reply::error(
                    405,
                    "method_not_allowed",
                    "log out with POST (a GET is accepted only as a browser's own navigation)",
                )
                .with_header("allow", "POST"),
            ),
        }
    }

    /// The first live session among the request's session cookies; or else, when a sidecar
    /// is configured, the first well-formed cookie it has not recently denied, to restore.
    /// The session secrets a request presents: its session cookies, then an
    /// `Authorization: Session <secret>` (for clients without a cookie jar), decoded.
    fn presented(&self, presented: &Presented<'_>) -> (Vec<SessionHash>, CookieEdit) {
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

    /// The first live session among the presented secrets; or else, when a sidecar is
    /// configured, the first well-formed one it has not recently denied, to restore.
    fn find_session(
        &self,
        host: &dyn Host,
        presented: &Presented<'_>,
        now: Millis,
        misses: &RecentMisses,
    ) -> (Lookup, CookieEdit) {
        let (hashes, edit) = self.presented(presented);
        let mut restorable = None;
        for hash in hashes {
            match store::probe(host, &hash, now) {
                store::Probe::Live(found) => return (Lookup::Live(hash, found), edit),
                // Ended here: the sidecar may not know yet (it was down at the logout), so
                // asking it could bring the session back (docs/ARCHITECTURE.md §8 rule 6).
                store::Probe::Ended => {}
                store::Probe::Missing => {
                    if restorable.is_none() && !misses.contains(&hash, now) {
                        restorable = Some(hash);
                    }
                }
            }
        }
        match restorable.filter(|_| self.syncs()) {
            Some(hash) => (Lookup::Restorable(hash), edit),
            None => (Lookup::None, edit),
        }
    }

    fn syncs(&self) -> bool {
        self.config.sidecar.is_some()
    }

    /// Slides a live session's idle window; a slide the sidecar should hear of marks the
    /// bucket dirty. A failed slide is not an error: the session is live now, and the next
    /// request tries again.
    fn slide(&self, host: &dyn Host, hash: &SessionHash, now: Millis) -> Option<Session> {
        let (after, written) =
            store::touch(host, hash, now, self.inactive_ms, self.syncs()).ok()?;
        host.count(Metric::SessionsLive, written.live_delta);
        if written.dirtied {
            dirty::mark(host, store::bucket_index(hash));
        }
        after
    }

    /// A path any live session reaches: [`Filter::protected_by`] with [`Access::SESSION`].
    pub fn protected<'p>(
        &self,
        host: &dyn Host,
        presented: impl Into<Presented<'p>>,
        now: Millis,
        misses: &RecentMisses,
    ) -> Decision<'_> {
        self.protected_by(host, presented, now, misses, Access::SESSION)
    }

    /// Any other path: forwarded with identity headers when the session is live and holds
    /// what the route's rule asks (sliding its idle window); 403 when it lacks it (without
    /// sliding: a refused request is not activity); otherwise 401.
    pub fn protected_by<'p>(
        &self,
        host: &dyn Host,
        presented: impl Into<Presented<'p>>,
        now: Millis,
        misses: &RecentMisses,
        access: Access,
    ) -> Decision<'_> {
        let presented = presented.into();
        match self.find_session(host, &presented, now, misses) {
            (Lookup::Live(hash, found), cookie_edit) => {
                let record = found.record();
                if let Err(reply) = self.authorize(host, &record, access) {
                    return Decision::Reply(reply);
                }
                if store::needs_slide(&record, now, self.inactive_ms) {
                    self.slide(host, &hash, now);
                }
                let mut edits = self.identity_edits(&record);
                push_cookie_edit(&mut edits, cookie_edit);
                if presented.session_authorization().is_some() {
                    edits.push(HeaderEdit::Remove("authorization"));
                }
                Decision::Forward(edits)
            }
            (Lookup::Restorable(hash), cookie_edit) => Decision::Restore(PendingRestore {
                hash,
                keep_alive: false,
                access,
                cookie_edit,
                strip_authorization: presented.session_authorization().is_some(),
            }),
            (Lookup::None, _) => {
                host.count(Metric::Rejected, 1);
                Decision::Unauthenticated
            }
        }
    }

    /// The answer to a protected request without a session: for a browser navigation with
    /// the code flow configured, a redirect to the IdP's login page; otherwise 401 JSON.
    pub fn unauthenticated(
        &self,
        host: &dyn Host,
        navigation: Option<Navigation<'_>>,
        now: Millis,
    ) -> Reply {
        match (&self.config.code_flow, navigation) {
            (Some(cf), Some(nav)) => code_flow::start(
                &self.config,
                cf,
                host,
                nav.scheme,
                nav.authority,
                nav.path,
                nav.random,
                now,
            ),
            _ => Reply::unauthorized(),
        }
    }

    /// Path of the sidecar lookup for a pending restore.
    pub fn restore_path(pending: &PendingRestore) -> String {
        sync::restore_path(&pending.hash)
    }

    /// Carries on with a request after the sidecar answered a restore: a session it has is
    /// put back in shared data with its original deadlines and the request proceeds; one it
    /// does not have is refused (and remembered for a while); no answer fails closed (503).
    pub fn restored(
        &self,
        host: &dyn Host,
        pending: PendingRestore,
        status: Option<u32>,
        body: &[u8],
        now: Millis,
        misses: &mut RecentMisses,
    ) -> Decision<'_> {
        let session = match sync::parse_restore(&pending.hash, status, body, now) {
            Restored::Found(session) => session,
            Restored::NotFound => {
                let memory = if self.codec.signs() {
                    sync::SIGNED_MISS_MEMORY_MS
                } else {
                    sync::MISS_MEMORY_MS
                };
                misses.insert_for(pending.hash, now, memory);
                host.count(Metric::Rejected, 1);
                return if pending.keep_alive {
                    Decision::Reply(Reply::unauthorized())
                } else {
                    Decision::Unauthenticated
                };
            }
            Restored::Unavailable => return Decision::Reply(Reply::store_unavailable()),
        };
        // Restored sessions are clean: the sidecar is where they came from. One that ended
        // here while the sidecar was answering stays ended.
        match store::restore(host, &session, now) {
            Ok(written) if written.ended => {
                host.count(Metric::Rejected, 1);
                return if pending.keep_alive {
                    Decision::Reply(Reply::unauthorized())
                } else {
                    Decision::Unauthenticated
                };
            }
            Ok(written) => {
                host.count(Metric::SessionsLive, written.live_delta);
                host.count(Metric::Restored, 1);
            }
            Err(_) => return Decision::Reply(Reply::store_unavailable()),
        }
        if pending.keep_alive {
            return Decision::Reply(self.keep_alive_reply(host, &pending.hash, now));
        }
        match store::lookup(host, &pending.hash, now) {
            Some(found) => {
                if let Err(reply) = self.authorize(host, &found.record(), pending.access) {
                    return Decision::Reply(reply);
                }
                let mut edits = self.identity_edits(&found.record());
                push_cookie_edit(&mut edits, pending.cookie_edit);
                if pending.strip_authorization {
                    edits.push(HeaderEdit::Remove("authorization"));
                }
                Decision::Forward(edits)
            }
            None => Decision::Reply(Reply::unauthorized()),
        }
    }

    /// Sets every configured identity header from the session; one the session has no value
    /// for is removed, so a client can never supply it.
    fn identity_edits(&self, record: &RecordView<'_>) -> Vec<HeaderEdit<'_>> {
        let [sub, email, name, ..] = record.strings();
        let [permissions, roles] = record.lists();
        self.config
            .headers
            .iter()
            .map(|h| {
                let value = match h.claim {
                    Claim::Sub => sub,
                    Claim::Email => email,
                    Claim::Name => name,
                    Claim::Permissions => permissions,
                    Claim::Roles => roles,
                };
                if value.is_empty() {
                    HeaderEdit::Remove(h.name.as_str())
                } else {
                    HeaderEdit::Set(h.name.as_str(), value.to_vec())
                }
            })
            .collect()
    }

    /// Keep-alive: slides the idle window of a live session and says the new deadlines.
    pub fn keep_alive<'p>(
        &self,
        host: &dyn Host,
        presented: impl Into<Presented<'p>>,
        now: Millis,
        misses: &RecentMisses,
    ) -> Decision<'_> {
        match self.find_session(host, &presented.into(), now, misses) {
            (Lookup::Live(hash, _), _) => Decision::Reply(self.keep_alive_reply(host, &hash, now)),
            (Lookup::Restorable(hash), cookie_edit) => Decision::Restore(PendingRestore {
                hash,
                keep_alive: true,
                access: Access::SESSION,
                cookie_edit,
                strip_authorization: false,
            }),
            (Lookup::None, _) => {
                host.count(Metric::Rejected, 1);
                Decision::Reply(Reply::unauthorized())
            }
        }
    }

    fn keep_alive_reply(&self, host: &dyn Host, hash: &SessionHash, now: Millis) -> Reply {
        match store::touch(host, hash, now, self.inactive_ms, self.syncs()) {
            Ok((Some(session), written)) => {
                host.count(Metric::SessionsLive, written.live_delta);
                if written.dirtied {
                    dirty::mark(host, store::bucket_index(hash));
                }
                host.count(Metric::KeepAlive, 1);
                Reply::json(
                    200,
                    &json!({
                        "expires": rfc3339(session.max_deadline),
                        "idle_expires": rfc3339(session.idle_deadline),
                        "inactive_lifetime": self.config.cookie.inactive_lifetime,
                    }),
                )
            }
            Ok((None, written)) => {
                // Expired or ended between the lookup and the write.
                host.count(Metric::SessionsLive, written.live_delta);
                host.count(Metric::Rejected, 1);
                Reply::unauthorized()
            }
            Err(_) => Reply::store_unavailable(),
        }
    }

    /// Logout: ends every session the request's cookies name and clears the cookie. Answers
    /// 200 even without a session, so logging out twice is harmless. With a sidecar, the end
    /// is written through before the answer; until the sidecar has it, a tombstone stays.
    ///
    /// With `code_flow.logout_redirect`, a browser navigation is also sent through Auth0's
    /// `/v2/logout` (ending the IdP session too) and back to that URL; other requests get
    /// the URL as `logout_url` in the JSON, for an SPA to go to.
    pub fn logout<'p>(
        &self,
        host: &dyn Host,
        presented: impl Into<Presented<'p>>,
        now: Millis,
        navigation: bool,
    ) -> Answer {
        let mut ended = Vec::new();
        let mut logged_out = false;
        {
            let (hashes, _) = self.presented(&presented.into());
            for hash in hashes {
                // With a sidecar, a session this Envoy does not hold (right after a restart)
                // is ended there too: it is live at the sidecar, and would be restored.
                let ending = if self.syncs() {
                    store::Ending::Tell {
                        absent: Some(Box::new(Session {
                            hash,
                            created: now,
                            idle_deadline: now,
                            max_deadline: now.saturating_add(self.max_ms),
                            identity: Identity::default(),
                            user_agent: None,
                        })),
                    }
                } else {
                    store::Ending::Forget
                };
                match store::end(host, &hash, now, &ending) {
                    Ok(written) => {
                        host.count(Metric::SessionsLive, written.live_delta);
                        let live = written.before.is_some();
                        if live {
                            logged_out = true;
                        }
                        if let (store::Ending::Tell { absent: Some(s) }, false) = (&ending, live) {
                            ended.push(DirtyRecord {
                                session: (**s).clone(),
                                ended: true,
                            });
                        }
                        if let Some(session) = written.before {
                            let _ = users::remove(host, &session.identity.sub, &hash, now);
                            ended.push(DirtyRecord {
                                session,
                                ended: true,
                            });
                        }
                    }
                    // Fail closed: the session may still be live, so do not claim otherwise.
                    Err(_) => return Answer::Now(Reply::store_unavailable()),
                }
            }
        }
        host.count(Metric::Logout, 1);
        let clear = clear_cookie(&self.config.cookie);
        let idp_logout = self.config.code_flow.as_ref().and_then(|cf| {
            let to = cf.logout_redirect.as_ref()?;
            Some(format!(
                "{}v2/logout?client_id={}&returnTo={}",
                self.config.auth0.issuer,
                crate::url::percent_encode(&cf.client_id),
                crate::url::percent_encode(to)
            ))
        });
        let reply = match idp_logout {
            Some(url) if navigation => Reply::redirect(&url).with_header("set-cookie", clear),
            Some(url) => Reply::json(200, &json!({ "logged_out": logged_out, "logout_url": url }))
                .with_header("set-cookie", clear),
            None => Reply::json(200, &json!({ "logged_out": logged_out }))
                .with_header("set-cookie", clear),
        };
        self.write_through(reply, ended)
    }

    fn write_through(&self, reply: Reply, records: Vec<DirtyRecord>) -> Answer {
        if !self.syncs() || records.is_empty() {
            return Answer::Now(reply);
        }
        let refs: Vec<&DirtyRecord> = records.iter().collect();
        Answer::AfterSync(WriteThrough {
            body: sync::request_body(None, &refs),
            reply,
            records,
        })
    }

    /// The answer of a write-through: acknowledged records become clean; otherwise they stay
    /// dirty and the sync timer retries until the sidecar has them. The reply goes out either
    /// way: a sidecar outage does not stop logins or logouts. Except, with
    /// `sidecar.login_requires_store`, a login the sidecar did not store: its session is
    /// dropped and the answer is 503, so no answered login can be lost with this Envoy.
    pub fn written_through(
        &self,
        host: &dyn Host,
        wt: WriteThrough,
        acknowledged: bool,
        now: Millis,
    ) -> Reply {
        let strict = self
            .config
            .sidecar
            .as_ref()
            .is_some_and(|s| s.login_requires_store);
        if !acknowledged && strict && wt.records.iter().all(|r| !r.ended) {
            for record in &wt.records {
                if let Ok(written) =
                    store::end(host, &record.session.hash, now, &store::Ending::Forget)
                {
                    host.count(Metric::SessionsLive, written.live_delta);
                }
            }
            host.count(Metric::SyncErrors, 1);
            return Reply::store_unavailable();
        }
        for record in &wt.records {
            if acknowledged {
                host.count(
                    Metric::SessionsLive,
                    sync::acknowledge_one(host, record, now),
                );
            } else {
                dirty::mark(host, store::bucket_index(&record.session.hash));
            }
        }
        if !acknowledged {
            host.count(Metric::SyncErrors, 1);
        }
        wt.reply
    }

    /// The end of a successful login: a new session under a new secret, and the answer that
    /// hands the secret to the client: the JSON body and `Set-Cookie` of the token login, or,
    /// for the code flow, the `Set-Cookie` on a redirect back to the page first asked for.
    pub fn create_session(
        &self,
        host: &dyn Host,
        identity: Identity,
        random: &[u8; SECRET_BYTES],
        now: Millis,
        landing: Landing,
    ) -> Answer {
        self.create_session_from(host, identity, None, random, now, landing)
    }

    /// [`Filter::create_session`] for a client that sent this `User-Agent`: a summary of it
    /// is kept with the session, for the user's list of their sessions.
    pub fn create_session_from(
        &self,
        host: &dyn Host,
        identity: Identity,
        user_agent: Option<&[u8]>,
        random: &[u8; SECRET_BYTES],
        now: Millis,
        landing: Landing,
    ) -> Answer {
        let (secret, hash) = new_secret(random);
        let secret = self.codec.encode(&secret, random);
        let mut session = Session::new(hash, identity, now, self.inactive_ms, self.max_ms);
        session.user_agent = user_agent.and_then(crate::session::user_agent::summarize);
        let flags = if self.syncs() { DIRTY } else { 0 };
        match store::insert(host, &session, flags, now) {
            Ok(written) => {
                host.count(Metric::SessionsLive, written.live_delta);
            }
            Err(_) => return Answer::Now(Reply::store_unavailable()),
        }
        // Listed under its user before the answer goes out, so that the cap always sees it.
        let alive = |h: &SessionHash| matches!(store::probe(host, h, now), store::Probe::Live(_));
        match users::add(
            host,
            &session.identity.sub,
            &hash,
            session.max_deadline,
            now,
            self.config.limits.sessions_per_user,
            &alive,
        ) {
            Ok(evicted) => {
                for old in evicted {
                    self.end_capped(host, &old, now);
                }
            }
            Err(_) => {
                // Not listed, so not capped: this login does not happen.
                if let Ok(written) = store::end(host, &hash, now, &store::Ending::Forget) {
                    host.count(Metric::SessionsLive, written.live_delta);
                }
                return Answer::Now(Reply::store_unavailable());
            }
        }
        host.count(Metric::LoginOk, 1);
        let c = &self.config.cookie;
        let session_cookie = set_cookie(c, &secret, now, session.max_deadline);
        if let Landing::Redirect {
            location,
            clear_login_cookie,
        } = landing
        {
            let reply = Reply::redirect(&location)
                .with_header("set-cookie", session_cookie)
                .with_header("set-cookie", clear_login_cookie);
            return self.write_through(
                reply,
                vec![DirtyRecord {
                    session,
                    ended: false,
                }],
            );
        }
        let reply = Reply::json(
            200,
            &json!({
                "name": c.name,
                "value": secret,
                "domain": c.domain,
                "path": c.path,
                "secure": c.secure,
                "httponly": c.httponly,
                "expires": rfc3339(session.max_deadline),
                "inactive_lifetime": c.inactive_lifetime,
            }),
        )
        .with_header("set-cookie", session_cookie);
        self.write_through(
            reply,
            vec![DirtyRecord {
                session,
                ended: false,
            }],
        )
    }

    /// Ends a user's oldest session beyond `limits.sessions_per_user`, as a logout would
    /// (the sidecar hears of it through the sync, the tombstone keeping it ended meanwhile).
    fn end_capped(&self, host: &dyn Host, hash: &SessionHash, now: Millis) {
        let ending = if self.syncs() {
            store::Ending::Tell { absent: None }
        } else {
            store::Ending::Forget
        };
        if let Ok(written) = store::end(host, hash, now, &ending) {
            host.count(Metric::SessionsLive, written.live_delta);
            if written.before.is_some() {
                host.count(Metric::SessionsCapped, 1);
            }
            if written.dirtied {
                dirty::mark(host, store::bucket_index(hash));
            }
        }
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
        let ask = own_sessions::ask(&self.config.endpoints.sessions, &path, request.method)?;
        if ask != own_sessions::Ask::List
            && !own_sessions::same_origin(
                request.sec_fetch_site,
                request.origin,
                request.scheme,
                request.authority,
            )
        {
            return Err(own_sessions::cross_site());
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
        let (method, path) = own_sessions::sidecar_call(&ask, &caller);
        Ok(OwnSessionsCall {
            method,
            path,
            pending: PendingOwnSessions { ask, caller },
        })
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
        let answered = own_sessions::on_answer(
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
}

#[cfg(test)]
#[path = "../tests/filter.rs"]
mod tests;
