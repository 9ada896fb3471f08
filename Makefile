# Two commands on a fresh machine: `make run` (demo app) and `make test` (whole suite).
# Everything else here is what those two need: a venv, the npm packages, Chromium and Java.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app wsgi
PORT ?= 5000
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_INSTALL := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends

.PHONY: run test lint lock bench venv node chromium java spamassassin clean

# Byte-code is compiled when a module is first imported, not for every file of every package.
PIP := $(VENV)/bin/pip install -q --no-compile --disable-pip-version-check

$(VENV)/.runtime: requirements.txt
	python3 -m venv $(VENV)
	$(PIP) -r requirements.txt
	touch $@

# requirements-dev.txt locks the runtime packages as well: one install (one resolution) makes both.
$(VENV)/.dev: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PIP) -r requirements-dev.txt
	touch $(VENV)/.runtime $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

node: node_modules/.installed

chromium:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -q && $(APT_INSTALL) chromium; }

java:
	@command -v java >/dev/null 2>&1 || { $(SUDO) apt-get update -q && $(APT_INSTALL) default-jre-headless; }

# SpamAssassin scores every kind of email in tests/test_email_quality.py (local rules, no network).
spamassassin:
	@command -v spamassassin >/dev/null 2>&1 || { $(SUDO) apt-get update -q && $(APT_INSTALL) spamassassin; }

# The demo app on http://127.0.0.1:$(PORT) with the mail worker beside it.
# htmx comes from the local npm copy unless HTMX_URL says otherwise (this works offline).
run: $(VENV)/.runtime node_modules/.installed
	@mkdir -p instance
	$(FLASK) db upgrade
	$(FLASK) seed-demo
	@export HTMX_URL="$${HTMX_URL:-local}" BASE_URL="$${BASE_URL:-http://127.0.0.1:$(PORT)}"; \
	$(FLASK) deliver-mail & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	echo ""; \
	echo "Keep it Local Network: http://127.0.0.1:$(PORT)/"; \
	echo "  Demo staff login:  staff@example.org / keep-it-local-staff"; \
	echo "  Demo member login: member@example.org / keep-it-local-member"; \
	echo ""; \
	$(FLASK) run --host 127.0.0.1 --port $(PORT)

# The quick check (seconds), also the first step of `make test`: ruff (pyproject.toml), mypy
# (pyproject.toml: kil_network, config.py, wsgi.py) and import-linter's layer contracts (.importlinter).
# All three run even when one fails, so one run shows every finding; it fails if any did.
lint: $(VENV)/.dev
	@status=0; \
	echo "ruff check ."; $(VENV)/bin/ruff check . || status=1; \
	echo "mypy"; $(VENV)/bin/mypy || status=1; \
	echo "lint-imports"; $(VENV)/bin/lint-imports || status=1; \
	exit $$status

# The whole suite on SQLite; the tests whose behaviour can differ between databases
# (tests/conftest.py lists them) also on TEST_DATABASE_URL (PostgreSQL) when it is set.
# JOBS test processes at once (pytest-xdist): twice the CPUs, as browser and server tests spend
# part of their time waiting (2 cores: 4 processes 6 min 14 s, 3 took 6 min 34 s, 2 took 8 min 27 s);
# an idle process steals queued tests from a busy one.
# `make lint` runs beside them (its report is printed after theirs); either failing fails the run.
JOBS ?= $(shell echo $$(( $$(nproc) * 2 )))
test: $(VENV)/.dev node_modules/.installed chromium java spamassassin
	@mkdir -p test-artifacts; \
	$(MAKE) --no-print-directory lint > test-artifacts/lint.log 2>&1 & lint=$$!; \
	$(PY) -m pytest -n $(JOBS) --dist worksteal $(PYTEST_ARGS); tests=$$?; \
	wait $$lint; linted=$$?; \
	echo ""; cat test-artifacts/lint.log; \
	if [ $$linted -ne 0 ]; then echo "make lint failed (its report is above)"; fi; \
	exit $$(( tests || linted ))

# Re-lock after editing requirements.in or requirements-dev.in (pip-tools writes the .txt files:
# never edit them by hand). Pins already in the .txt files stay unless the .in files change them;
# to move a package the .in files do not pin: make lock PIP_COMPILE_ARGS="--upgrade-package NAME".
PIP_COMPILE := CUSTOM_COMPILE_COMMAND="make lock" $(VENV)/bin/pip-compile --quiet --strip-extras --allow-unsafe \
	--no-emit-index-url --no-emit-find-links --no-emit-trusted-host --annotation-style line $(PIP_COMPILE_ARGS)
lock:
	@test -x $(VENV)/bin/pip-compile || $(MAKE) --no-print-directory $(VENV)/.dev
	$(PIP_COMPILE) --output-file requirements.txt requirements.in
	$(PIP_COMPILE) --output-file requirements-dev.txt requirements-dev.in

# The HTTP benchmark (issue 6): make bench DB=postgresql SCALE=0.1. Not part of `make test`.
bench: $(VENV)/.dev node_modules/.installed
	bench/run --db $(or $(DB),sqlite) --scale $(or $(SCALE),1)

clean:
	rm -rf $(VENV) node_modules .pytest_cache test-artifacts
