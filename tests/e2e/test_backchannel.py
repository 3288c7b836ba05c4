"""Back-channel logout (OIDC Back-Channel Logout 1.0): the test IdP mints logout tokens and
POSTs them through a real Envoy (a route sends `/backchannel-logout` to the sidecar) to the
real session-sidecar, which fetches the IdP's JWKS itself over loopback HTTP. Sessions
ended that way are refused on both Envoy workers within the revocation bound."""

import json
import time
import urllib.parse
import urllib.request

import pytest

from harness import ADMIN_TOKEN, SIDECAR_TOKEN, SIGNING_KEY, Envoy, Sidecar, plugin_config
from helpers import login, with_session
import idp as idp_module
from idp import SigningKey, b64json
from test_code_flow import Browser
from test_workers import worker_connections

BOUND_S = 5.0  # every proxy refuses an ended session within this


@pytest.fixture(scope="module")
def tenant():
    """An IdP of its own, whose issuer is its loopback address: the sidecar reaches the
    JWKS at the issuer (plain HTTP is allowed for loopback only)."""
    idp = idp_module.TestIdp().start()
    idp.issuer = f"http://127.0.0.1:{idp.port}/"
    yield idp
    idp.stop()


@pytest.fixture(scope="module")
def stack(tenant, app):
    config = plugin_config(tenant, auth0__issuer=tenant.issuer, code_flow={"client_id": "web-app"},
                           public=["/healthz", "/backchannel-logout"],
                           session={"cookie": {"secure": False, "signing_keys": [SIGNING_KEY]}},
                           sidecar={"cluster": "session_sidecar", "token": SIDECAR_TOKEN})
    sidecar = Sidecar(filter_config=config).start()
    envoy = Envoy(config, tenant.port, app.port, sidecar_port=sidecar.port).start()
    yield envoy, sidecar
    envoy.stop()
    sidecar.stop()


def post_logout(envoy, token=None, body=None):
    body = body if body is not None else urllib.parse.urlencode({"logout_token": token}).encode()
    return envoy.request("/backchannel-logout", method="POST", body=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})


def metric(sidecar, name):
    req = urllib.request.Request(f"http://127.0.0.1:{sidecar.port}/metrics",
                                 headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return int(line.split()[1])
    raise KeyError(name)


def code_login(envoy, idp, user):
    """A browser logs in through the IdP's page (code flow); returns its session secret and
    Auth0's sid for that login."""
    idp.login_as = user
    b = Browser(envoy, idp)
    r = b.get("/home")
    assert r.status == 302, r
    r = b.callback(b.authorize(r.header("location")))
    assert r.status == 302 and "session" in b.jar, r
    return b.jar["session"], idp.last_sid


def refused_within_bound(envoy, secret):
    """Polls on 8 keep-alive connections (spread over both workers) until every one refuses
    the session; returns the seconds it took, or fails after the bound."""
    conns = [envoy.connect() for _ in range(8)]
    try:
        start = time.time()
        while time.time() - start < BOUND_S:
            statuses = [envoy.request("/x", headers=with_session(secret), conn=c).status for c in conns]
            if statuses == [401] * 8:
                return time.time() - start
            time.sleep(0.1)
        pytest.fail(f"not refused everywhere within {BOUND_S}s: {statuses}")
    finally:
        for c in conns:
            c.close()


def test_a_logout_token_with_sid_ends_that_session_on_both_workers_and_cannot_be_replayed(stack, tenant):
    envoy, sidecar = stack
    secret, sid = code_login(envoy, tenant, "auth0|carol")
    other, _ = code_login(envoy, tenant, "auth0|carol")  # the same user on another device
    before = worker_connections(envoy)
    assert envoy.request("/x", headers=with_session(secret)).status == 200

    token = tenant.logout_token(sid=sid, sub="auth0|carol")
    r = post_logout(envoy, token)
    assert r.status == 200, r
    assert r.header("cache-control") == "no-store"
    took = refused_within_bound(envoy, secret)
    after = worker_connections(envoy)
    assert sorted(w for w in after if after[w] > before.get(w, 0)) == ["worker_0", "worker_1"]
    print(f"back-channel logout refused on both workers after {took:.2f}s")
    assert envoy.request("/x", headers=with_session(other)).status == 200, "only that Auth0 session"

    again = post_logout(envoy, token)
    assert again.status == 400, again
    assert again.json()["error"] == "invalid_request"
    assert again.json()["reason"] == "replayed"
    assert metric(sidecar, "session_sidecar_backchannel_logouts_total") >= 1


def test_a_logout_token_with_only_sub_ends_the_users_sessions_issued_before_it(stack, tenant):
    envoy, _ = stack
    a = login(envoy, tenant.jwt(sub="auth0|dave"))
    b = login(envoy, tenant.jwt(sub="auth0|dave"))
    erin = login(envoy, tenant.jwt(sub="auth0|erin"))
    token = tenant.logout_token(sub="auth0|dave")
    time.sleep(1.1)  # a login in a later second than the token's iat
    later = login(envoy, tenant.jwt(sub="auth0|dave"))
    assert post_logout(envoy, token).status == 200
    refused_within_bound(envoy, a)
    refused_within_bound(envoy, b)
    for survivor in (erin, later):
        assert envoy.request("/x", headers=with_session(survivor)).status == 200


def test_an_unknown_sid_is_answered_200_and_ends_nothing(stack, tenant):
    envoy, _ = stack
    secret = login(envoy, tenant.jwt(sub="auth0|frank"))
    r = post_logout(envoy, tenant.logout_token(sid="no-such-sid"))
    assert r.status == 200 and r.header("cache-control") == "no-store"
    time.sleep(1.5)
    assert envoy.request("/x", headers=with_session(secret)).status == 200


def hs256(tenant, claims_token):
    """The same claims 'signed' with HS256 keyed by the tenant's public key."""
    import hashlib
    import hmac
    header, payload, _ = claims_token.split(".")
    forged_header = b64json({"alg": "HS256", "typ": "logout+jwt", "kid": tenant.key.kid})
    mac = hmac.new(tenant.key.public_pem(), f"{forged_header}.{payload}".encode(), hashlib.sha256).digest()
    from idp import b64url
    return f"{forged_header}.{payload}.{b64url(mac)}"


def test_hostile_logout_tokens_are_refused_with_a_stable_reason_and_end_nothing(stack, tenant):
    envoy, _ = stack
    secret, sid = code_login(envoy, tenant, "auth0|grace")
    now = int(time.time())
    good = lambda **kw: tenant.logout_token(sid=sid, **kw)  # noqa: E731
    none_token = ".".join([b64json({"alg": "none", "typ": "logout+jwt"}), good().split(".")[1], ""])
    cases = {
        "forged": (tenant.logout_token(sid=sid, key=SigningKey(tenant.key.kid)), "bad_signature"),
        "expired": (good(iat=now - 600, exp=now - 480), "expired"),
        "from the future": (good(iat=now + 600), "expired"),
        "wrong audience": (good(aud="another-app"), "wrong_audience"),
        "wrong issuer": (good(iss="https://evil.example/"), "wrong_issuer"),
        "alg none": (none_token, "unsupported_algorithm"),
        "hs256": (hs256(tenant, good()), "unsupported_algorithm"),
        "no event": (good(events={"x": {}}), "not_logout_event"),
        "nonce": (good(nonce="n"), "nonce_present"),
        "id token typ": (tenant.logout_token(sid=sid, header={"typ": "JWT"}), "wrong_type"),
        "no jti": (good(jti=None), "no_jti"),
        "neither sid nor sub": (tenant.logout_token(), "no_subject"),
        "not a jwt": ("not-a-token", "malformed"),
    }
    for name, (token, reason) in cases.items():
        r = post_logout(envoy, token)
        assert r.status == 400, (name, r)
        assert r.json()["reason"] == reason, (name, r)
        assert token not in r.body.decode(), "never echoed"
    assert post_logout(envoy, body=b"").json()["reason"] == "malformed"
    assert envoy.request("/backchannel-logout").status == 405
    big = post_logout(envoy, body=b"logout_token=" + b"A" * (20 * 1024))
    assert big.status == 413, big
    time.sleep(1.5)
    assert envoy.request("/x", headers=with_session(secret)).status == 200, "nothing ended"


def test_a_flood_costs_at_most_one_jwks_fetch_per_30_seconds(stack, tenant):
    envoy, sidecar = stack
    assert post_logout(envoy, tenant.logout_token(sid="warm-up")).status == 200
    fetches = metric(sidecar, "session_sidecar_jwks_fetches_total")
    unknown_kid = SigningKey("made-up-kid")
    statuses = []
    for i in range(40):
        statuses.append(post_logout(envoy, tenant.logout_token(sid=f"unknown-{i}")).status)
        statuses.append(post_logout(envoy, tenant.logout_token(sid=f"unknown-{i}", key=unknown_kid)).status)
    assert statuses == [200, 400] * 40
    assert metric(sidecar, "session_sidecar_jwks_fetches_total") - fetches <= 1


def test_a_rotated_key_is_fetched_and_accepted(stack, tenant):
    envoy, sidecar = stack
    # Another test may have just spent the fetch budget (one per 30 s): then the new key is
    # refused as unknown until the next fetch is allowed.
    key = tenant.rotate("key-rotated")
    try:
        deadline = time.time() + 35
        while True:
            r = post_logout(envoy, tenant.logout_token(sid="rotation", key=key))
            if r.status == 200 or time.time() > deadline:
                break
            assert r.json()["reason"] == "unknown_key", r
            time.sleep(2)
        assert r.status == 200, r
    finally:
        tenant.keys.remove(key)
