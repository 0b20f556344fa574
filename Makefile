# nyxsync: `make run` runs it, `make test` tests it. Both set up .venv first (once).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# Re-install only when the requirements change.
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-12)
VENDOR := nyxsync/static/nyxsync/vendor
VENDORED := $(VENDOR)/uplot/uPlot.iife.min.js

.PHONY: run test install test-packages lint check bench services-status services-stop clean

# A checkout on its embedded services is a development install: `make run` and every
# `manage.py` command beside it share the same settings (nyxsync/settings/base.py).
run: install
	$(PY) manage.py run

test: install test-packages
	$(PY) -m pytest

install: $(STAMP) $(VENDORED)

# Browser libraries are served from our own static files (no CDN: the pages' Content-Security-
# Policy allows scripts from 'self' only). npm fetches the versions package-lock.json pins (and
# checks their integrity); the files the pages use are copied, with their licence, into
# nyxsync/static/nyxsync/vendor/ (not committed).
$(VENDORED): package.json package-lock.json
	@command -v npm >/dev/null || { echo "Installing Debian's npm (for the pages' vendored chart library)..."; \
		(apt-get update -qq && apt-get install -y -qq npm >/dev/null) || \
		(sudo apt-get update -qq && sudo apt-get install -y -qq npm >/dev/null) || \
		{ echo "npm is missing and could not be installed: install Debian's npm, then run make install again"; exit 1; }; }
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@mkdir -p $(VENDOR)/uplot
	cp node_modules/uplot/LICENSE node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css $(VENDOR)/uplot/
	@touch $@

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing dependencies into $(VENV) (once; about a minute)..."
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@echo "Building the int8 ONNX model from the bundled weights (once per version; about 20 s)..."
	$(PY) -m embeddings.backends.onnx_build
	@rm -f $(VENV)/.installed-*
	@touch $@

# Debian packages the tests need: chromium for the browser tests (Playwright drives it; no browser
# download), binutils, whose objdump reads the embedded PostgreSQL's machine code, and qemu-user,
# whose emulated AVX2-only CPU runs the int8 models (tests/embeddings/test_backends.py).
test-packages:
	@missing=""; command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v objdump >/dev/null || missing="$$missing binutils"; \
	command -v qemu-x86_64 >/dev/null || missing="$$missing qemu-user"; \
	if [ -n "$$missing" ]; then echo "Installing Debian's$$missing..."; \
		(apt-get update -qq && apt-get install -y -qq $$missing >/dev/null) || \
		(sudo apt-get update -qq && sudo apt-get install -y -qq $$missing >/dev/null); fi

# Lint reads the code and starts no server: the system checks, migrations missing on disk (the
# history check of a database is skipped: nothing listens on port 1), and the deployment check
# with production settings and throwaway secrets. `manage.py check --database default` checks a
# running database's row-level security (tests/tenancy/test_rls.py runs that check).
NOWHERE := DATABASE_URL=postgres://lint@127.0.0.1:1/lint REDIS_URL=redis://127.0.0.1:1/0
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache
	$(PY) manage.py check
	$(NOWHERE) $(PY) -W "ignore:Got an error checking a consistent migration history" manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=nyxsync.settings.production \
	SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	NYXSYNC_ENCRYPTION_KEYS="$$($(PY) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
	$(NOWHERE) ALLOWED_HOSTS=nyxsync.example.com \
	$(PY) manage.py check --deploy --fail-level WARNING

bench: install
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

services-status: install
	$(PY) -m nyxsync.embedded status

services-stop: install
	$(PY) -m nyxsync.embedded stop

clean:
	rm -rf $(VENV) staticfiles .pytest_cache node_modules $(VENDOR)
