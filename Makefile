# Two commands a newcomer needs: `make run` (demo site on http://127.0.0.1:8000) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint browser strongswan services wrk bench bench-http clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

# The FinOps Foundation's FOCUS validator lives in its own venv: its pandera needs multimethod<1.11 and
# it brings pandas/pydantic/SQLAlchemy, none of which the platform itself uses (tests/finops runs its CLI).
FOCUS_VENV ?= .venv-focus
$(FOCUS_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(FOCUS_VENV)
	$(FOCUS_VENV)/bin/pip install --quiet 'focus-validator==1.0.0' 'multimethod<1.11'
	touch $@

install: $(VENV)/.installed $(FOCUS_VENV)/.installed

## Set up (venv, install, migrate, demo data) and start the development server.
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --base-url http://$(HOST):$(PORT) $(if $(DEMO_PASSWORD),--password $(DEMO_PASSWORD))
	@echo "Starting http://$(HOST):$(PORT)/  (Ctrl-C to stop)"
	$(PY) manage.py runserver $(HOST):$(PORT)

## Run the whole test suite (SQLite by default; set DATABASE_URL for PostgreSQL).
test: install browser strongswan
	@bash scripts/ensure-services redis $(if $(findstring postgres,$(DATABASE_URL)),postgres)
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

## Debian's chromium for the browser tests (Playwright drives /usr/bin/chromium).
browser:
	@bash scripts/ensure-chromium

## Debian's strongSwan for the router-configuration tests (a real charon loads the generated swanctl.conf).
strongswan:
	@if [ ! -x /usr/sbin/charon-systemd ] || ! command -v swanctl >/dev/null 2>&1; then \
	  if [ "$$(id -u)" != "0" ]; then echo "install charon-systemd and strongswan-swanctl (apt-get)" >&2; exit 1; fi; \
	  echo "Installing Debian's charon-systemd and strongswan-swanctl..."; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq charon-systemd strongswan-swanctl >/dev/null; \
	fi

## Start local PostgreSQL and Redis when they are installed but not running.
services:
	@bash scripts/ensure-services

## Debian's wrk, the load generator of bench/http_load.py (gunicorn under 16 concurrent clients).
wrk:
	@if ! command -v wrk >/dev/null 2>&1; then \
	  if [ "$$(id -u)" != "0" ]; then echo "install Debian's wrk (apt-get install wrk)" >&2; exit 1; fi; \
	  echo "Installing Debian's wrk..."; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	fi

## Every bench (or BENCH="runs key_rewrap"), their rows written into the README's benchmark table.
## bench/http_load.py needs PostgreSQL (started here when installed) and wrk.
bench: install wrk
	@bash scripts/ensure-services postgres
	$(PY) bench/report.py $(BENCH)

## Only the paired HTTP load measurement (~10 minutes; ARGS="--quick" checks it runs in ~3).
bench-http: install wrk
	@bash scripts/ensure-services postgres
	$(PY) bench/http_load.py $(ARGS)

clean:
	rm -rf $(VENV) $(FOCUS_VENV) .pytest_cache .ruff_cache staticfiles
