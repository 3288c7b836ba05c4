//! The filter's Envoy stats. Envoy 1.40 lists them on its admin `/stats` as
//! `wasmcustom.<name>`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    LoginOk,
    LoginInvalidToken,
    LoginExpired,
    LoginWrongAudience,
    LoginInsufficientScope,
    LoginIdpUnavailable,
    Logout,
    KeepAlive,
    /// Requests to a protected path (or keep-alive) without a live session.
    Rejected,
    /// Requests refused by a rule: `deny`, or a session lacking the permissions or roles asked.
    Forbidden,
    JwksFetchOk,
    JwksFetchFailed,
    /// Sessions put back in shared data from the sidecar.
    Restored,
    /// Sync batches acknowledged by the sidecar.
    SyncBatches,
    /// Sidecar calls (batches, write-throughs) that failed; retried.
    SyncErrors,
    /// Gauge: live sessions in shared data (expired ones count until a write or sweep drops them).
    SessionsLive,
    /// Gauge: session bucket keys that exist in shared data (never more than 4,096), as of the
    /// last full sweep.
    StoreKeys,
    /// Gauge: bytes of session records in shared data, as of the last full sweep.
    StoreBytes,
    /// Requests refused 429 because the IdP-call budget for unauthenticated requests was spent.
    RateLimited,
    /// Sessions ended because their user logged in once more beyond `limits.sessions_per_user`.
    SessionsCapped,
    /// Sessions ended on a relaying route because they held no valid token to relay.
    RelayReauthenticate,
    /// Identity assertions signed (a cached one reused is not counted): about one per live
    /// session, audience and half lifetime (per worker in the wasm filter).
    AssertionsSigned,
    /// Logins refused 403 because an identity API did not confirm the account.
    LoginNotConfirmed,
    /// Logins refused 503 because an identity API with `on_failure: refuse` failed.
    ProfileRefused,
    /// Identity API calls that failed where `on_failure: continue` let the login go on.
    ProfileSkipped,
    /// Client-credentials tokens fetched for identity APIs.
    ProfileTokenFetched,
}

impl Metric {
    pub const ALL: [Metric; 26] = [
        Metric::LoginOk,
        Metric::LoginInvalidToken,
        Metric::LoginExpired,
        Metric::LoginWrongAudience,
        Metric::LoginInsufficientScope,
        Metric::LoginIdpUnavailable,
        Metric::Logout,
        Metric::KeepAlive,
        Metric::Rejected,
        Metric::Forbidden,
        Metric::JwksFetchOk,
        Metric::JwksFetchFailed,
        Metric::Restored,
        Metric::SyncBatches,
        Metric::SyncErrors,
        Metric::SessionsLive,
        Metric::StoreKeys,
        Metric::StoreBytes,
        Metric::RateLimited,
        Metric::SessionsCapped,
        Metric::RelayReauthenticate,
        Metric::AssertionsSigned,
        Metric::LoginNotConfirmed,
        Metric::ProfileRefused,
        Metric::ProfileSkipped,
        Metric::ProfileTokenFetched,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::LoginOk => "auth0_session.login.ok",
            Metric::LoginInvalidToken => "auth0_session.login.invalid_token",
            Metric::LoginExpired => "auth0_session.login.expired",
            Metric::LoginWrongAudience => "auth0_session.login.wrong_audience",
            Metric::LoginInsufficientScope => "auth0_session.login.insufficient_scope",
            Metric::LoginIdpUnavailable => "auth0_session.login.idp_unavailable",
            Metric::Logout => "auth0_session.logout",
            Metric::KeepAlive => "auth0_session.keep_alive",
            Metric::Rejected => "auth0_session.rejected",
            Metric::Forbidden => "auth0_session.forbidden",
            Metric::JwksFetchOk => "auth0_session.jwks.fetch_ok",
            Metric::JwksFetchFailed => "auth0_session.jwks.fetch_failed",
            Metric::Restored => "auth0_session.sidecar.restored",
            Metric::SyncBatches => "auth0_session.sidecar.sync_batches",
            Metric::SyncErrors => "auth0_session.sidecar.sync_errors",
            Metric::SessionsLive => "auth0_session.sessions_live",
            Metric::StoreKeys => "auth0_session.store.keys",
            Metric::StoreBytes => "auth0_session.store.bytes",
            Metric::RateLimited => "auth0_session.rate_limited",
            Metric::SessionsCapped => "auth0_session.sessions_capped",
            Metric::RelayReauthenticate => "auth0_session.relay.reauthenticate",
            Metric::AssertionsSigned => "auth0_session.assertion.signed",
            Metric::LoginNotConfirmed => "auth0_session.login.not_confirmed",
            Metric::ProfileRefused => "auth0_session.profile.refused",
            Metric::ProfileSkipped => "auth0_session.profile.skipped",
            Metric::ProfileTokenFetched => "auth0_session.profile.token_fetched",
        }
    }

    pub fn is_gauge(self) -> bool {
        matches!(
            self,
            Metric::SessionsLive | Metric::StoreKeys | Metric::StoreBytes
        )
    }

    pub fn index(self) -> usize {
        Metric::ALL.iter().position(|m| *m == self).unwrap_or(0)
    }
}
