"""Churn: 200,000 sessions created and ended (by logout, or by a 3 s lifetime) through a real
Envoy with wrk. Envoy's memory and the shared-data store stay bounded by live sessions."""

import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from harness import ROOT, STATS

CHURN = ROOT / "tests" / "load" / "churn.lua"
TARGET = 200_000


def memory(envoy):
    with urllib.request.urlopen(f"http://127.0.0.1:{envoy.admin}/memory", timeout=5) as r:
        return int(json.loads(r.read())["allocated"])


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is installed by make test")
def test_200k_sessions_churn_with_bounded_memory(make_envoy, idp):
    e = make_envoy(session={"cookie": {"secure": False, "inactive_lifetime": 3, "max_lifetime": 3}})
    token = idp.jwt(aud=idp.audience)  # API-only: no /userinfo call per login
    assert e.request("/authorize", headers={"Authorization": f"Bearer {token}"}).status == 200
    baseline = memory(e)
    samples = []
    started = time.time()
    while e.stat(STATS + "login.ok") < TARGET and time.time() - started < 300:
        subprocess.run(["wrk", "-t2", "-c8", "-d15s", "-s", str(CHURN), f"http://127.0.0.1:{e.port}"],
                       env=dict(os.environ, TOKEN=token), capture_output=True, check=True, timeout=60)
        samples.append((round(time.time() - started), memory(e), e.stat(STATS + "sessions_live")))
    logins = e.stat(STATS + "login.ok")
    logouts = e.stat(STATS + "logout")
    took = time.time() - started
    peak = max(m for _, m, _ in samples)

    time.sleep(3 + 2 * 8 + 2)  # every session expired, then a whole sweep pass (8 s) ran
    live = e.stat(STATS + "sessions_live")
    keys = e.stat(STATS + "store.keys")
    stored = e.stat(STATS + "store.bytes")
    end = memory(e)
    report = (f"{logins} logins and {logouts} logouts in {took:.0f}s ({logins / took:.0f} logins/s); "
              f"Envoy allocated: {baseline / 1e6:.1f} MB before, {peak / 1e6:.1f} MB peak, {end / 1e6:.1f} MB after; "
              f"samples (s, bytes, live) {samples}; after: live={live} keys={keys} bytes={stored}")
    Path(ROOT / "target").mkdir(exist_ok=True)
    (ROOT / "target" / "churn.txt").write_text(report + "\n")
    print(report)
    assert logins >= TARGET, report
    assert logouts >= TARGET // 3, report
    assert live <= 16, f"sessions ended are gone from the gauge: {report}"
    assert keys <= 4096, report
    assert stored <= 4096 + 16 * 300, f"the store holds only live sessions: {report}"
    assert peak - baseline < 64e6, f"memory bounded while {samples[-1][2]} sessions were live: {report}"
    assert end - baseline < 16e6, f"memory back near the baseline after churn: {report}"
