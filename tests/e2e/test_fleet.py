"""Fleets: two real Envoys and two real session-sidecars sharing one real PostgreSQL
(started by these tests in a temporary directory, on a free port). Sessions, revocations and
deadlines hold across proxies; faults: a sidecar killed with -9 in a login burst, PostgreSQL
stopped for 30 s, a sidecar down while thousands of logins are answered."""

import itertools
import os
import re
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness import STATS, ROOT, SIDECAR, Sidecar, session_hash, wait_for
from helpers import bearer, login, with_session
from pg import PgServer

LOGINS_LUA = ROOT / "tests" / "load" / "logins.lua"
SIGNING_KEY = "fleet-signing-key-of-at-least-32-characters"



@pytest.fixture(scope="module")
def pg():
    """One PostgreSQL for the module's fleets, destroyed even if a test left it stopped."""
    server = PgServer().start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def fleet(pg):
    """Two sidecars on one fresh database; stopped after the test."""
    db = pg.database("fleet_" + uuid.uuid4().hex[:10])
    sidecars = [Sidecar(db).start(), Sidecar(db).start()]
    yield db, sidecars
    for s in sidecars:
        s.stop()


def cookie_config(**cookie):
    return {"cookie": {"secure": False, "signing_keys": [SIGNING_KEY], **cookie}}


def status(envoy, secret):
    return envoy.request("/x", headers=with_session(secret)).status


def test_sessions_and_revocations_cross_proxies_whichever_sidecar_each_talks_to(make_envoy, fleet, idp):
    db, (s1, s2) = fleet
    e1 = make_envoy(sidecar=s1, session=cookie_config())
    e2 = make_envoy(sidecar=s2, session=cookie_config())

    # Created on one Envoy, accepted by the other (restored through the other sidecar).
    a = login(e1, idp.jwt(sub="auth0|alice"))
    seen = e2.request("/x", headers=with_session(a))
    assert seen.status == 200, seen
    assert seen.json()["headers"]["x-auth-user"] == ["auth0|alice"]
    assert e2.stat(STATS + "sidecar.restored") == 1

    def refused_everywhere(secret):
        return all(status(e, secret) == 401 for e in (e1, e2))

    timings = {}
    # Logout on the second proxy: refused on the first within 5 s.
    started = time.time()
    assert e2.request("/logout", method="POST", headers=with_session(a)).json()["logged_out"] is True
    assert wait_for(lambda: refused_everywhere(a), 5.0), "logout reaches the other proxy within 5 s"
    timings["logout"] = time.time() - started

    # Admin revocation on the second sidecar of a session living on the first proxy.
    b = login(e1, idp.jwt(sub="auth0|bob"))
    assert status(e2, b) == 200
    _, listed = s2.admin("GET", "/admin/sessions?user=auth0%7Cbob")
    started = time.time()
    assert s2.admin("DELETE", f"/admin/sessions/{listed['sessions'][0]['id']}") == (200, {"ended": 1})
    assert wait_for(lambda: refused_everywhere(b), 5.0), "admin revocation reaches both proxies within 5 s"
    timings["revocation"] = time.time() - started

    # Log out everywhere, by the CLI on the database itself.
    carol = [login(e1, idp.jwt(sub="auth0|carol")), login(e2, idp.jwt(sub="auth0|carol"))]
    dave = login(e2, idp.jwt(sub="auth0|dave"))
    assert all(status(e, s) == 200 for e in (e1, e2) for s in carol)
    out = subprocess.run([str(SIDECAR), "--db", db, "users", "end-sessions", "auth0|carol"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and '"ended": 2' in out.stdout, out
    started = time.time()
    assert wait_for(lambda: all(refused_everywhere(s) for s in carol), 5.0)
    timings["everywhere"] = time.time() - started
    assert status(e1, dave) == 200 and status(e2, dave) == 200, "no one else's sessions"
    print("refused on both proxies after (s):", {k: round(v, 2) for k, v in timings.items()})


def test_alternating_proxies_for_longer_than_the_idle_window_never_expires_the_session(make_envoy, fleet, idp):
    """A 4 s idle window. Requests alternate between the proxies, then stay on the second for
    longer than the window; the first proxy's copy then looks idle-expired, so it asks the
    store (which the second kept fresh) instead of refusing. The absolute deadline (16 s)
    still ends the session on both."""
    _, (s1, s2) = fleet
    cookie = cookie_config(inactive_lifetime=4, max_lifetime=16)
    e1 = make_envoy(sidecar=s1, session=cookie)
    e2 = make_envoy(sidecar=s2, session=cookie)
    started = time.time()
    secret = login(e1, idp.jwt(sub="auth0|alternating"))
    statuses = []
    for envoy in itertools.islice(itertools.cycle((e2, e1)), 6):  # 6 s, alternating
        statuses.append(status(envoy, secret))
        time.sleep(1.0)
    for _ in range(12):  # 6 s on the second only: longer than the idle window
        statuses.append(status(e2, secret))
        time.sleep(0.5)
    restored_before = e1.stat(STATS + "sidecar.restored")
    statuses.append(status(e1, secret))
    assert statuses == [200] * len(statuses), statuses
    assert e1.stat(STATS + "sidecar.restored") == restored_before + 1, \
        "the first proxy asked the store"
    # Absolute expiry, everywhere (16 s after the login).
    time.sleep(max(0.0, started + 16.5 - time.time()))
    assert status(e1, secret) == 401 and status(e2, secret) == 401


def test_a_signed_session_stored_late_is_accepted_by_another_proxy_soon_after(make_envoy, fleet, idp):
    """The first proxy answers a login while its sidecar is down; the second looks it up too
    early and is told no. Once the login reaches the store, the second accepts it within
    about the sync interval (a miss of a signed cookie is not remembered for 10 s)."""
    _, (s1, s2) = fleet
    e1 = make_envoy(sidecar=s1, session=cookie_config())
    e2 = make_envoy(sidecar=s2, session=cookie_config())
    login(e1, idp.jwt())  # JWKS cached
    s1.kill()
    secret = login(e1, idp.jwt(sub="auth0|early"))
    assert status(e2, secret) == 401, "not in the store yet"
    s1.start()
    assert wait_for(lambda: session_hash(secret) in s2.stored_hashes(), 5.0), "drained into the store"
    stored = time.time()
    assert wait_for(lambda: status(e2, secret) == 200, 2.5), "accepted soon after the store has it"
    print(f"accepted by the other proxy {time.time() - stored:.2f}s after the store had it")


def wrk_logins(envoy, token, seconds):
    """Logins with wrk for `seconds`; how many were answered 200."""
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", "-s", str(LOGINS_LUA), f"http://127.0.0.1:{envoy.port}"],
                         env=dict(os.environ, TOKEN=token), capture_output=True, text=True, timeout=60, check=True)
    total = int(re.search(r"(\d+) requests in", out.stdout).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    return total - (int(non2xx.group(1)) if non2xx else 0)


def stored_count(pg, db):
    return int(pg.psql(db.rsplit("/", 1)[1], "SELECT count(*) FROM sessions"))


def test_logins_answered_while_the_store_was_unreachable_reach_it_within_5s(make_envoy, fleet, pg, idp):
    """Thousands of logins answered while the only sidecar of this Envoy is down: when it is
    back they reach the store in back-to-back batches, within 5 s (one 500-record batch per
    second would take several times that), and survive an Envoy restart."""
    db, (s1, _) = fleet
    e = make_envoy(sidecar=s1, session=cookie_config())
    token = idp.jwt(aud=idp.audience)  # API-only: no /userinfo call per login
    login(e, token)
    s1.kill()
    # At least 3,000 (one batch per second would need 6 s to send them), however fast this
    # machine answers logins.
    answered, started = 0, time.time()
    while answered < 3_000 and time.time() - started < 30:
        answered += wrk_logins(e, token, 2)
    assert answered >= 3_000, f"only {answered} logins in the burst: the test needs a backlog"
    s1.start()
    back = time.time()
    assert wait_for(lambda: stored_count(pg, db) >= answered + 1, 5.0, step=0.2), \
        f"{stored_count(pg, db)} of {answered + 1} stored 5 s after the sidecar came back"
    print(f"{answered} logins answered while the sidecar was down; all stored {time.time() - back:.2f}s after it came back")
    e.restart()
    assert e.stat(STATS + "sessions_live") == 0


def health_checked(envoy, dead, alive):
    """Envoy's /clusters: the dead sidecar failed its health check and the live one passed
    (before the first checks, every endpoint is flagged and Envoy picks any of them)."""
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{envoy.admin}/clusters", timeout=5) as r:
        lines = r.read().decode().splitlines()
    return (f"session_sidecar::127.0.0.1:{dead.port}::health_flags::/failed_active_hc" in lines
            and f"session_sidecar::127.0.0.1:{alive.port}::health_flags::healthy" in lines)


def test_kill_9_of_one_of_two_sidecars_in_a_login_burst(make_envoy, fleet, idp):
    """Both Envoys have both sidecars as endpoints. One is killed with -9 mid-burst: every
    answered login is in the database, no forged request gets through, logins go on through
    the other sidecar, and sessions work after both Envoys restart."""
    db, (s1, s2) = fleet
    envoys = [make_envoy(sidecars=[s1, s2], session=cookie_config()) for _ in range(2)]
    for e in envoys:
        login(e, idp.jwt())  # JWKS cached
    tokens = [idp.jwt(sub=f"auth0|burst{i}") for i in range(400)]
    killed_at = []

    def one(i):
        r = envoys[i % 2].request("/authorize", headers=bearer(tokens[i]))
        return (time.time(), r.json()["value"]) if r.status == 200 else (time.time(), None)

    def forged(i):
        return envoys[i % 2].request("/x", headers=with_session("F" * 43)).status

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(one, i) for i in range(len(tokens))]
        probes = [pool.submit(forged, i) for i in range(100)]
        time.sleep(0.3)
        s1.kill()
        killed_at.append(time.time())
        results = [f.result() for f in futures]
        probe_statuses = [p.result() for p in probes]
    assert 200 not in probe_statuses, "nothing let through"
    answered = {session_hash(s) for _, s in results if s}
    after_kill = [s for t, s in results if s and t > killed_at[0] + 1.0]
    assert len(answered) >= 300, f"only {len(answered)} of {len(tokens)} logins answered"
    # Logins after the kill, through the other sidecar.
    late = [login(envoys[i % 2], idp.jwt(sub=f"auth0|late{i}")) for i in range(10)]
    answered |= {session_hash(s) for s in late}
    assert wait_for(lambda: answered <= s2.stored_hashes(), 10.0), \
        f"missing {len(answered - s2.stored_hashes())} of {len(answered)}"
    for e in envoys:
        e.restart()
        # The restarted Envoy's first health checks take the dead sidecar out of rotation.
        assert wait_for(lambda: health_checked(e, dead=s1, alive=s2), 5.0), "health checks done"
    sample = [s for _, s in results if s][:20] + late[:5]
    answers = [envoys[i % 2].request("/x", headers=with_session(s)) for i, s in enumerate(sample)]
    assert [r.status for r in answers] == [200] * len(sample), answers
    print(f"{len(answered)} logins answered and stored; {len(after_kill)} answered more than 1 s after the kill")


def test_postgres_stopped_for_30s(make_envoy, fleet, pg, idp):
    """Existing sessions keep working from shared data; new logins are answered (and reach
    the database when it is back) or, with sidecar.login_requires_store, refused with 503:
    never answered and lost."""
    db, (s1, s2) = fleet
    lenient = make_envoy(sidecars=[s1, s2], session=cookie_config())
    strict = make_envoy(sidecars=[s1, s2], session=cookie_config(),
                        sidecar_settings={"login_requires_store": True})
    existing = [login(e, idp.jwt(sub="auth0|before")) for e in (lenient, strict)]
    pg.stop()
    down = time.time()
    answered, strict_statuses, existing_statuses = [], [], []
    i = 0
    while time.time() - down < 30:
        r = lenient.request("/authorize", headers=bearer(idp.jwt(sub=f"auth0|outage{i}")))
        assert r.status in (200, 503), r
        if r.status == 200:
            answered.append(r.json()["value"])
        r = strict.request("/authorize", headers=bearer(idp.jwt(sub=f"auth0|strict{i}")))
        strict_statuses.append(r.status)
        existing_statuses += [status(e, s) for e, s in zip((lenient, strict), existing)]
        i += 1
        time.sleep(0.5)
    assert existing_statuses == [200] * len(existing_statuses), "existing sessions work throughout"
    assert set(strict_statuses) == {503}, f"the strict proxy refuses logins it cannot store: {set(strict_statuses)}"
    assert answered, "the lenient proxy answers logins meanwhile"
    pg.start()
    hashes = {session_hash(s) for s in answered}
    assert wait_for(lambda: hashes <= s1.stored_hashes(), 10.0), \
        f"{len(hashes - s1.stored_hashes())} of {len(hashes)} logins answered during the outage never reached the database"
    assert login(strict, idp.jwt(sub="auth0|after")), "the strict proxy logs in again once the store is back"
    print(f"{len(answered)} logins answered during a 30 s outage, all stored after it")
