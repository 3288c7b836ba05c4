"""`make fleet-bench`: the session store in a fleet, one run on this machine. Real Envoys
(2 workers each), real session-sidecars, a real PostgreSQL (started here in a temporary
directory) beside the SQLite default. Measures logins/s with write-through to each store,
restore latency on a shared-data miss (p50/p99), revocation propagation across two Envoys
(median and max over 50), and the PostgreSQL connections a sidecar uses under load.
Appends its section to BENCHMARKS.md (or, with --smoke, writes target/fleet-bench-smoke.md)."""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from harness import SIDECAR_TOKEN, Envoy, Sidecar, plugin_config, session_hash  # noqa: E402,F401
from idp import TestIdp  # noqa: E402
from pg import PgServer  # noqa: E402
from upstream import EchoApp  # noqa: E402

LOGINS_LUA = ROOT / "tests" / "load" / "logins.lua"
SIGNING_KEY = "fleet-bench-signing-key-of-at-least-32-chars"
MARK = "## Fleet: PostgreSQL beside SQLite"


def envoy(idp, app, sidecars):
    config = plugin_config(idp, session={"cookie": {"secure": False, "signing_keys": [SIGNING_KEY]}},
                           sidecar={"cluster": "session_sidecar", "token": SIDECAR_TOKEN})
    return Envoy(config, idp.port, app.port, sidecar_ports=[s.port for s in sidecars]).start()


def wrk_logins(proxy, token, seconds, connections=16):
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(LOGINS_LUA),
                          f"http://127.0.0.1:{proxy.port}"],
                         env=dict(os.environ, TOKEN=token), capture_output=True, text=True, check=True,
                         timeout=seconds + 60)
    total = int(re.search(r"(\d+) requests in", out.stdout).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    return (total - (int(non2xx.group(1)) if non2xx else 0)) / seconds


def login(proxy, token):
    r = proxy.request("/authorize", headers={"Authorization": f"Bearer {token}"})
    assert r.status == 200, r
    return r.json()["value"]


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def restore_latencies(proxy, secrets):
    """Each session's first request on an Envoy that has never seen it: a shared-data miss,
    a sidecar lookup, the session put back; milliseconds, a new connection each."""
    out = []
    for secret in secrets:
        conn = proxy.connect()
        conn.connect()
        started = time.perf_counter()
        conn.request("GET", "/x", headers={"Cookie": f"session={secret}"})
        r = conn.getresponse()
        r.read()
        out.append((time.perf_counter() - started) * 1000)
        conn.close()
        assert r.status == 200, r.status
    return out


def pg_connections(pg, database):
    return int(pg.psql("postgres", "SELECT count(*) FROM pg_stat_activity "
                                   f"WHERE datname = '{database}' AND application_name = 'session-sidecar'"))


def store_case(name, sidecars, idp, app, seconds, samples, pg=None, database=None):
    e1 = envoy(idp, app, sidecars)
    e2 = envoy(idp, app, sidecars)
    try:
        token = idp.jwt(aud=idp.audience)
        login(e1, token)
        peak = [0]
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                peak[0] = max(peak[0], pg_connections(pg, database))
                time.sleep(0.2)

        watcher = threading.Thread(target=watch) if pg else None
        if watcher:
            watcher.start()
        logins = wrk_logins(e1, token, seconds)
        stop.set()
        if watcher:
            watcher.join()
        secrets = [login(e1, token) for _ in range(samples)]
        latencies = restore_latencies(e2, secrets)
        return {"name": name, "logins": logins, "p50": percentile(latencies, 50),
                "p99": percentile(latencies, 99), "connections": peak[0] if pg else None}
    finally:
        e1.stop()
        e2.stop()


def revocation_propagation(sidecars, idp, app, count):
    """Log in on one Envoy, revoke through the admin API of the other Envoy's sidecar, and
    time until the first Envoy refuses the session."""
    e1 = envoy(idp, app, sidecars[:1])
    e2 = envoy(idp, app, sidecars[1:])
    try:
        out = []
        for i in range(count):
            secret = login(e1, idp.jwt(sub=f"auth0|revoked{i}"))
            assert e2.request("/x", headers={"Cookie": f"session={secret}"}).status == 200
            _, listed = sidecars[1].admin("GET", f"/admin/sessions?user=auth0%7Crevoked{i}")
            started = time.perf_counter()
            assert sidecars[1].admin("DELETE", f"/admin/sessions/{listed['sessions'][0]['id']}")[0] == 200
            while e1.request("/x", headers={"Cookie": f"session={secret}"}).status != 401:
                if time.perf_counter() - started > 10:
                    raise RuntimeError("revocation not seen within 10 s")
                time.sleep(0.01)
            out.append(time.perf_counter() - started)
        return out
    finally:
        e1.stop()
        e2.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true", help="tiny run, figures meaningless")
    args = parser.parse_args()
    seconds, samples, revocations = (1, 5, 3) if args.smoke else (10, 200, 50)
    idp, app = TestIdp().start(), EchoApp().start()
    pg = PgServer().start()
    started = []
    try:
        lite = Sidecar(Path(tempfile.mkdtemp(prefix="fleet-bench-")) / "sessions.sqlite").start()
        started.append(lite)
        rows = [store_case("SQLite (one sidecar)", [lite], idp, app, seconds, samples)]
        db = pg.database("bench")
        pgs = [Sidecar(db, args=["--db-pool", "8"]).start(), Sidecar(db, args=["--db-pool", "8"]).start()]
        started += pgs
        rows.append(store_case("PostgreSQL (two sidecars, both Envoys on both)", pgs, idp, app, seconds, samples,
                               pg=pg, database="bench"))
        times = revocation_propagation(pgs, idp, app, revocations)
    finally:
        for s in started:
            s.stop()
        pg.destroy()
        idp.stop()
        app.stop()

    lines = [
        MARK,
        "",
        f"`make fleet-bench`, one run: two Envoys (2 workers each), wrk (2 threads, 16 connections, {seconds} s) "
        "logging in on the first with a JWT; restore = the first request of a session on the other Envoy "
        f"(a shared-data miss), {samples} sessions, one new connection each; PostgreSQL 15 on this machine "
        "(`fsync=off`: the figures are the proxy's and the sidecar's cost, not the disk's).",
        "",
        "| store | logins/s (write-through) | restore p50 ms | restore p99 ms | PostgreSQL connections (peak, 2 sidecars, pool 8 each) |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        conns = "—" if r["connections"] is None else str(r["connections"])
        lines.append(f"| {r['name']} | {r['logins']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {conns} |")
    lines += [
        "",
        f"Revocation across two Envoys (admin API of the second's sidecar, until the first refuses), over "
        f"{len(times)} revocations: median **{statistics.median(times):.2f} s**, max **{max(times):.2f} s** "
        "(the filter polls once a second).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.smoke:
        (ROOT / "target").mkdir(exist_ok=True)
        (ROOT / "target" / "fleet-bench-smoke.md").write_text(text)
        return
    path = ROOT / "BENCHMARKS.md"
    current = path.read_text() if path.exists() else ""
    if MARK in current:
        current = current[:current.index(MARK)].rstrip() + "\n\n"
    path.write_text(current + text)


if __name__ == "__main__":
    main()
