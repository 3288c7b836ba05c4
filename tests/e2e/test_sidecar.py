"""Durable sessions: a real Envoy, the real session-sidecar binary on a SQLite file, the test IdP."""

import time
from concurrent.futures import ThreadPoolExecutor

from harness import STATS, session_hash, wait_for
from helpers import bearer, login, with_session



def test_sessions_survive_an_envoy_restart_with_the_same_deadlines(make_envoy, sidecar, idp):
    e = make_envoy(sidecar=sidecar)
    r = e.request("/authorize", headers=bearer(idp.jwt(sub="auth0|durable", email="d@example.com")))
    assert r.status == 200
    secret, expires = r.json()["value"], r.json()["expires"]
    assert session_hash(secret) in sidecar.stored_hashes(), "written through before the answer"

    e.restart()
    seen = e.request("/x", headers=with_session(secret))
    assert seen.status == 200, seen
    assert seen.json()["headers"]["x-auth-user"] == ["auth0|durable"]
    assert seen.json()["headers"]["x-auth-email"] == ["d@example.com"]
    ping = e.request("/ping", headers=with_session(secret)).json()
    assert ping["expires"] == expires, "the absolute deadline is the original one"
    assert e.stat(STATS + "sidecar.restored") == 1
    assert e.request("/x", headers=with_session("E" * 43)).status == 401


def test_a_logged_out_session_stays_ended_after_a_restart(make_envoy, sidecar, idp):
    e = make_envoy(sidecar=sidecar)
    secret = login(e, idp.jwt())
    assert e.request("/logout", method="POST", headers=with_session(secret)).status == 200
    e.restart()
    assert e.request("/x", headers=with_session(secret)).status == 401
    assert e.request("/ping", headers=with_session(secret)).status == 401


def test_logins_while_the_sidecar_is_down_reach_it_when_it_is_back(make_envoy, sidecar, idp):
    e = make_envoy(sidecar=sidecar)
    login(e, idp.jwt())
    sidecar.stop()
    secret = login(e, idp.jwt(sub="auth0|offline"))  # logins still succeed
    assert e.request("/x", headers=with_session(secret)).status == 200
    sidecar.start()
    assert wait_for(lambda: session_hash(secret) in sidecar.stored_hashes(), 10), "synced within seconds"
    status, users = sidecar.admin("GET", "/admin/users")
    assert "auth0|offline" in [u["sub"] for u in users["users"]]


def test_kill_9_during_a_burst_of_logins_loses_no_answered_session(make_envoy, sidecar, idp):
    e = make_envoy(sidecar=sidecar)
    login(e, idp.jwt())  # JWKS cached
    tokens = [idp.jwt(sub=f"auth0|burst{i}") for i in range(200)]

    def one(token):
        r = e.request("/authorize", headers=bearer(token))
        return r.json()["value"] if r.status == 200 else None

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(one, t) for t in tokens]
        time.sleep(0.3)
        sidecar.kill()  # SIGKILL mid-burst
        secrets = [f.result() for f in futures]
    answered = {session_hash(s) for s in secrets if s}
    assert len(answered) >= 150, "logins go on while the sidecar is dead"
    sidecar.start()
    assert wait_for(lambda: answered <= sidecar.stored_hashes(), 20), \
        f"missing {len(answered - sidecar.stored_hashes())} of {len(answered)}"
    # And they all work after an Envoy restart too.
    e.restart()
    sample = [s for s in secrets if s][:20]
    assert all(e.request("/x", headers=with_session(s)).status == 200 for s in sample)


def test_admin_revocation_reaches_both_workers_within_5s(make_envoy, sidecar, idp):
    e = make_envoy(sidecar=sidecar)
    secret = login(e, idp.jwt(sub="auth0|revokee"))
    conns = [e.connect() for _ in range(8)]
    try:
        assert all(e.request("/x", headers=with_session(secret), conn=c).status == 200 for c in conns)
        status, listed = sidecar.admin("GET", "/admin/sessions?user=auth0%7Crevokee")
        assert status == 200 and len(listed["sessions"]) == 1
        sid = listed["sessions"][0]["id"]
        assert secret not in str(listed) and session_hash(secret) not in str(listed)
        started = time.time()
        assert sidecar.admin("DELETE", f"/admin/sessions/{sid}") == (200, {"ended": 1})

        def all_refused():
            return all(e.request("/x", headers=with_session(secret), conn=c).status == 401 for c in conns)

        assert wait_for(all_refused, 5.0), "every worker refuses the session within 5 s"
        print(f"revocation seen by every worker after {time.time() - started:.2f}s")
    finally:
        for c in conns:
            c.close()


def test_log_out_everywhere_ends_one_users_sessions_and_no_one_elses(make_envoy, sidecar, idp):
    e = make_envoy(sidecar=sidecar)
    alice = [login(e, idp.jwt(sub="auth0|alice")) for _ in range(3)]
    bob = login(e, idp.jwt(sub="auth0|bob"))
    code, out = sidecar.cli("users", "end-sessions", "auth0|alice")
    assert (code, out) == (0, {"ended": 3})
    assert wait_for(lambda: all(e.request("/x", headers=with_session(s)).status == 401 for s in alice), 5.0)
    assert e.request("/x", headers=with_session(bob)).status == 200


def test_keep_alives_reach_the_sidecar_coalesced(make_envoy, sidecar, idp):
    e = make_envoy(sidecar=sidecar)
    secret = login(e, idp.jwt(sub="auth0|pinger"))
    _, before = sidecar.admin("GET", "/admin/sessions?user=auth0%7Cpinger")
    time.sleep(5.5)
    after_ping = e.request("/ping", headers=with_session(secret)).json()["idle_expires"]
    assert wait_for(lambda: sidecar.admin("GET", "/admin/sessions?user=auth0%7Cpinger")[1]["sessions"][0]["idle_expires"]
                    == after_ping, 5.0), "the slid idle deadline reaches the sidecar"
    assert after_ping > before["sessions"][0]["idle_expires"]
