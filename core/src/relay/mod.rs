//! Token relay (issue 23; docs/configuration.md, "Token relay"): a rule with
//! `"relay": "access_token"` sends its requests to the app with the session's access token as
//! `<relay.header>: Bearer <token>`, replacing whatever the client sent under that name. The
//! token is the one the login verified, kept in its own shared-data keys ([`tokens`]) until
//! its `exp`. A session on a relaying route without a valid token ends like a logout and the
//! client is asked to log in again ([`reauthentication_required`], or the login redirect for
//! a browser navigation with the code flow).
//!
//! Nothing here runs for a route without `relay`: no read of the token keys, no allocation.

pub mod tokens;

use crate::metrics::Metric;
use crate::policy::Relay;
use crate::ports::Host;
use crate::reply::Reply;
use crate::request::filter::{Filter, HeaderEdit};
use crate::request::routing::Access;
use crate::session::{users, SessionHash, SECRET_BYTES};
use crate::time::Millis;

/// The answer to a request on a relaying route whose session had no valid token: the
/// session has ended; the client logs in again.
pub fn reauthentication_required() -> Reply {
    Reply::error(
        401,
        "reauthentication_required",
        "the session's access token has expired; log in again",
    )
    .with_header(
        "www-authenticate",
        "Session error=\"reauthentication_required\"",
    )
}

/// What a relaying route's request carries on with.
#[derive(Debug, PartialEq, Eq)]
pub enum Relayed<'a> {
    /// Forward with this header too.
    Edit(HeaderEdit<'a>),
    /// The session had no valid token and has ended: ask the client to log in again.
    Reauthenticate,
}

impl Filter {
    /// The token the matched rule relays, if any.
    pub(crate) fn relay_of(&self, access: Access) -> Option<Relay> {
        let index = access.0?;
        self.config.rules.get(usize::from(index))?.relay
    }

    /// For a live, authorized session on a relaying route: the header that carries its token
    /// to the app; without a token valid now, the session ends (everywhere: the sidecar hears
    /// of it through the sync, its tombstone keeping it ended meanwhile).
    pub(crate) fn relay(
        &self,
        host: &dyn Host,
        hash: &SessionHash,
        relay: Relay,
        now: Millis,
    ) -> Relayed<'_> {
        match relay {
            Relay::AccessToken => match tokens::get(host, hash) {
                Some(stored) if stored.expires > now => {
                    let mut value = Vec::with_capacity(7 + stored.token.len());
                    value.extend_from_slice(b"Bearer ");
                    value.extend_from_slice(&stored.token);
                    Relayed::Edit(HeaderEdit::Set(
                        self.config.relay.header.as_str(),
                        crate::ports::HeaderValue::from_vec(value),
                    ))
                }
                _ => {
                    self.end_for_reauthentication(host, hash, now);
                    Relayed::Reauthenticate
                }
            },
        }
    }

    fn end_for_reauthentication(&self, host: &dyn Host, hash: &SessionHash, now: Millis) {
        if let Some(session) = self.sessions().end(host, hash, now).and_then(|w| w.before) {
            let _ = users::remove(host, &session.identity.sub, hash, now);
            host.count(Metric::RelayReauthenticate, 1);
        }
        let _ = tokens::remove(host, hash, now);
    }
}

/// Keeps a login's verified access token for the session about to be created under
/// `random`, when some route relays it. A token that cannot be kept is not an error of the
/// login: the session's relayed routes will ask to log in again, and the others work.
pub fn keep_login_token(
    filter: &Filter,
    host: &dyn Host,
    random: &[u8; SECRET_BYTES],
    relayable: Option<(&str, u64)>,
    now: Millis,
) {
    if !filter.config.relays() {
        return;
    }
    let Some((token, exp_secs)) = relayable else {
        return;
    };
    let hash = SessionHash::of_secret(random);
    let expires = exp_secs.saturating_mul(1_000);
    if let Err(e) = tokens::put(host, &hash, token.as_bytes(), expires, now) {
        log::warn!("relay: the login's access token is not kept ({e:?}); its relayed routes will ask to log in again");
    }
}

/// Forgets an ending session's token (logout, cap, back-channel logout).
pub fn forget(filter: &Filter, host: &dyn Host, hash: &SessionHash, now: Millis) {
    if filter.config.relays() {
        let _ = tokens::remove(host, hash, now);
    }
}

#[cfg(test)]
#[path = "../tests/relay/relay.rs"]
mod tests;
