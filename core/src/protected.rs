//! The protected request: find the request's session (here, or restorable from the
//! sidecar), authorize it against the route's rule, slide its idle window, and forward it
//! with the identity headers; without a session, 401 or the code flow's redirect to login.
//! Public paths and the removal of client-sent identity headers are here too: what the app
//! may trust of a request's identity is decided in this one module.

use serde_json::json;

use crate::config::Claim;
use crate::login::code_flow::{self, START_RANDOM_BYTES};
use crate::metrics::Metric;
use crate::ports::Request;
use crate::relay::Relayed;
use crate::reply::Reply;
use crate::request::filter::{
    is_navigation, push_cookie_edit, text_header, Filter, HeaderEdit, HeaderEdits, HeaderValue,
    Host, Presented,
};
use crate::request::routing::{Access, Refusal};
use crate::session::cookie::{take_session_cookies, CookieEdit};
use crate::session::dirty;
use crate::session::store;
use crate::session::sync::{self, Misses, RecentMisses, Restored};
use crate::session::{RecordView, Session, SessionHash};
use crate::time::{rfc3339, Millis};

// Inline on purpose: boxing the large variant would allocate on the authenticated path.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq, Eq)]
pub enum Decision<'a> {
    Forward(HeaderEdits<'a>),
    Reply(Reply),
    /// Not in shared data, but the sidecar may have it (after an Envoy restart): ask it with
    /// `GET` [`Filter::restore_path`], then call [`Filter::restored`].
    Restore(PendingRestore),
    /// No session: 401 JSON, or for a browser navigation with the code flow configured, a
    /// redirect to the login page ([`Filter::unauthenticated`]).
    Unauthenticated,
    /// A relaying route's session had no valid token and has ended: 401
    /// `reauthentication_required`, or the login redirect for a browser navigation with the
    /// code flow ([`crate::relay`]).
    Reauthenticate,
}

/// A request waiting for the sidecar to say whether its session exists.
#[derive(Debug, PartialEq, Eq)]
pub struct PendingRestore {
    pub hash: SessionHash,
    pub(crate) keep_alive: bool,
    pub(crate) access: Access,
    pub(crate) cookie_edit: CookieEdit,
    pub(crate) strip_authorization: bool,
    /// The request's `:authority`, when the assertion's audience is taken from it.
    pub(crate) authority: Option<Vec<u8>>,
}

/// A browser navigation that may be sent to the login page.
pub struct Navigation<'a> {
    pub scheme: &'a str,
    pub authority: &'a str,
    pub path: &'a [u8],
    pub random: &'a [u8; code_flow::START_RANDOM_BYTES],
}

/// Where a request's session is.
// Inline on purpose: boxing the large variant would allocate on the authenticated path.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Lookup {
    Live(SessionHash, store::Found),
    Restorable(SessionHash),
    None,
}

impl Filter {
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
                .check(record.permissions(), record.roles(), record.groups())
                .map_err(|missing| missing.reply()),
            // Fail closed: an index from another configuration never lets anyone in.
            None => Err(Refusal::Denied(index).reply()),
        };
        if verdict.is_err() {
            host.count(Metric::Forbidden, 1);
        }
        verdict
    }

    /// A public path: forwarded without a session; client-sent identity headers and our
    /// cookie are removed, so the app never sees a session secret on any path.
    pub fn public(
        &self,
        cookie_header: Option<&[u8]>,
        authorization: Option<&[u8]>,
    ) -> HeaderEdits<'_> {
        let mut edits: HeaderEdits<'_> = self
            .config
            .headers
            .iter()
            .map(|h| HeaderEdit::Remove(h.name.as_str()))
            .collect();
        if let Some(a) = &self.config.assertion {
            edits.push(HeaderEdit::Remove(a.header.as_str()));
        }
        if let Some(header) = cookie_header {
            push_cookie_edit(
                &mut edits,
                take_session_cookies(header, &self.config.cookie.name).1,
            );
        }
        let presented = Presented {
            authorization,
            ..Presented::default()
        };
        if presented.session_authorization().is_some() {
            edits.push(HeaderEdit::Remove("authorization"));
        }
        edits
    }

    /// Client-sent headers that are an identity header (or the assertion's) under another spelling: Envoy
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
            self.push_identity_spelling(name, &mut edits);
        }
        edits
    }

    /// [`Filter::identity_spellings`] for one name, added to `edits` (which stays unallocated
    /// for the usual request, whose names hold no `_`).
    pub fn push_identity_spelling(&self, name: &[u8], edits: &mut Vec<HeaderEdit<'static>>) {
        if !name.contains(&b'_') {
            return;
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
        let assertion = self.config.assertion.as_ref().map(|a| a.header.as_str());
        if self.config.headers.iter().any(|h| same(&h.name)) || assertion.is_some_and(same) {
            let name = String::from_utf8_lossy(name).into_owned();
            if !edits.contains(&HeaderEdit::RemoveName(name.clone())) {
                edits.push(HeaderEdit::RemoveName(name));
            }
        }
    }

    /// The first live session among the presented secrets; or else, when a sidecar is
    /// configured, the first well-formed one it has not recently denied, to restore.
    pub(crate) fn find_session(
        &self,
        host: &dyn Host,
        presented: &Presented<'_>,
        now: Millis,
        misses: &dyn Misses,
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
        misses: &dyn Misses,
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
        misses: &dyn Misses,
        access: Access,
    ) -> Decision<'_> {
        let presented = presented.into();
        match self.find_session(host, &presented, now, misses) {
            (Lookup::Live(hash, found), cookie_edit) => {
                let record = found.record();
                if let Err(reply) = self.authorize(host, &record, access) {
                    return Decision::Reply(reply);
                }
                let relayed = match self.relay_of(access) {
                    None => None,
                    Some(relay) => match self.relay(host, &hash, relay, now) {
                        Relayed::Edit(edit) => Some(edit),
                        Relayed::Reauthenticate => return Decision::Reauthenticate,
                    },
                };
                if store::needs_slide(&record, now, self.inactive_ms) {
                    self.slide(host, &hash, now);
                }
                let mut edits = self.identity_edits(&record);
                self.assertion_edit(host, &mut edits, &hash, &record, presented.authority, now);
                push_cookie_edit(&mut edits, cookie_edit);
                if presented.session_authorization().is_some() {
                    edits.push(HeaderEdit::Remove("authorization"));
                }
                // Last: it replaces whatever the client sent under that name.
                edits.extend(relayed);
                Decision::Forward(edits)
            }
            (Lookup::Restorable(hash), cookie_edit) => Decision::Restore(PendingRestore {
                hash,
                keep_alive: false,
                access,
                cookie_edit,
                strip_authorization: presented.session_authorization().is_some(),
                authority: presented.authority.map(<[u8]>::to_vec),
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

    /// 401, or for a browser navigation with the code flow on, the redirect to the login page.
    pub(crate) fn unauthenticated_request(
        &self,
        host: &dyn Host,
        req: &dyn Request,
        now: Millis,
    ) -> Reply {
        let filter = self;
        if filter.config.code_flow.is_none() || !is_navigation(req) {
            return filter.unauthenticated(host, None, now);
        }
        let mut random = [0u8; START_RANDOM_BYTES];
        if !host.random(&mut random) {
            return filter.unauthenticated(host, None, now);
        }
        let scheme = text_header(req, ":scheme", "https");
        let authority = text_header(req, ":authority", "");
        let path = req.header(":path").unwrap_or_default();
        filter.unauthenticated(
            host,
            Some(Navigation {
                scheme: &scheme,
                authority: &authority,
                path: &path,
                random: &random,
            }),
            now,
        )
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
                let relayed = match self.relay_of(pending.access) {
                    None => None,
                    Some(relay) => match self.relay(host, &pending.hash, relay, now) {
                        Relayed::Edit(edit) => Some(edit),
                        Relayed::Reauthenticate => return Decision::Reauthenticate,
                    },
                };
                let record = found.record();
                let mut edits = self.identity_edits(&record);
                let authority = pending.authority.as_deref();
                self.assertion_edit(host, &mut edits, &pending.hash, &record, authority, now);
                push_cookie_edit(&mut edits, pending.cookie_edit);
                if pending.strip_authorization {
                    edits.push(HeaderEdit::Remove("authorization"));
                }
                edits.extend(relayed);
                Decision::Forward(edits)
            }
            None => Decision::Reply(Reply::unauthorized()),
        }
    }

    /// Sets every configured identity header from the session; one the session has no value
    /// for is removed, so a client can never supply it.
    fn identity_edits(&self, record: &RecordView<'_>) -> HeaderEdits<'_> {
        let [sub, email, name, ..] = record.strings();
        let [permissions, roles, groups] = record.lists();
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
                    Claim::Groups => groups,
                };
                if value.is_empty() {
                    HeaderEdit::Remove(h.name.as_str())
                } else {
                    HeaderEdit::Set(h.name.as_str(), HeaderValue::from_slice(value))
                }
            })
            .collect()
    }

    /// The signed assertion's header, set from the session (cached: see
    /// [`crate::assertion`]), or removed when there is no audience to sign for, so that a
    /// client can never supply it.
    fn assertion_edit<'s>(
        &'s self,
        host: &dyn Host,
        edits: &mut HeaderEdits<'s>,
        hash: &SessionHash,
        record: &RecordView<'_>,
        authority: Option<&[u8]>,
        now: Millis,
    ) {
        let Some(settings) = &self.config.assertion else {
            return;
        };
        let header = settings.header.as_str();
        edits.push(
            match self
                .assertions
                .issue(host, settings, hash, record, authority, now)
            {
                // The signed token is already on the heap: kept there, not copied.
                Some(token) => HeaderEdit::Set(header, HeaderValue::from_vec(token)),
                None => HeaderEdit::Remove(header),
            },
        );
    }

    pub(crate) fn keep_alive_reply(
        &self,
        host: &dyn Host,
        hash: &SessionHash,
        now: Millis,
    ) -> Reply {
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
}
