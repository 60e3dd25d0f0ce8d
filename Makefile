# blockhook: `make up` runs the whole system locally, `make test` runs every test.
# The first run of either installs what it needs (virtualenv, pip packages, npm packages).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
LAYER_DEPS := build/layers/deps
LAMBDA_PYTHON := 3.12
LAMBDA_PLATFORM := manylinux2014_x86_64
export PYTHONPATH := $(CURDIR)/layers/shared/python:$(CURDIR)

.PHONY: up test synth deps layers lint clean openapi bench browser console screenshots smoke

deps: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt cli/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The runtime dependencies as a Lambda layer for python3.12 on x86_64, built with
# pip's platform options: no Docker needed, only the package registry. pip writes no byte code:
# this machine's Python would compile it for its own version, which python3.12 never reads.
# Then deps_layer.py removes what the functions never import (the list, with reasons) and, where
# a python3.12 is installed (CI), compiles the layer's byte code with it.
# (One that runs: a version manager's shim for an uninstalled version is on PATH but fails.)
LAMBDA_BYTECODE_PYTHON ?= $(shell python$(LAMBDA_PYTHON) -c 'import sys; print(sys.executable)' 2>/dev/null)
layers: $(LAYER_DEPS)/.built
$(LAYER_DEPS)/.built: requirements.txt infra/blockhook_infra/deps_layer.py | $(VENV)/.installed
	rm -rf $(LAYER_DEPS) && mkdir -p $(LAYER_DEPS)/python
	$(PIP) install --quiet --target $(LAYER_DEPS)/python --platform $(LAMBDA_PLATFORM) \
		--python-version $(LAMBDA_PYTHON) --implementation cp --only-binary=:all: --no-compile -r requirements.txt
	$(PY) infra/blockhook_infra/deps_layer.py $(LAYER_DEPS)/python --bytecode-python "$(LAMBDA_BYTECODE_PYTHON)"
	touch $@

# The web console (console/): one bundle of its sources, its stylesheet and its page, rebuilt only when a
# source changed. No source map: the output stays small.
CONSOLE := build/console
CONSOLE_SOURCES := $(wildcard console/src/*) console/style.css console/index.html
console: $(CONSOLE)/.built
$(CONSOLE)/.built: $(CONSOLE_SOURCES) node_modules/.installed
	mkdir -p $(CONSOLE)
	node_modules/.bin/esbuild console/src/main.jsx --bundle --minify --format=esm --target=es2020 \
		--jsx=automatic --jsx-import-source=preact --log-level=warning --outfile=$(CONSOLE)/app.js
	node_modules/.bin/esbuild console/style.css --minify --log-level=warning --outfile=$(CONSOLE)/app.css
	cp console/index.html $(CONSOLE)/index.html
	touch $@

up: deps console
	$(PY) -m blockhook.local

# The console's browser tests drive a headless Chromium: Debian's package, installed here where missing
# (no browser can be downloaded at install time; playwright only drives it).
browser:
	@command -v chromium >/dev/null || { echo "installing Debian's chromium package for the browser tests"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; }

# One worker per core, a module's tests on one worker (they share its servers and fixtures).
test: deps layers browser console
	$(PY) -m pytest -n auto --dist loadfile

# The README's pictures of the console (docs/images/), taken by its browser tests.
screenshots: deps browser console
	BLOCKHOOK_SCREENSHOTS=docs/images $(PY) -m pytest tests/e2e/test_console_browser.py -q

# Benchmarks (bench/README.md): ~20 minutes, writes bench/results/*.json, prints one table.
bench: deps layers
	$(PY) bench/run.py

# After a deploy (docs/deploy.md): a throwaway monitor's signed test delivery to WEBHOOK_URL, read back, then
# the monitor deleted. BLOCKHOOK_API_URL and BLOCKHOOK_API_KEY say which deployment.
smoke: deps
	$(VENV)/bin/blockhook smoke --webhook-url "$(WEBHOOK_URL)"

synth: deps layers console
	npx --no-install cdk synth --quiet --no-notices

# docs/openapi.json, regenerated from the code (a test checks that the committed file is current).
openapi: deps
	$(PY) -m blockhook.api.openapi_export docs/openapi.json

lint: deps
	$(VENV)/bin/ruff check .

clean:
	rm -rf build cdk.out .pytest_cache
