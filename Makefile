# The README's commands. Everything installs into .venv with the machine's Python 3.11.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Local demo settings: DEBUG on and a throwaway key. Never use these in production.
# The demo admin signs in with the password alone; with DEBUG off this variable is refused (config/settings.py).
DEMO_ENV := DEBUG=true SECRET_KEY=local-demo-only-not-secret TWO_FACTOR_REQUIRED_FOR_ADMINISTRATORS=false

.PHONY: run test e2e bench lint install install-dev migrate demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(DEMO_ENV) $(BIN)/python manage.py migrate --no-input
	$(DEMO_ENV) $(BIN)/python manage.py createcachetable

demo: migrate
	$(DEMO_ENV) $(BIN)/python manage.py setup_roles
	$(DEMO_ENV) $(BIN)/python manage.py load_guidance_content
	$(DEMO_ENV) $(BIN)/python manage.py seed_demo
	$(DEMO_ENV) $(BIN)/python manage.py seed_demo_results

## make run: install, migrate, load reference data and a demo, serve on http://127.0.0.1:8000 and
## listen for laboratory results (HL7 v2 over MLLP) on 127.0.0.1:2575 and run the background worker (uploads' imports); the Procfile lists all three.
run: demo
	@echo "Myolab is starting on http://127.0.0.1:8000 (log in with a demo account above), with the HL7 listener on 127.0.0.1:2575 and the background worker; Ctrl-C stops them"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(DEMO_ENV) $(BIN)/honcho start

## make test: install test dependencies and run the test suite (DATABASE_URL picks the database)
test: install-dev
	$(BIN)/python -m pytest -q -m "not e2e" -p no:cacheprovider

## make e2e: browser journeys and accessibility checks in Debian's headless Chromium (/usr/bin/chromium)
# Playwright's sync API runs an event loop in the test thread, which Django's ORM would otherwise refuse.
e2e: install-dev
	DJANGO_ALLOW_ASYNC_UNSAFE=true $(BIN)/python -m pytest -q -m e2e tests/e2e -p no:cacheprovider

## make bench: load benchmark under gunicorn against PostgreSQL with 2,000,000 results (README: Performance)
# BENCH_DATABASE_URL picks the database (default postgres://postgres@127.0.0.1:5432/myolab_bench).
bench: install-dev
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	$(BIN)/python benchmarks/run.py

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run --settings=config.settings_test

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles test-artefacts
