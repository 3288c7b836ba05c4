//! The filter's Envoy stats. Envoy lists them on its admin `/stats` under these names (it
//! keeps them in its `wasmcustom.` namespace and strips that prefix when printing).

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
    JwksFetchOk,
    JwksFetchFailed,
    /// Gauge: live sessions in shared data (expired ones count until a write or sweep drops them).
    SessionsLive,
}

impl Metric {
    pub const ALL: [Metric; 12] = [
        Metric::LoginOk,
        Metric::LoginInvalidToken,
        Metric::LoginExpired,
        Metric::LoginWrongAudience,
        Metric::LoginInsufficientScope,
        Metric::LoginIdpUnavailable,
        Metric::Logout,
        Metric::KeepAlive,
        Metric::Rejected,
        Metric::JwksFetchOk,
        Metric::JwksFetchFailed,
        Metric::SessionsLive,
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
            Metric::JwksFetchOk => "auth0_session.jwks.fetch_ok",
            Metric::JwksFetchFailed => "auth0_session.jwks.fetch_failed",
            Metric::SessionsLive => "auth0_session.sessions_live",
        }
    }

    pub fn is_gauge(self) -> bool {
        self == Metric::SessionsLive
    }

    pub fn index(self) -> usize {
        Metric::ALL.iter().position(|m| *m == self).unwrap_or(0)
    }
}
