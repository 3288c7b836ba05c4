# envoy-auth0-session. `make test` installs what it needs on a fresh machine, builds, lints
# and runs every test; `make build` produces the artifacts other tools rely on.

SHELL := /bin/bash
CARGO ?= cargo
WASM_TARGET := wasm32-wasip1
WASM := target/$(WASM_TARGET)/release/auth0_session.wasm
VENV := .venv
VENV_STAMP := $(VENV)/.installed
PYTEST := $(VENV)/bin/pytest
ENVOY := $(VENV)/bin/envoy

NPM_STAMP := demo/node_modules/.installed
CHROMIUM := /usr/bin/chromium
NGINX_BIN := /usr/sbin/nginx
PG_SERVER := /usr/lib/postgresql/15/bin/postgres

.PHONY: all setup build test unit e2e browser fuzz fuzz-smoke soak bench bench-smoke bench-versus fleet-bench demo lint fmt validate clean

WRK := /usr/bin/wrk

all: build

# --- setup: everything a fresh machine lacks ----------------------------------------------
setup: .rust-target $(VENV_STAMP) $(NPM_STAMP) $(PG_SERVER) $(NGINX_BIN)

.rust-target:
	rustup target add $(WASM_TARGET)
	rustup component add clippy rustfmt
	@touch $@

$(VENV_STAMP): tests/e2e/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/e2e/requirements.txt
	@touch $@

$(NPM_STAMP): demo/package.json demo/package-lock.json
	cd demo && npm ci --no-audit --no-fund
	@touch $@

$(WRK):
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk

# Debian's PostgreSQL 15 server: the sidecar's tests start their own in a temporary
# directory (as `nobody` when run as root), on a free port.
$(PG_SERVER):
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15

# Debian's NGINX (with auth_request) for the NGINX suite; the tests run it as a plain process
# with its own prefix directory, so the service the package installs is never needed.
$(NGINX_BIN):
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx-light

# Debian's chromium for the browser test; a test never downloads a browser.
$(CHROMIUM):
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium

# --- build --------------------------------------------------------------------------------
SIDECAR := target/release/session-sidecar

# Binaryen's optimizer shrinks the .wasm by about a tenth (697 KB as rustc leaves it, 621 KB
# after); -O2 optimizes for speed, not only size. The features
# are those rustc enables for wasm32-wasip1, which a stripped module does not record.
WASM_OPT := /usr/bin/wasm-opt
WASM_RAW := target/$(WASM_TARGET)/release/deps/auth0_session.wasm
WASM_FEATURES := --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
	--enable-nontrapping-float-to-int --enable-multivalue --enable-reference-types
$(WASM_OPT):
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends binaryen

MODULE := target/release/libauth0_session_module.so

# The dynamic module is built with panic = "unwind" (profile `module`) so that its FFI
# boundary can catch a panic; it is copied beside the other release artifacts.
# The .so is copied then renamed: an Envoy running the old one has it mapped, and
# overwriting it in place crashes that Envoy (SIGBUS; seen in a test run); a rename leaves
# the old file to it.
build: .rust-target $(WASM_OPT)
	$(CARGO) build --release --target $(WASM_TARGET) -p auth0-session
	@# Cargo's own output stays in deps/; the file beside it is replaced only when it is still
	@# that output (after a rebuild), so an unchanged build costs no second pass.
	@if cmp -s $(WASM_RAW) $(WASM); then \
	  $(WASM_OPT) -O2 $(WASM_FEATURES) $(WASM_RAW) -o $(WASM).tmp && mv $(WASM).tmp $(WASM); fi
	$(CARGO) build --release -p session-sidecar
	$(CARGO) build --profile module -p auth0-session-module
	cp target/module/libauth0_session_module.so $(MODULE).tmp && mv -f $(MODULE).tmp $(MODULE)
	@ls -l $(WASM) $(SIDECAR) $(MODULE)

# --- checks -------------------------------------------------------------------------------
fmt:
	$(CARGO) fmt --all

# check-imports.py: no circle among core's modules (issue 21); rustc accepts circles, so
# nothing else would stop a new one. check-links.py: every relative link and #anchor of the
# README and docs/ pages resolves (they link each other by heading).
lint: .rust-target
	python3 scripts/check-imports.py core/src
	python3 scripts/check-links.py README.md BENCHMARKS.md docs/*.md
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p auth0-session --target $(WASM_TARGET) -- -D warnings

unit: $(PG_SERVER)
	$(CARGO) test --workspace

# Every Envoy YAML we ship must be accepted by Envoy itself.
validate: build $(VENV_STAMP)
	$(ENVOY) --mode validate -c envoy/envoy.yaml -l warning
	ENVOY_DYNAMIC_MODULES_SEARCH_PATH=target/release $(ENVOY) --mode validate -c envoy/module.yaml -l warning
	$(ENVOY) --mode validate -c envoy/ext_authz.yaml -l warning

# Every e2e test runs against both Envoy hosts, one suite after the other (the churn test
# measures a rate: two suites sharing two cores would starve it). The NGINX and ext_authz
# suites (a host of their own, the auth service) run in the wasm pass.
e2e: build $(VENV_STAMP) $(WRK) $(PG_SERVER) $(NGINX_BIN)
	E2E_HOST=wasm $(PYTEST) -q tests/e2e; wasm=$$?; \
	E2E_HOST=module $(PYTEST) -q tests/e2e; module=$$?; \
	exit $$(( wasm | module ))

# A bounded mixed load with the sidecar: errors, request rate, Envoy's memory over time.
SOAK_SECONDS ?= 120
soak: build $(VENV_STAMP) $(WRK)
	SOAK_SECONDS=$(SOAK_SECONDS) $(VENV)/bin/python tests/load/soak.py

# The demo in a real browser: log in through the provider's page, call the API, log out.
browser: build $(VENV_STAMP) $(NPM_STAMP) $(CHROMIUM) $(NGINX_BIN)
	node --test demo/tests/
	NGINX=1 node --test demo/tests/

# libFuzzer on the token, cookie and configuration parsers: a short pass in `make test`,
# a longer one here (FUZZ_SECONDS per target).
FUZZ_SECONDS ?= 300
fuzz:
	fuzz/run.sh $(FUZZ_SECONDS)

fuzz-smoke:
	fuzz/run.sh 10

test: setup lint unit validate fuzz-smoke e2e browser bench-smoke

# --- benchmarks: this filter beside no filter, a do-nothing wasm filter, jwt_authn, ext_authz --
bench-build: build
	$(CARGO) build --release --target $(WASM_TARGET) -p noop-filter
	$(CARGO) build --release -p bench-helper -p noop-module

# Then the sidecar under 10,000 idle + 200 slow connections per listener (issue 25): p50/p99
# of /healthz, a sync and an auth check, memory per idle connection; its section of BENCHMARKS.md.
bench: bench-build $(VENV_STAMP) $(WRK)
	$(VENV)/bin/python bench/bench.py
	$(VENV)/bin/python bench/idle_connections.py

# This build against another checkout's, in one run (e.g. BASE=../before, built there with
# `make build`): authenticated requests and JWT logins on both hosts, interleaved; ratios.
bench-versus: bench-build $(VENV_STAMP) $(WRK)
	@test -n "$(BASE)" || { echo "usage: make bench-versus BASE=path/to/other/checkout"; exit 2; }
	$(VENV)/bin/python bench/versus.py --base $(BASE)

# Fleets: logins/s and restore latency with PostgreSQL beside SQLite, revocation across two
# Envoys, PostgreSQL connections per sidecar; appends its section to BENCHMARKS.md.
fleet-bench: build $(VENV_STAMP) $(WRK) $(PG_SERVER)
	$(VENV)/bin/python bench/fleet.py

# The harness, once, with a tiny duration: it cannot rot. Figures mean nothing.
bench-smoke: bench-build $(VENV_STAMP) $(WRK)
	$(VENV)/bin/python bench/bench.py --smoke
	$(VENV)/bin/python bench/idle_connections.py --smoke

# --- the demo: Envoy + filter + sidecar + a local OpenID provider + the demo app ----------
# `make demo NGINX=1`: NGINX (nginx/nginx.conf) in front instead of Envoy.
demo: build $(VENV_STAMP) $(NPM_STAMP) $(if $(NGINX),$(NGINX_BIN))
	node demo/run.mjs

clean:
	$(CARGO) clean
	rm -rf $(VENV) .rust-target
