"""`make bench-versus BASE=DIR`: this build against another checkout's (e.g. the commit before a
refactor), in one run: authenticated requests and JWT logins on both Envoy hosts, each pair
interleaved A B / B A over rounds so that both builds share the machine's drift. Prints the
ratios (this ÷ base) of request rate and of Envoy CPU per request; a ratio is what is worth
reading on this machine, whose speed varies 3x from day to day.

BASE must hold its own built artifacts (`make -C BASE build`): its .wasm and module .so. Only
configuration keys every build so far accepts are used."""

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import HELPER, MODULE, WASM, Proxy, TestIdp, free_port, module_filter, wasm_filter, wrk


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="a checkout with its artifacts built (make build)")
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--this", default=None, help="another checkout whose built artifacts are 'this' "
                    "(default: this checkout's)")
    args = ap.parse_args()
    base = Path(args.base).resolve()
    this_wasm, this_so = WASM, MODULE
    if args.this:
        this_wasm = Path(args.this).resolve() / "target" / "wasm32-wasip1" / "release" / "auth0_session.wasm"
        this_so = Path(args.this).resolve() / "target" / "release" / "libauth0_session_module.so"
        shutil.copy(this_so, MODULE.parent / "libauth0_session_this.so")
    base_wasm = base / "target" / "wasm32-wasip1" / "release" / "auth0_session.wasm"
    base_so = base / "target" / "release" / "libauth0_session_module.so"
    for f in (base_wasm, base_so):
        if not f.exists():
            sys.exit(f"versus: {f} is missing: run `make -C {base} build` first")
    # The module is found by name on the search path (MODULE's folder): the base build goes
    # there under a name of its own.
    shutil.copy(base_so, MODULE.parent / "libauth0_session_base.so")

    idp = TestIdp()
    work = Path(tempfile.mkdtemp(prefix="bench-versus-"))
    jwks_file = work / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [idp.key.jwk()]}))
    token = idp.jwt(aud=idp.audience)
    tokens = work / "jwt-tokens"
    tokens.write_text("".join(idp.jwt(aud=idp.audience, sub=f"auth0|{i:05d}") + "\n" for i in range(2_000)))
    helper_port = free_port()
    helper = subprocess.Popen(["taskset", "-c", "1", str(HELPER), "--listen", f"127.0.0.1:{helper_port}",
                               "--jwks", str(jwks_file), "--session", "placeholder"], stdout=subprocess.DEVNULL)
    config = {"auth0": {"domain": idp.domain, "api": {"identifier": idp.audience}, "cluster": "auth0"},
              "session": {"cookie": {"secure": False}},
              "limits": {"idp_calls_per_second": 1_000_000, "sessions_per_user": 1_000_000}}
    builds = {
        ("wasm", "base"): lambda: wasm_filter(base_wasm, config),
        ("wasm", "this"): lambda: wasm_filter(this_wasm, config),
        ("module", "base"): lambda: module_filter(config, "auth0_session_base"),
        ("module", "this"): lambda: module_filter(config, "auth0_session_this" if args.this else "auth0_session_module"),
    }
    runs = {(host, which, case): [] for host, which in builds for case in ("authenticated", "logins")}
    try:
        time.sleep(0.3)
        for round_no in range(args.rounds):
            # A B in even rounds, B A in odd ones.
            order = ("base", "this") if round_no % 2 == 0 else ("this", "base")
            for host in ("wasm", "module"):
                for which in order:
                    proxy = Proxy([builds[(host, which)]()], helper_port).start()
                    try:
                        status, body, _ = proxy.get("/authorize", {"Authorization": f"Bearer {token}"})
                        assert status == 200, (host, which, body)
                        cookie = {"Cookie": f"session={json.loads(body)['value']}"}
                        wrk(proxy, "/", cookie, 1, 16)  # warm-up
                        r = wrk(proxy, "/", cookie, args.seconds, 16)
                        runs[(host, which, "authenticated")].append(r)
                        r2 = wrk(proxy, "/authorize", {}, args.seconds, 16, tokens=tokens)
                        runs[(host, which, "logins")].append(r2)
                        print(f"versus: round {round_no + 1}: {host} {which}: {r['rps']:.0f} req/s "
                              f"({r['cpu_us']:.1f} CPU µs), {r2['rps']:.0f} logins/s "
                              f"({r['errors'] + r2['errors']} errors)", flush=True)
                    finally:
                        proxy.stop()
    finally:
        helper.kill()
        helper.wait()
        (MODULE.parent / "libauth0_session_base.so").unlink(missing_ok=True)
        (MODULE.parent / "libauth0_session_this.so").unlink(missing_ok=True)

    print(f"\nthis build ÷ {base} (medians of {args.rounds} interleaved rounds):")
    print("| host | case | base rate | this rate | rate ratio | base CPU µs | this CPU µs | CPU ratio |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    errors = 0
    for host in ("wasm", "module"):
        for case in ("authenticated", "logins"):
            b, t = runs[(host, "base", case)], runs[(host, "this", case)]
            errors += sum(r["errors"] for r in b + t)
            med = lambda rs, k: statistics.median(r[k] for r in rs)  # noqa: E731
            print(f"| {host} | {case} | {med(b, 'rps'):.0f} | {med(t, 'rps'):.0f} | "
                  f"{med(t, 'rps') / med(b, 'rps'):.2f} × | {med(b, 'cpu_us'):.1f} | {med(t, 'cpu_us'):.1f} | "
                  f"{med(t, 'cpu_us') / med(b, 'cpu_us'):.2f} × |")
    print(f"errors: {errors}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
