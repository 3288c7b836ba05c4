//! Keep-alive: a client that is active without requests through the proxy (an SPA, a long
//! form) slides its session's idle window and learns the new deadlines. A session this
//! proxy does not hold is restored from the sidecar first, as for a protected request.

use crate::metrics::Metric;
use crate::protected::{Decision, Lookup, PendingRestore};
use crate::reply::Reply;
use crate::request::filter::{Filter, Host, Presented};
use crate::request::routing::Access;
use crate::session::sync::RecentMisses;
use crate::time::Millis;

impl Filter {
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
                authority: None,
            }),
            (Lookup::None, _) => {
                host.count(Metric::Rejected, 1);
                Decision::Reply(Reply::unauthorized())
            }
        }
    }
}
