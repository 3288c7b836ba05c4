"""Sessions live in process-wide shared data: every worker sees every session at once."""

from concurrent.futures import ThreadPoolExecutor

from helpers import login, with_session


def worker_connections(envoy):
    stats = envoy.stats("worker_")
    return {name.split(".")[-2]: value for name, value in stats.items()
            if name.startswith(f"listener.127.0.0.1_{envoy.port}.worker_") and name.endswith("downstream_cx_total")}


def test_a_session_works_on_every_worker_and_logout_is_seen_by_all(envoy, idp):
    secret = login(envoy, idp.jwt(sub="auth0|parallel"))
    before = worker_connections(envoy)

    def fresh_connection_request(_):
        r = envoy.request("/x", headers=with_session(secret))
        return r.status, r.json()["headers"].get("x-auth-user") if r.status == 200 else None

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(fresh_connection_request, range(64)))
    assert results == [(200, ["auth0|parallel"])] * 64

    after = worker_connections(envoy)
    used = [w for w in after if after[w] > before.get(w, 0)]
    assert sorted(used) == ["worker_0", "worker_1"], f"both workers served requests: {before} -> {after}"

    # Keep-alive connections pinned to workers, then log out on yet another connection.
    conns = [envoy.connect() for _ in range(8)]
    try:
        for c in conns:
            assert envoy.request("/x", headers=with_session(secret), conn=c).status == 200
        assert envoy.request("/logout", method="POST", headers=with_session(secret)).status == 200
        statuses = [envoy.request("/x", headers=with_session(secret), conn=c).status for c in conns]
        assert statuses == [401] * 8, "logout is seen on every worker at once"
    finally:
        for c in conns:
            c.close()
