"""The filter's counters and the live-sessions gauge, on Envoy's admin /stats."""

from harness import HOST, STATS
from helpers import bearer, login, with_session

P = STATS


def test_counters_and_gauge(make_envoy, idp):
    e = make_envoy()
    a = login(e, idp.jwt())
    b = login(e, idp.jwt(sub="auth0|bob"))
    e.request("/authorize", headers=bearer(idp.jwt(exp=1_000_000)))
    e.request("/authorize", headers=bearer(idp.jwt(aud="https://other/")))
    e.request("/authorize", headers=bearer(idp.jwt(scope="openid")))
    e.request("/authorize", headers=bearer("a.b"))
    e.request("/ping", headers=with_session(a))
    e.request("/nope")
    e.request("/logout", method="POST", headers=with_session(b))
    s = e.stats()
    assert s[P + "login.ok"] == 2
    assert s[P + "login.expired"] == 1
    assert s[P + "login.wrong_audience"] == 1
    assert s[P + "login.insufficient_scope"] == 1
    assert s[P + "login.invalid_token"] == 1
    assert s[P + "login.idp_unavailable"] == 0
    assert s[P + "keep_alive"] == 1
    assert s[P + "logout"] == 1
    assert s[P + "rejected"] == 1
    assert s[P + "sessions_live"] == 1
    assert s[P + "jwks.fetch_ok"] >= 1
    if HOST == "wasm":
        assert e.stat("wasm.envoy.wasm.runtime.v8.active") >= 1
