"""Identity enrichment at login (README: "Identity APIs") through a real Envoy, against the
tests' own Person API v2 stand-in (idp.py): the machine token is fetched once and shared by
every worker and login; groups (object keys with null values) reach the session, a rule and
a header; an inactive account is refused 403; an API that is down or slow gets the configured
policy, and the login waits no longer than the API's timeout."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness import STATS, plugin_config, wait_for
from helpers import bearer, error_code, login, with_session

ALICE = "ad|Mozilla-LDAP|alice"
BOB = "ad|Mozilla-LDAP|bob"
RULES = [{"path": "/admin/", "allow": {"groups": ["ldap_admins"]}}]
HEADERS = {"x-auth-user": "sub", "x-auth-groups": "groups"}


def person_api(idp, on_failure="refuse", timeout=1):
    client_id, client_secret = idp.m2m_client
    return {
        "name": "mozilla-iam",
        # The test IdP's server also plays the Person API: Envoy reaches both by one cluster.
        "cluster": "auth0",
        "url": f"http://127.0.0.1:{idp.port}",
        "path": "/v2/user/user_id/{sub}",
        "token": {"client_id": client_id, "client_secret": client_secret,
                  "audience": "api.sso.mozilla.com", "scope": "classification:public display:all"},
        "timeout": timeout,
        "map": {
            "groups": {"keys": "/access_information/ldap/values", "prefix": "ldap_"},
            "email_verified": {"boolean": "/primary_email/metadata/verified"},
            "staff": {"boolean": "/staff_information/staff/value"},
            "github": {"value": "/identities/github~1id/value"},
        },
        "confirm": [{"true": "/active/value"}],
        "on_failure": on_failure,
    }


@pytest.fixture
def people(idp):
    idp.add_person(ALICE, groups=["admins", "team_moco"])
    idp.add_person(BOB, groups=["team_moco"])
    idp.add_person("ad|Mozilla-LDAP|gone", groups=["admins"], active=False)
    yield idp


def start(make_envoy, idp, **profile):
    idp.hits["client_credentials"] = 0
    idp.m2m_tokens.clear()
    envoy = make_envoy(profile=[person_api(idp, **profile)], rules=RULES, headers=HEADERS)
    # The timer fetches the machine token ahead of the first login.
    assert wait_for(lambda: envoy.stat(STATS + "profile.token_fetched") >= 1), envoy.log()
    return envoy


def test_groups_reach_the_session_a_rule_and_a_header(make_envoy, people):
    envoy = start(make_envoy, people)
    alice = login(envoy, people.jwt(sub=ALICE))
    r = envoy.request("/admin/panel", headers=with_session(alice))
    assert r.status == 200, r
    assert r.json()["headers"]["x-auth-groups"] == ["ldap_admins ldap_team_moco"]
    bob = login(envoy, people.jwt(sub=BOB))
    r = envoy.request("/admin/panel", headers=with_session(bob))
    assert r.status == 403, r
    assert r.json()["missing"] == {"one_of_groups": ["ldap_admins"]}
    assert envoy.request("/elsewhere", headers=with_session(bob)).status == 200
    # A client cannot send its own groups.
    r = envoy.request("/elsewhere", headers=with_session(bob, **{"X-Auth-Groups": "ldap_admins"}))
    assert r.json()["headers"]["x-auth-groups"] == ["ldap_team_moco"]


def test_one_token_fetch_for_a_hundred_concurrent_logins(make_envoy, people):
    envoy = start(make_envoy, people)
    people.hits["person"] = 0
    tokens = [people.jwt(sub=ALICE) for _ in range(100)]
    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(lambda t: envoy.request("/authorize", headers=bearer(t)).status, tokens))
    assert statuses == [200] * 100
    assert people.hits["client_credentials"] == 1
    assert people.hits["person"] == 100
    assert envoy.stat(STATS + "profile.token_fetched") == 1


def test_a_refused_machine_token_is_fetched_anew(make_envoy, people):
    envoy = start(make_envoy, people)
    people.m2m_tokens.clear()  # revoked upstream: the cached token now gets 401
    login(envoy, people.jwt(sub=ALICE))
    assert people.hits["client_credentials"] == 2


def test_an_inactive_account_is_refused(make_envoy, people):
    envoy = start(make_envoy, people)
    r = envoy.request("/authorize", headers=bearer(people.jwt(sub="ad|Mozilla-LDAP|gone")))
    assert r.status == 403, r
    assert error_code(r) == "identity_not_confirmed"
    assert envoy.stat(STATS + "login.not_confirmed") == 1


@pytest.mark.parametrize("fault", ["500", "drop", ("delay", 3)])
def test_an_api_down_or_slow_refuses_within_its_timeout(make_envoy, people, fault):
    envoy = start(make_envoy, people, on_failure="refuse", timeout=1)
    people.person_fault = fault
    began = time.monotonic()
    r = envoy.request("/authorize", headers=bearer(people.jwt(sub=ALICE)))
    took = time.monotonic() - began
    assert r.status == 503, r
    assert error_code(r) == "identity_unavailable"
    # Bounded by the API's timeout (1 s), not by the slow answer (3 s).
    assert took < 2.5, took
    assert envoy.stat(STATS + "profile.refused") == 1


def test_an_api_down_with_continue_logs_in_without_it(make_envoy, people):
    envoy = start(make_envoy, people, on_failure="continue", timeout=1)
    people.person_fault = ("delay", 3)
    began = time.monotonic()
    alice = login(envoy, people.jwt(sub=ALICE))
    assert time.monotonic() - began < 2.5
    assert envoy.stat(STATS + "profile.skipped") == 1
    # Logged in, but without the groups the API would have given.
    assert envoy.request("/admin/panel", headers=with_session(alice)).status == 403
    assert envoy.request("/elsewhere", headers=with_session(alice)).status == 200
