"""Idle and absolute lifetimes, enforced server-side (2-second lifetimes)."""

import time

import pytest

from helpers import login, with_session


@pytest.fixture(scope="module")
def short_envoy(idp, app):
    from harness import Envoy, plugin_config
    config = plugin_config(idp, session={"cookie": {"secure": False, "inactive_lifetime": "2second", "max_lifetime": 4}})
    e = Envoy(config, idp.port, app.port).start()
    yield e
    e.stop()


def test_idle_expiry(short_envoy, idp):
    secret = login(short_envoy, idp.jwt())
    assert short_envoy.request("/x", headers=with_session(secret)).status == 200
    time.sleep(2.3)
    assert short_envoy.request("/x", headers=with_session(secret)).status == 401
    assert short_envoy.request("/ping", headers=with_session(secret)).status == 401


def test_use_slides_the_idle_window(short_envoy, idp):
    secret = login(short_envoy, idp.jwt())
    for _ in range(3):
        time.sleep(1.2)
        assert short_envoy.request("/x", headers=with_session(secret)).status == 200
    # 3.6 s after login: alive only because each request slid the 2 s idle window.


def test_absolute_expiry_despite_keep_alives(short_envoy, idp):
    secret = login(short_envoy, idp.jwt())
    start = time.time()
    while time.time() - start < 3.5:
        r = short_envoy.request("/ping", headers=with_session(secret))
        assert r.status == 200, r
        time.sleep(0.5)
    time.sleep(max(0.0, 4.2 - (time.time() - start)))
    assert short_envoy.request("/x", headers=with_session(secret)).status == 401
    assert short_envoy.request("/ping", headers=with_session(secret)).status == 401
