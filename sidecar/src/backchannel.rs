//! `POST /backchannel-logout` (docs/logins.md: "Back-channel logout"): carries out what
//! `session_core::login::backchannel` decides. The tenant's JWKS is fetched through [`IdpClient`]
//! and cached here for every worker thread; the fetch policy is core's `fetch_due`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use session_core::config::Config;
use session_core::login::backchannel::{
    self, accepted, keys_unavailable, method_not_allowed, CheckError, LogoutToken, Refusal, Target,
    Tenant,
};
use session_core::login::jwks::{KeySet, MAX_JWKS_BYTES};
use session_core::reply::Reply;
use session_core::time::Millis;

use crate::idp::IdpClient;
use crate::store::SessionStore;

#[derive(Default)]
struct Keys {
    keys: Option<Arc<KeySet>>,
    fetched_at: Option<Millis>,
    last_attempt: Option<Millis>,
    fetches: u64,
}

pub struct Backchannel {
    issuer: String,
    client_id: String,
    jwks_path: String,
    idp: IdpClient,
    keys: Mutex<Keys>,
}

/// What a logout did, for the counters.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub accepted: bool,
    pub ended: Vec<String>,
}

impl Backchannel {
    /// The endpoint for the tenant of a filter configuration; `Ok(None)` when it has no
    /// `code_flow` (the logout token's audience is the code flow's client id).
    pub fn from_config(config: &Config) -> Result<Option<Backchannel>, String> {
        let Some(cf) = &config.code_flow else {
            return Ok(None);
        };
        let idp = IdpClient::new(
            &config.auth0.issuer,
            Duration::from_secs(config.auth0.timeout_secs),
        )?;
        Ok(Some(Backchannel {
            issuer: config.auth0.issuer.clone(),
            client_id: cf.client_id.clone(),
            jwks_path: config.auth0.jwks_path.clone(),
            idp,
            keys: Mutex::new(Keys::default()),
        }))
    }

    /// JWKS fetches so far (for `/metrics`).
    pub fn jwks_fetches(&self) -> u64 {
        self.keys.lock().map_or(0, |k| k.fetches)
    }

    /// The cached keys, after fetching them first when core's policy says a fetch is due and
    /// this thread claimed it (the claim is taken under the lock; the fetch runs outside it).
    fn keys(&self, now: Millis, unknown_kid: bool) -> Option<Arc<KeySet>> {
        let claimed = match self.keys.lock() {
            Ok(mut k) => {
                let due = backchannel::fetch_due(k.fetched_at, k.last_attempt, unknown_kid, now);
                if due {
                    k.last_attempt = Some(now);
                    k.fetches += 1;
                }
                due
            }
            Err(_) => false,
        };
        if claimed {
            match self
                .idp
                .get(&self.jwks_path, None, MAX_JWKS_BYTES)
                .and_then(|a| match a.status {
                    200 => KeySet::parse(&a.body),
                    status => Err(format!("status {status}")),
                }) {
                Ok(keys) => {
                    log::info!(
                        "JWKS fetched from {}, {} signing key(s)",
                        self.idp.origin(),
                        keys.len()
                    );
                    if let Ok(mut k) = self.keys.lock() {
                        k.keys = Some(Arc::new(keys));
                        k.fetched_at = Some(now);
                    }
                }
                // A failed fetch keeps the keys we had.
                Err(why) => log::warn!("JWKS fetch from {} failed: {why}", self.idp.origin()),
            }
        }
        self.keys.lock().ok().and_then(|k| k.keys.clone())
    }

    fn verify(&self, token: &str, now: Millis) -> Result<LogoutToken, Reply> {
        let tenant = Tenant {
            issuer: &self.issuer,
            client_id: &self.client_id,
        };
        let keys = self.keys(now, false);
        match backchannel::check(token, keys.as_deref(), &tenant, now) {
            Ok(t) => return Ok(t),
            Err(CheckError::Refused(r)) => return Err(r.reply()),
            Err(CheckError::UnknownKey) => {}
        }
        let keys = self.keys(now, true);
        match backchannel::check(token, keys.as_deref(), &tenant, now) {
            Ok(t) => Ok(t),
            Err(CheckError::Refused(r)) => Err(r.reply()),
            Err(CheckError::UnknownKey) if keys.is_none() => Err(keys_unavailable()),
            Err(CheckError::UnknownKey) => Err(Refusal::UnknownKey.reply()),
        }
    }

    /// One request to the endpoint.
    pub fn handle(
        &self,
        store: &dyn SessionStore,
        method: &str,
        body: &[u8],
        now: Millis,
    ) -> (Reply, Outcome) {
        if method != "POST" {
            return (method_not_allowed(), Outcome::default());
        }
        let token = match backchannel::token_from_form(body) {
            Ok(token) => token,
            Err(r) => return (refused(r.reply()), Outcome::default()),
        };
        let token = match self.verify(&token, now) {
            Ok(t) => t,
            Err(reply) => return (refused(reply), Outcome::default()),
        };
        // Last: only a token that passed every check is remembered.
        match store.remember_jti(&token.jti, token.remember_until(), now) {
            Ok(true) => {}
            Ok(false) => return (refused(Refusal::Replayed.reply()), Outcome::default()),
            Err(e) => return (store_failed(&e.0), Outcome::default()),
        }
        let ended = match token.target() {
            Some(Target::Sid(sid)) => store.end_sessions_by_sid(sid, now),
            Some(Target::UserBefore { sub, before }) => {
                store.end_user_sessions_before(sub, before, now)
            }
            None => return (refused(Refusal::NoSubject.reply()), Outcome::default()),
        };
        match ended {
            Ok(ended) => {
                log::info!(
                    "back-channel logout by {}: {} session(s) ended",
                    if token.sid.is_some() { "sid" } else { "sub" },
                    ended.len()
                );
                (
                    accepted(),
                    Outcome {
                        accepted: true,
                        ended,
                    },
                )
            }
            Err(e) => (store_failed(&e.0), Outcome::default()),
        }
    }
}

fn refused(reply: Reply) -> Reply {
    if let Some(reason) = serde_json::from_str::<serde_json::Value>(&reply.body)
        .ok()
        .and_then(|v| v.get("reason").and_then(|r| r.as_str()).map(str::to_string))
    {
        log::warn!("back-channel logout refused: {reason}");
    }
    reply
}

fn store_failed(why: &str) -> Reply {
    log::error!("back-channel logout failed: {why}");
    Reply::error(
        503,
        "store_unavailable",
        "the session store failed; try again",
    )
}
