# MedOA — `make demo` starts the demo hospital, `make test` runs the test suite (`make test-all`: with the slow suites).
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PIP_NO_WARN_SCRIPT_LOCATION := 1
PYTEST_WORKERS ?= 2

.PHONY: help install demo test test-all test-sqlite test-postgres test-fast lint format bench clean

help:
	@echo "make demo   — install, then start the demo hospital (SQLite) on http://127.0.0.1:8000"
	@echo "make test   — install, then run the test suite (SQLite, and PostgreSQL when reachable); slow suites in CI"
	@echo "make test-all — the same with the suites marked slow"
	@echo "make lint   — ruff, mypy, lint-imports, manage.py check, makemigrations --check"

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	@touch $@

node_modules/.installed-stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(STAMP) node_modules/.installed-stamp
	@$(PY) scripts/vendor_static.py
	@$(PY) scripts/compile_translations.py

demo: install
	$(VENV)/bin/medoa demo $(DEMO_ARGS)

# The suite runs on SQLite, then on PostgreSQL wherever one answers; with CI=true PostgreSQL is required.
# The suites marked slow (the demo command's end-to-end runs, kill-and-restart loops, benchmark
# instances) run in CI (CI=true) and with `make test-all`; a plain `make test` leaves them out.
SLOW ?= $(if $(filter true,$(CI)),yes,no)
SQLITE_MARKS := $(if $(filter yes,$(SLOW)),,-m "not slow")
PG_MARKS := -m "not browser$(if $(filter yes,$(SLOW)),, and not slow)"

test: install
	@scripts/ensure_browser.sh
	@[ "$(SLOW)" = yes ] || echo "Leaving out the suites marked slow: they run in CI and with make test-all"
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres

test-all:
	$(MAKE) --no-print-directory test SLOW=yes

test-sqlite:
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) $(SQLITE_MARKS) $(PYTEST_ARGS)

test-postgres:
	@url=$$(PYTHON=$(PY) scripts/pg_url.sh) || { \
	  if [ "$${CI:-}" = "true" ]; then echo "PostgreSQL is required when CI=true but does not answer" >&2; exit 1; fi; \
	  echo "PostgreSQL not reachable: skipping the PostgreSQL run"; exit 0; }; \
	echo "PostgreSQL run against $$url"; \
	DATABASE_URL=$$url $(PY) -m pytest -q -n $(PYTEST_WORKERS) $(PG_MARKS) $(PYTEST_ARGS)

# Quick loop while editing: SQLite only, no browser tests.
test-fast: install
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) -m "not browser and not slow" $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy medoa
	$(VENV)/bin/lint-imports
	MEDOA_ENV=test $(VENV)/bin/medoa manage check --fail-level WARNING
	MEDOA_ENV=test MEDOA_DATA_DIR=$$(mktemp -d) $(VENV)/bin/medoa manage makemigrations --check --dry-run
	MEDOA_ENV=production MEDOA_SECRET_KEY=$$($(PY) -c 'import secrets;print(secrets.token_urlsafe(50))') \
	  MEDOA_ALLOWED_HOSTS=medoa.example.org $(VENV)/bin/medoa manage check --deploy --fail-level WARNING

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) bench/web.py

clean:
	rm -rf $(VENV) node_modules medoa/web/static/vendor
