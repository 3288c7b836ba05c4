"""`make soak`: a bounded mixed load (logins, requests, keep-alives, logouts) against a real
Envoy with the filter and the sidecar. Prints errors, request rate and Envoy's memory over
time. SOAK_SECONDS (default 120, at most 600)."""

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "e2e"))

from harness import SIDECAR_TOKEN, Envoy, Sidecar, plugin_config  # noqa: E402
from idp import TestIdp  # noqa: E402
from upstream import EchoApp  # noqa: E402


def main():
    seconds = min(int(os.environ.get("SOAK_SECONDS", "120")), 600)
    idp, app, sidecar = TestIdp().start(), EchoApp().start(), Sidecar().start()
    config = plugin_config(idp, sidecar={"cluster": "session_sidecar", "token": SIDECAR_TOKEN},
                           session={"cookie": {"secure": False, "signing_keys": ["soak-signing-key-0123456789abcdef"]}})
    envoy = Envoy(config, idp.port, app.port, sidecar_port=sidecar.port).start()
    token = idp.jwt(aud=idp.audience)
    stat = lambda name: envoy.stat(f"wasmcustom.auth0_session.{name}")
    # Until the first JWKS fetch (a fraction of a second after start) logins get 503.
    deadline = time.time() + 10
    while stat("jwks.fetch_ok") < 1 and time.time() < deadline:
        time.sleep(0.05)

    def sample():
        with urllib.request.urlopen(f"http://127.0.0.1:{envoy.admin}/memory", timeout=5) as r:
            allocated = int(json.loads(r.read())["allocated"])
        rss = int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{envoy.proc.pid}/status").read_text()).group(1)) * 1024
        return {"t": 0, "allocated": allocated, "rss": rss, "live": stat("sessions_live"),
                "logins": stat("login.ok"), "rejected": stat("rejected"), "sync_errors": stat("sidecar.sync_errors")}

    samples = [dict(sample(), t=0)]
    done = threading.Event()

    def sampler():
        started = time.time()
        while not done.wait(10):
            samples.append(dict(sample(), t=round(time.time() - started)))

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    print(f"soak: {seconds}s of logins, requests, keep-alives and logouts (wrk, 4 connections)...", flush=True)
    try:
        out = subprocess.run(["wrk", "-t4", "-c4", f"-d{seconds}s", "--latency", "-s", str(HERE / "soak.lua"),
                              f"http://127.0.0.1:{envoy.port}"], env=dict(os.environ, TOKEN=token),
                             capture_output=True, text=True, timeout=seconds + 60)
    finally:
        done.set()
        thread.join()
    samples.append(dict(sample(), t=seconds))
    envoy.stop()
    sidecar.stop()
    idp.stop()
    app.stop()

    text = out.stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    total = int(re.search(r"(\d+) requests in", text).group(1))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", text)) else 0
    socket = re.search(r"Socket errors: (.*)", text)
    p50 = re.search(r"50%\s+(\S+)", text).group(1)
    p99 = re.search(r"99%\s+(\S+)", text).group(1)
    print(f"\n  {'time':>6} {'allocated':>11} {'RSS':>9} {'live':>6} {'logins':>8} {'rejected':>8} {'sync err':>8}")
    for s in samples:
        print(f"  {s['t']:>5}s {s['allocated'] / 1e6:>9.1f}MB {s['rss'] / 1e6:>7.1f}MB {s['live']:>6} "
              f"{s['logins']:>8} {s['rejected']:>8} {s['sync_errors']:>8}")
    for line in sorted(set(re.findall(r"failure: .*", text + out.stderr))):
        print(f"  {line}")
    errors = non2xx + (1 if socket else 0)
    print(f"\nsoak: {total} requests in {seconds}s, {rate:.0f} requests/s, p50 {p50}, p99 {p99}; "
          f"errors: {non2xx} non-2xx{', socket errors: ' + socket.group(1) if socket else ''}; "
          f"Envoy allocated {samples[0]['allocated'] / 1e6:.1f} -> {samples[-1]['allocated'] / 1e6:.1f} MB")
    return 1 if errors else login_loop()


def login_loop():
    """One user logging in again and again for LOGIN_LOOP_SECONDS (default 300), never logging
    out, against Envoy with the sidecar (issue 11 item 6): the per-user cap keeps the store,
    the sidecar's live sessions and Envoy's memory flat. Fails if they grow."""
    seconds = min(int(os.environ.get("LOGIN_LOOP_SECONDS", "300")), 900)
    idp, app, sidecar = TestIdp().start(), EchoApp().start(), Sidecar().start()
    config = plugin_config(idp, sidecar={"cluster": "session_sidecar", "token": SIDECAR_TOKEN},
                           session={"cookie": {"secure": False, "signing_keys": ["soak-signing-key-0123456789abcdef"]}})
    envoy = Envoy(config, idp.port, app.port, sidecar_port=sidecar.port).start()
    token = idp.jwt(aud=idp.audience, sub="auth0|looper")
    stat = lambda name: envoy.stat(f"wasmcustom.auth0_session.{name}")
    deadline = time.time() + 10
    while stat("jwks.fetch_ok") < 1 and time.time() < deadline:
        time.sleep(0.05)
    print(f"\nsoak: {seconds}s of one user's login loop (wrk, 4 connections)...", flush=True)
    samples = []
    started = time.time()
    try:
        while time.time() - started < seconds:
            subprocess.run(["wrk", "-t2", "-c4", "-d30s", "-s", str(HERE / "login_loop.lua"),
                            f"http://127.0.0.1:{envoy.port}"], env=dict(os.environ, TOKEN=token),
                           capture_output=True, check=True, timeout=120)
            with urllib.request.urlopen(f"http://127.0.0.1:{envoy.admin}/memory", timeout=5) as r:
                allocated = int(json.loads(r.read())["allocated"])
            samples.append((round(time.time() - started), allocated, stat("sessions_live"), stat("login.ok"),
                            stat("store.bytes"), len(sidecar.stored_hashes())))
    finally:
        envoy.stop()
        sidecar.stop()
        idp.stop()
        app.stop()
    print(f"  {'time':>6} {'allocated':>11} {'live':>6} {'logins':>8} {'store B':>8} {'sidecar rows':>12}")
    for t, allocated, live, logins, stored, rows in samples:
        print(f"  {t:>5}s {allocated / 1e6:>9.1f}MB {live:>6} {logins:>8} {stored:>8} {rows:>12}")
    grew = samples[-1][1] - samples[len(samples) // 2][1]
    ok = all(live <= 50 for _, _, live, _, _, _ in samples) and grew < 4e6
    print(f"soak: login loop {'flat' if ok else 'NOT flat'}: at most 50 live sessions, Envoy allocated "
          f"{samples[0][1] / 1e6:.1f} -> {samples[-1][1] / 1e6:.1f} MB over {samples[-1][3]} logins")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
