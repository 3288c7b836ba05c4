"""The signed identity assertion (README "Signed identity assertion for the app"): a real
Envoy with the filter (wasm or module, `E2E_HOST`), the app verifying with PyJWT against the
JWKS fetched from the proxy."""

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from harness import STATS
from helpers import bearer, login, with_session

ROLES_CLAIM = "https://e2e.test/roles"
ISSUER = "https://proxy.e2e.test/"
JWKS_PATH = "/.well-known/auth0-session/jwks.json"


def pem(sec1=False):
    key = ec.generate_private_key(ec.SECP256R1())
    fmt = serialization.PrivateFormat.TraditionalOpenSSL if sec1 else serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


KEYS = [pem(), pem(sec1=True)]


def assertion_config(**extra):
    return {"issuer": ISSUER, "keys": KEYS, **extra}


def start(make_envoy, **kw):
    overrides = {"auth0__roles_claim": ROLES_CLAIM}
    overrides.update(kw)
    return make_envoy(**overrides)


def token_of(idp):
    return idp.jwt(sub="auth0|alice", **{ROLES_CLAIM: ["staff", "admin"]})


def seen(response, name="x-auth-assertion"):
    assert response.status == 200, response
    return response.json()["headers"].get(name, [])


def verify(envoy, token, audience):
    """What an app does: the key named by the token's kid, from the proxy's JWKS."""
    client = jwt.PyJWKClient(f"http://127.0.0.1:{envoy.port}{JWKS_PATH}", cache_keys=False)
    key = client.get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["ES256"], issuer=ISSUER, audience=audience,
                      options={"require": ["exp", "iat", "iss", "aud", "sub"]})


def test_the_app_verifies_the_assertion_against_the_proxys_jwks(make_envoy, idp):
    e = start(make_envoy, assertion=assertion_config())
    jwks = e.request(JWKS_PATH)
    assert jwks.status == 200
    assert jwks.header("cache-control") == "public, max-age=300"
    keys = jwks.json()["keys"]
    assert len(keys) == 2 and all("d" not in k and k["alg"] == "ES256" for k in keys)

    secret = login(e, token_of(idp))
    conn = e.connect()
    try:
        tokens = [seen(e.request("/app", headers=with_session(secret), conn=conn)) for _ in range(5)]
    finally:
        conn.close()
    assert all(len(t) == 1 for t in tokens), tokens
    token = tokens[0][0]
    assert {t[0] for t in tokens} == {token}, "one connection, one worker: reused, not re-signed"
    assert jwt.get_unverified_header(token)["kid"] == keys[0]["kid"], "the first key signs"
    claims = verify(e, token, audience=f"127.0.0.1:{e.port}")
    assert claims["sub"] == "auth0|alice"
    assert claims["email"] == "alice@example.com"
    assert claims["name"] == "Alice"
    assert claims["roles"] == ["staff", "admin"]
    assert "read:data" in claims["permissions"]
    assert claims["exp"] - claims["iat"] == 300
    assert "email_verified" not in claims and "groups" not in claims
    assert len(claims["sid"]) == 24 and claims["sid"] not in secret
    # Signed about once per worker, not per request.
    assert 1 <= e.stat(STATS + "assertion.signed") <= 2


def test_an_assertion_for_one_host_is_refused_by_a_verifier_for_another(make_envoy, idp):
    e = start(make_envoy, assertion=assertion_config())
    secret = login(e, token_of(idp))
    for_a = seen(e.request("/app", headers=with_session(secret, Host="a.example")))[0]
    for_b = seen(e.request("/app", headers=with_session(secret, Host="B.Example")))[0]
    assert verify(e, for_a, audience="a.example")["aud"] == "a.example"
    assert verify(e, for_b, audience="b.example")["aud"] == "b.example"
    with pytest.raises(jwt.InvalidAudienceError):
        verify(e, for_a, audience="b.example")
    # A configured audience is the same whatever the host.
    fixed = start(make_envoy, assertion=assertion_config(audience="https://app.e2e.test"))
    secret = login(fixed, token_of(idp))
    token = seen(fixed.request("/app", headers=with_session(secret, Host="a.example")))[0]
    assert verify(fixed, token, audience="https://app.e2e.test")["sub"] == "auth0|alice"
    with pytest.raises(jwt.InvalidAudienceError):
        verify(fixed, token, audience="a.example")


def test_a_client_injected_assertion_never_reaches_the_app(make_envoy, idp):
    e = start(make_envoy, assertion=assertion_config())
    forged = jwt.encode({"iss": ISSUER, "sub": "auth0|admin", "aud": "x"}, key=None, algorithm="none")
    injected = {"X-Auth-Assertion": forged, "x_auth_assertion": forged, "X-AUTH-ASSERTION": forged}
    # Public path: removed in every spelling.
    public = e.request("/static/app.js", headers=injected)
    names = {n.lower() for n in public.json()["headers"]}
    assert "x-auth-assertion" not in names and "x_auth_assertion" not in names, public.json()
    # Protected with a session: ours replaces it; the `_` spelling is gone.
    secret = login(e, token_of(idp))
    r = e.request("/app", headers={**injected, **with_session(secret)})
    assert r.json()["headers"]["x-auth-assertion"] != [forged]
    assert len(seen(r)) == 1
    assert "x_auth_assertion" not in r.json()["headers"]
    assert verify(e, seen(r)[0], audience=f"127.0.0.1:{e.port}")["sub"] == "auth0|alice"
    # Without a session: refused, nothing reaches the app.
    assert e.request("/app", headers=injected).status == 401


def test_no_assertion_after_a_logout_or_a_revocation(make_envoy, sidecar, idp):
    e = start(make_envoy, sidecar=sidecar, assertion=assertion_config())
    kept = login(e, token_of(idp))
    revoked = login(e, token_of(idp))
    token = seen(e.request("/app", headers=with_session(revoked)))[0]
    sid = verify(e, token, audience=f"127.0.0.1:{e.port}")["sid"]
    # The sid is the id the sidecar lists the session under: revoke it by that id.
    assert sidecar.admin("DELETE", f"/admin/sessions/{sid}") == (200, {"ended": 1})
    deadline = time.time() + 5
    while e.request("/app", headers=with_session(revoked)).status != 401 and time.time() < deadline:
        time.sleep(0.1)
    assert e.request("/app", headers=with_session(revoked)).status == 401
    assert len(seen(e.request("/app", headers=with_session(kept)))) == 1
    assert e.request("/logout", method="POST", headers=with_session(kept)).status == 200
    assert e.request("/app", headers=with_session(kept)).status == 401


def test_the_wasm_filter_and_the_module_assert_the_same_claims(make_envoy, sidecar, idp):
    settings = assertion_config(audience="https://app.e2e.test")
    wasm = start(make_envoy, sidecar=sidecar, host="wasm", assertion=settings)
    module = start(make_envoy, sidecar=sidecar, host="module", assertion=settings)
    secret = login(wasm, token_of(idp))
    # The module's Envoy restores the session from the sidecar: the same session, two hosts.
    tokens = [seen(front.request("/app", headers=with_session(secret)))[0] for front in (wasm, module)]
    claims = [verify(front, t, audience="https://app.e2e.test") for front, t in zip((wasm, module), tokens)]
    headers = [jwt.get_unverified_header(t) for t in tokens]
    assert headers[0] == headers[1]
    for c in claims:
        c.pop("iat")
        c.pop("exp")
    assert claims[0] == claims[1], claims
    assert set(claims[0]) == {"iss", "aud", "sub", "email", "name", "permissions", "roles", "sid"}
    assert wasm.request(JWKS_PATH).json() == module.request(JWKS_PATH).json()
