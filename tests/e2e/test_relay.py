"""Token relay (issue 23) through a real Envoy on either host and through the auth service
behind NGINX and Envoy's ext_authz: a rule with "relay": "access_token" sends the app the
access token the client logged in with, as `Authorization: Bearer`, replacing the client's
own; other routes and public paths never get it; once it expires, the session ends and the
client is asked to log in again."""

import time

import pytest

from harness import STATS
from helpers import bearer, error_code, login, with_session

RULES = [
    {"path": "/api/", "allow": "session", "relay": "access_token"},
    {"path": "/admin/", "allow": {"roles": ["admin"]}},
]
HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture(scope="module")
def relaying(idp, app):
    from harness import Envoy, plugin_config
    e = Envoy(plugin_config(idp, rules=RULES), idp.port, app.port).start()
    yield e
    e.stop()


def seen(r):
    assert r.status == 200, r
    return r.json()["headers"]


def test_a_relaying_route_gets_the_login_token_and_nothing_else_does(relaying, idp):
    token = idp.jwt(sub="auth0|relay")
    secret = login(relaying, token)
    headers = seen(relaying.request("/api/items", headers={
        "Cookie": f"theme=dark; session={secret}", "Authorization": "Bearer the-clients-own"}))
    assert headers["authorization"] == [f"Bearer {token}"], "the client's Authorization is replaced"
    assert headers["cookie"] == ["theme=dark"], "never the session cookie"
    assert headers["x-auth-user"] == ["auth0|relay"]
    # Session presented as Authorization: Session: replaced by the token too.
    headers = seen(relaying.request("/api/items", headers={"Authorization": f"Session {secret}"}))
    assert headers["authorization"] == [f"Bearer {token}"]
    # Another protected route, a public path: no token (the client's own header, untouched).
    assert "authorization" not in seen(relaying.request("/elsewhere", headers=with_session(secret)))
    assert "authorization" not in seen(relaying.request("/healthz", headers=with_session(secret)))
    headers = seen(relaying.request("/static/a.js", headers=with_session(secret, Authorization="Bearer own")))
    assert headers["authorization"] == ["Bearer own"]


def test_an_expired_token_ends_the_session_with_reauthentication_required(relaying, idp):
    token = idp.jwt(sub="auth0|brief", exp=int(time.time()) + 3)
    secret = login(relaying, token)
    assert seen(relaying.request("/api/items", headers=with_session(secret)))["authorization"] == [f"Bearer {token}"]
    time.sleep(4)
    r = relaying.request("/api/items", headers=with_session(secret, Accept=HTML))
    assert r.status == 401, r
    assert error_code(r) == "reauthentication_required"
    assert token.encode() not in r.body
    # Ended like a logout: every route now sees no session.
    r = relaying.request("/elsewhere", headers=with_session(secret))
    assert (r.status, error_code(r)) == (401, "unauthorized")
    assert relaying.stat(STATS + "relay.reauthenticate") >= 1


def test_a_navigation_with_the_code_flow_goes_to_log_in_again(make_envoy, idp):
    envoy = make_envoy(rules=RULES, code_flow={"client_id": "web-app"})
    secret = login(envoy, idp.jwt(sub="auth0|nav", exp=int(time.time()) + 3))
    time.sleep(4)
    r = envoy.request("/api/page", headers=with_session(secret, Accept=HTML, **{"Sec-Fetch-Mode": "navigate"}))
    assert r.status == 302, r
    assert "/authorize?" in r.header("location")
    secret = login(envoy, idp.jwt(sub="auth0|ajax", exp=int(time.time()) + 3))
    time.sleep(4)
    r = envoy.request("/api/data", headers=with_session(secret, Accept=HTML, **{"Sec-Fetch-Mode": "cors"}))
    assert (r.status, error_code(r)) == (401, "reauthentication_required")


@pytest.fixture(params=["nginx", "ext_authz"])
def native_stack(request, make_native):
    return make_native(request.param, rules=RULES)


def test_the_auth_service_relays_through_nginx_and_ext_authz(native_stack, loopback_idp):
    _, proxy = native_stack
    token = loopback_idp.jwt(sub="auth0|native")
    secret = login(proxy, token)
    headers = seen(proxy.request("/api/items", headers=with_session(secret, Authorization="Bearer own")))
    assert headers["authorization"] == [f"Bearer {token}"]
    assert "cookie" not in headers
    headers = seen(proxy.request("/elsewhere", headers=with_session(secret, Authorization="Bearer own")))
    assert headers["authorization"] == ["Bearer own"], "other routes: the client's own header"
    headers = seen(proxy.request("/elsewhere", headers=with_session(secret)))
    assert "authorization" not in headers
