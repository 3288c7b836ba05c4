//! Logout: every session the request presents ends here and at the sidecar (written
//! through before the answer), the cookie is cleared, and with `code_flow.logout_redirect`
//! the browser goes through Auth0's `/v2/logout` too. Refused from another site.

use serde_json::json;

use crate::identity::Identity;
use crate::metrics::Metric;
use crate::ports::Request;
use crate::reply::Reply;
use crate::request::filter::{is_navigation, Credentials, Filter, Host, Presented};
use crate::session::cookie::clear_cookie;
use crate::session::create::{Answer, DirtyRecord};
use crate::session::store;
use crate::session::users;
use crate::session::Session;
use crate::time::Millis;

impl Filter {
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
                        crate::relay::forget(self, host, &hash, now);
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
        self.sessions().write_through(reply, ended)
    }

    /// A request to the logout endpoint, read from its headers (method and site checked).
    pub(crate) fn logout_request(&self, host: &dyn Host, req: &dyn Request, now: Millis) -> Answer {
        let method = req.header(":method").unwrap_or_default();
        let site = req.header("sec-fetch-site");
        if let Some(reply) = Filter::logout_refusal(&method, site.as_deref()) {
            return Answer::Now(reply);
        }
        let credentials = Credentials::read(req);
        let navigation = self
            .config
            .code_flow
            .as_ref()
            .is_some_and(|cf| cf.logout_redirect.is_some())
            && is_navigation(req);
        self.logout(host, credentials.presented(), now, navigation)
    }
}
