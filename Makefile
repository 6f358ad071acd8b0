# ferroloop's developer commands. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Packages the tests, the demo and the benchmarks need beside the build.
DEV_PACKAGES := maturin pytest pytest-timeout uvloop

.DEFAULT_GOAL := help
.PHONY: help venv build-dev build-release format lint test test-rust test-python test-conformance test-all demo bench bench-quick test-cpython clean

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 18

$(VENV)/.ready:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(DEV_PACKAGES)
	touch $@

venv: $(VENV)/.ready ## create the virtualenv with the build and test tools

build-dev: venv ## build ferroloop (debug) into the virtualenv
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop -q

build-release: venv ## build ferroloop (release) into the virtualenv
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop -q --release

format: ## format Rust and Python sources
	cargo fmt --all

lint: ## rustfmt check and clippy with -D warnings
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

test-rust: ## Rust tests of the core
	cargo test -p ferroloop-core -q

test-python: build-release ## pytest suite, every test on asyncio and on ferroloop
	$(PY) -m pytest -q tests

test-conformance: build-release ## CPython's test_asyncio on ferroloop (this Python); unlisted failures fail
	$(PY) -m tests.cpython --loop ferroloop --jobs 2 --no-report --test-timeout 30

test: test-rust test-python test-conformance ## build, then the Rust tests, the pytest suite and CPython's test_asyncio

test-all: ## the Python suite on 3.11, 3.12 and 3.13 (pyenv)
	for v in 3.11.7 3.12.1 3.13.0; do \
	  $(MAKE) test-python PYTHON=$$(pyenv prefix $$v)/bin/python3 VENV=.venv-$$v || exit 1; \
	done

demo: build-release ## run the seed examples on asyncio and on ferroloop, side by side
	$(PY) -m demo

bench: build-release ## the benchmark suite: asyncio, uvloop, rloop, ferroloop in one run
	$(PIP) install -q matplotlib rloop
	$(PY) -m benchmarks

bench-quick: build-release ## a quick benchmark run
	$(PIP) install -q matplotlib rloop
	$(PY) -m benchmarks --quick

test-cpython: ## CPython's test_asyncio against ferroloop on 3.11, 3.12, 3.13
	for v in 3.11.7 3.12.1 3.13.0; do \
	  $(MAKE) build-release PYTHON=$$(pyenv prefix $$v)/bin/python3 VENV=.venv-$$v || exit 1; \
	  .venv-$$v/bin/python -m tests.cpython || exit 1; \
	done

clean: ## remove build outputs and virtualenvs
	cargo clean
	rm -rf $(VENV) .venv-*
