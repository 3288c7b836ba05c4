//! Creating a session at the end of every login: a new secret, the record in the store, the
//! user's index and its cap (the oldest sessions beyond it end), and the answer that hands
//! the secret to the client, written through to the sidecar first when one is configured.

use serde_json::json;

use crate::config::Config;
use crate::identity::Identity;
use crate::metrics::Metric;
use crate::ports::Host;
use crate::reply::Reply;
use crate::session::cookie::set_cookie;
use crate::session::cookie_mac::CookieCodec;
use crate::session::dirty;
use crate::session::store;
pub use crate::session::store::DirtyRecord;
use crate::session::sync;
use crate::session::users;
use crate::session::{new_secret, Session, SessionHash, DIRTY, SECRET_BYTES};
use crate::time::{rfc3339, Millis};

/// An answer that goes out once the sidecar has been told (or could not be).
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    Now(Reply),
    /// `POST /sync` with `body`, then call [`Filter::written_through`].
    AfterSync(WriteThrough),
}

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

#[derive(Debug, PartialEq, Eq)]
pub struct WriteThrough {
    pub body: Vec<u8>,
    pub(crate) reply: Reply,
    pub(crate) records: Vec<DirtyRecord>,
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

/// What creating a session and writing it through read of the configured filter
/// (`Filter::sessions`).
pub struct Sessions<'a> {
    pub config: &'a Config,
    pub codec: &'a CookieCodec,
    pub inactive_ms: u64,
    pub max_ms: u64,
}

impl Sessions<'_> {
    fn syncs(&self) -> bool {
        self.config.sidecar.is_some()
    }

    pub(crate) fn write_through(&self, reply: Reply, records: Vec<DirtyRecord>) -> Answer {
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
        if self
            .end(host, hash, now)
            .is_some_and(|w| w.before.is_some())
        {
            host.count(Metric::SessionsCapped, 1);
        }
    }

    /// Ends a session here on the proxy's own decision (the cap, an expired relayed token):
    /// with a sidecar, the end is told at the next sync, the tombstone keeping it ended
    /// meanwhile. `None`: the store refused the write.
    pub fn end(&self, host: &dyn Host, hash: &SessionHash, now: Millis) -> Option<store::Written> {
        let ending = if self.syncs() {
            store::Ending::Tell { absent: None }
        } else {
            store::Ending::Forget
        };
        let written = store::end(host, hash, now, &ending).ok()?;
        host.count(Metric::SessionsLive, written.live_delta);
        if written.dirtied {
            dirty::mark(host, store::bucket_index(hash));
        }
        Some(written)
    }
}
