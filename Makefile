# rec's developer tasks. `make install` builds .venv/ (every extra + test tools) and the
# real clients the tests drive under node_modules/ (the Codex CLI, the Node SDK); `make test`
# runs the whole suite. `make demo` needs only the Python side.

# Python 3.12+: the openai SDK 3.x (WebSocket session lanes) and mitmproxy 12 share h11 0.16.
# The first interpreter that runs and is 3.12 or newer (pyenv shims can exist yet fail to run).
PYTHON ?= $(shell for p in python3.12 $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3) python3.13 python3; do \
            if $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then echo $$p; break; fi; done)
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install install-python test test-fast lint bench demo clean

# The browser tests of `rec view` drive Debian's chromium through Playwright (never Playwright's own browser
# download); installed with apt-get, as root or through sudo.
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

install: install-python node_modules/.installed $(CHROMIUM)

install-python: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "rec needs Python 3.12 or newer for its dev environment (set PYTHON=...)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[record,test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "the browser tests need Chromium at $(CHROMIUM) (Debian's chromium package)"; exit 2; }
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: install
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

lint: install-python
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install
	$(BIN)/python -m bench

# Replays the bundled cassette to the real openai SDK and prints the replayer's summary (no npm).
demo: install-python
	$(BIN)/rec show cassettes/example.mpk
	$(BIN)/python examples/demo.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
