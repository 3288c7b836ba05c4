"""A bad configuration: Envoy refuses it, and its log names the key and the reason."""

import json

import pytest

from harness import Envoy, plugin_config


def refused(idp, app, raw):
    e = Envoy({}, idp.port, app.port, raw_config=raw)
    e.start(wait=False)
    try:
        code = e.wait_exit(30)
    finally:
        e.stop()
    return code, e.log()


def config_with(idp, mutate):
    c = plugin_config(idp)
    mutate(c)
    return json.dumps(c)


@pytest.mark.parametrize("name,mutate,key,reason", [
    ("unknown key", lambda c: c["auth0"].update(tiemout="5s"), "auth0.tiemout", "unknown key"),
    ("wrong type", lambda c: c["session"]["cookie"].update(secure="yes"), "session.cookie.secure", "expected true or false"),
    ("bad duration", lambda c: c["auth0"].update(timeout="5 parsecs"), "auth0.timeout", "invalid duration"),
    ("missing required", lambda c: c["auth0"].pop("cluster"), "auth0.cluster", "is required"),
    ("relative path", lambda c: c.update(public=["static/"]), "public[0]", "not an absolute path"),
    ("unknown allow", lambda c: c.update(rules=[{"path": "/a", "allow": "admins"}]), "rules[0].allow",
     'unknown allow "admins"'),
    ("empty permissions", lambda c: c.update(rules=[{"path": "/a", "allow": {"permissions": []}}]),
     "rules[0].allow.permissions", "expected a non-empty array of names, found an empty array"),
    ("shadowed rule", lambda c: c.update(rules=[{"path": "/api/", "allow": "session"}, {"path": "/api/x", "allow": "deny"}]),
     "rules[1]", "unreachable: rules[0] (/api/) matches every request it would"),
    ("assertion key", lambda c: c.update(assertion={"issuer": "https://proxy.test/", "keys": ["not a key"]}),
     "assertion.keys[0]", "must be a PEM EC P-256 private key"),
    ("assertion lifetime", lambda c: c.update(assertion={"issuer": "https://proxy.test/", "lifetime": "hour"}),
     "assertion.lifetime", "out of range: from 60 seconds to 600"),
])
def test_bad_config_is_refused_with_key_and_reason(idp, app, name, mutate, key, reason):
    code, log = refused(idp, app, config_with(idp, mutate))
    assert code != 0, f"{name}: envoy must not run half-configured"
    assert f"configuration key `{key}`" in log, log[-2000:]
    assert reason in log


def test_not_json_is_refused(idp, app):
    code, log = refused(idp, app, "{auth0:")
    assert code != 0
    assert "not valid JSON" in log
