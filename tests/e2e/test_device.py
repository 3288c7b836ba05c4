"""Device login (RFC 8628) against a real Envoy and the test IdP's device endpoints."""

import json
import time

import pytest

from helpers import error_code


@pytest.fixture(scope="module")
def dev(idp, app):
    from harness import Envoy, plugin_config
    e = Envoy(plugin_config(idp, device={"client_id": "cli-app"}), idp.port, app.port).start()
    yield e
    e.stop()


def post(envoy, path, **headers):
    return envoy.request(path, method="POST", body=b"", headers=headers)


def poll(envoy, handle):
    return post(envoy, "/device/poll", Authorization=f"Device {handle}")


def start(envoy):
    r = post(envoy, "/device/start")
    assert r.status == 200, r
    return r.json()


def test_start_pending_approval_and_a_session_for_the_cli(dev, idp):
    idp.login_as = "auth0|cli-user"
    s = start(dev)
    assert set(s) == {"user_code", "verification_uri", "verification_uri_complete", "interval", "expires_in", "handle"}
    assert "device_code" not in json.dumps(s) and not any(d in json.dumps(s) for d in idp.devices), "device_code stays in the proxy"
    assert s["interval"] == 1

    calls = idp.hits["token"]
    r = poll(dev, s["handle"])
    assert r.status == 429 and r.json()["error"] == "slow_down", "polling faster than the interval"
    assert idp.hits["token"] == calls, "refused without calling the IdP"

    time.sleep(1.05)
    r = poll(dev, s["handle"])
    assert (r.status, r.json()) == (200, {"status": "pending", "interval": 1})
    assert idp.hits["token"] == calls + 1

    idp.device_state(s["user_code"], "approved")
    time.sleep(1.05)
    r = poll(dev, s["handle"])
    assert r.status == 200, r
    session = r.json()
    assert set(session) == {"name", "value", "domain", "path", "secure", "httponly", "expires", "inactive_lifetime"}

    auth = {"Authorization": f"Session {session['value']}"}
    seen = dev.request("/api/data", headers=auth).json()["headers"]
    assert seen["x-auth-user"] == ["auth0|cli-user"]
    assert "authorization" not in seen, "the session secret never reaches the app"
    assert dev.request("/ping", headers=auth).status == 200
    mixed = dev.request("/api/data", headers=dict(auth, Cookie="theme=dark; xsession=1"))
    assert mixed.status == 200, "other cookies do not hide Authorization: Session"
    assert mixed.json()["headers"]["cookie"] == ["theme=dark; xsession=1"]
    assert poll(dev, s["handle"]).status == 404, "a handle is used once"
    assert post(dev, "/logout", **auth).json() == {"logged_out": True}
    assert dev.request("/api/data", headers=auth).status == 401


def test_denied_and_expired(dev, idp):
    for state, status, word in [("denied", 403, "denied"), ("expired", 410, "expired")]:
        s = start(dev)
        idp.device_state(s["user_code"], state)
        time.sleep(1.05)
        r = poll(dev, s["handle"])
        assert (r.status, r.json()["status"]) == (status, word)
        assert poll(dev, s["handle"]).status == 404, "forgotten"


def test_slow_down_from_the_idp_lengthens_the_interval(dev, idp):
    s = start(dev)
    idp.device_state(s["user_code"], "slow_down")
    time.sleep(1.05)
    r = poll(dev, s["handle"])
    assert r.json() == {"status": "pending", "interval": 6}
    calls = idp.hits["token"]
    time.sleep(1.05)
    assert poll(dev, s["handle"]).status == 429
    assert idp.hits["token"] == calls


@pytest.mark.parametrize("overrides, status", [
    ({"scope": "openid profile"}, 403),
    ({"aud": "https://another.api/"}, 401),
])
def test_an_approved_login_is_checked_like_the_token_login(dev, idp, overrides, status):
    """Issue 11 item 2: the device flow's access token meets auth0.scope and the audience."""
    idp.access_token_overrides = overrides
    s = start(dev)
    idp.device_state(s["user_code"], "approved")
    time.sleep(1.05)
    r = poll(dev, s["handle"])
    assert r.status == status, (overrides, r)
    assert "value" not in r.json() and not r.all("set-cookie")


def test_unknown_and_malformed_handles(dev):
    assert error_code(poll(dev, "E" * 43)) == "unknown_handle"
    assert error_code(poll(dev, "nope")) == "unknown_handle"
    assert error_code(post(dev, "/device/poll", Authorization="Bearer x")) == "invalid_request"
    assert error_code(post(dev, "/device/poll")) == "invalid_request"
    assert dev.request("/device/start").status == 405
    assert dev.request("/device/poll").status == 405


def test_idp_faults_at_start_or_poll_give_503(dev, idp):
    idp.fault = "500"
    r = post(dev, "/device/start")
    assert r.status == 503 and error_code(r) == "idp_unavailable"
    idp.fault = None
    s = start(dev)
    idp.fault = "500"
    time.sleep(1.05)
    r = poll(dev, s["handle"])
    assert r.status == 503 and error_code(r) == "idp_unavailable"
    idp.fault = None
    idp.device_state(s["user_code"], "approved")
    time.sleep(1.05)
    assert poll(dev, s["handle"]).status == 200, "the login survives the fault"
