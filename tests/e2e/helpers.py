"""Small helpers shared by the e2e tests."""


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def login(envoy, token, **kw):
    """Logs in with `token`; returns the session secret (asserting success)."""
    r = envoy.request("/authorize", headers=bearer(token), **kw)
    assert r.status == 200, r
    return r.json()["value"]


def with_session(secret, **extra):
    headers = {"Cookie": f"session={secret}"}
    headers.update(extra)
    return headers


def error_code(response):
    return response.json()["error"]
